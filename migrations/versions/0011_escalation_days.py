"""escalation days: the unit statistics read a per-day roll-up of fired escalations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 19:00:00

GET /stats/units counted every escalation ever fired on each request: at 1M findings a scan
and hash of ~110k rows, 70 ms of PostgreSQL CPU, beside the pass over the open findings
(bench/ANALYSIS.md §10). An escalation's unit, level, source and firing time never change
once it is fired, so, as with `closed_finding_days` (0008), each one is counted once, per
day (at UTC+8), responsible unit, level and exposure flag, by triggers in the transaction
that writes it, whoever writes it; the statistics read the whole days from here and the
partial days at a window's ends from the rows.

Only the escalation sweep inserts escalations, a batch per statement: the insert trigger is
per statement and adds the batch's counts in one upsert. Two workers' batches must never
wait on each other's rows of the day (a worker frozen in the middle of a batch would stop
the other): each transaction claims one of 16 stripes with a transaction-level advisory lock
(`escalation_days_stripe`, lock space (11, stripe)) and writes only to its own. Only when
all 16 are held does a writer wait for one. Reports never touch this table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns an escalation's contribution depends on.
COUNTED = "fired_at, responsible_unit_id, level, source"

# The stripe this transaction writes to: the first free one from its transaction id on,
# claimed until it ends and remembered in a transaction-local setting.
STRIPE = """
CREATE FUNCTION escalation_days_stripe() RETURNS smallint LANGUAGE plpgsql AS $$
DECLARE
    held text := current_setting('duban.escalation_days_stripe', true);
    first integer := (txid_current() % 16)::integer;
    s integer;
BEGIN
    IF held IS NOT NULL AND held <> '' THEN
        RETURN held::smallint;
    END IF;
    FOR i IN 0..15 LOOP
        s := (first + i) % 16;
        IF pg_try_advisory_xact_lock(11, s) THEN
            PERFORM set_config('duban.escalation_days_stripe', s::text, true);
            RETURN s;
        END IF;
    END LOOP;
    PERFORM pg_advisory_xact_lock(11, first);
    PERFORM set_config('duban.escalation_days_stripe', first::text, true);
    RETURN first;
END $$
"""

ADD = """
CREATE FUNCTION escalation_days_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mine smallint := escalation_days_stripe();
BEGIN
    INSERT INTO escalation_days AS d (day, responsible_unit_id, level, exposure, stripe,
                                      escalations)
    SELECT ((fired_at AT TIME ZONE 'UTC') + interval '8 hours')::date, responsible_unit_id,
           level, source = 'exposure_video', mine, count(*)
    FROM fired
    WHERE responsible_unit_id IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, responsible_unit_id, level, exposure, stripe) DO UPDATE SET
        escalations = d.escalations + excluded.escalations;
    RETURN NULL;
END $$
"""

# A correction or a deletion in SQL (an operator, a test): row by row, both signs.
CORRECT = """
CREATE FUNCTION escalation_days_correct() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
    sign integer;
BEGIN
    FOREACH sign IN ARRAY ARRAY[-1, 1] LOOP
        IF sign < 0 THEN
            e := OLD;
        ELSE
            CONTINUE WHEN TG_OP = 'DELETE';
            e := NEW;
        END IF;
        CONTINUE WHEN e.responsible_unit_id IS NULL;
        INSERT INTO escalation_days AS d (day, responsible_unit_id, level, exposure, stripe,
                                          escalations)
        VALUES (((e.fired_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
                e.responsible_unit_id, e.level, e.source = 'exposure_video',
                escalation_days_stripe(), sign)
        ON CONFLICT (day, responsible_unit_id, level, exposure, stripe) DO UPDATE SET
            escalations = d.escalations + excluded.escalations;
    END LOOP;
    RETURN NULL;
END $$
"""

TRUNCATE = """
CREATE FUNCTION escalation_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE escalation_days;
    RETURN NULL;
END $$
"""


def _cols(row: str) -> str:
    return ", ".join(f"{row}.{c.strip()}" for c in COUNTED.split(","))


def upgrade() -> None:
    op.create_table(
        "escalation_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("exposure", sa.Boolean(), nullable=False),
        sa.Column("stripe", sa.SmallInteger(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "responsible_unit_id",
            "level",
            "exposure",
            "stripe",
            name=op.f("pk_escalation_days"),
        ),
    )
    # No escalation may slip in between the backfill and the triggers.
    op.execute("LOCK TABLE escalations IN SHARE ROW EXCLUSIVE MODE")
    op.execute(STRIPE)
    op.execute(ADD)
    op.execute(CORRECT)
    op.execute(TRUNCATE)
    op.execute(
        "CREATE TRIGGER escalation_days_insert AFTER INSERT ON escalations"
        " REFERENCING NEW TABLE AS fired FOR EACH STATEMENT"
        " EXECUTE FUNCTION escalation_days_add()"
    )
    op.execute(
        "CREATE TRIGGER escalation_days_update AFTER UPDATE ON escalations FOR EACH ROW"
        f" WHEN (({_cols('OLD')}) IS DISTINCT FROM ({_cols('NEW')}))"
        " EXECUTE FUNCTION escalation_days_correct()"
    )
    op.execute(
        "CREATE TRIGGER escalation_days_delete AFTER DELETE ON escalations FOR EACH ROW"
        " EXECUTE FUNCTION escalation_days_correct()"
    )
    op.execute(
        "CREATE TRIGGER escalation_days_truncate AFTER TRUNCATE ON escalations"
        " FOR EACH STATEMENT EXECUTE FUNCTION escalation_days_truncate()"
    )
    op.execute(
        """
        INSERT INTO escalation_days
            (day, responsible_unit_id, level, exposure, stripe, escalations)
        SELECT ((fired_at AT TIME ZONE 'UTC') + interval '8 hours')::date, responsible_unit_id,
               level, source = 'exposure_video', 0, count(*)
        FROM escalations WHERE responsible_unit_id IS NOT NULL
        GROUP BY 1, 2, 3, 4
        """
    )


def downgrade() -> None:
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER escalation_days_{trigger} ON escalations")
    op.execute("DROP FUNCTION escalation_days_truncate()")
    op.execute("DROP FUNCTION escalation_days_correct()")
    op.execute("DROP FUNCTION escalation_days_add()")
    op.execute("DROP FUNCTION escalation_days_stripe()")
    op.drop_table("escalation_days")
