"""open finding days: the unit statistics read a per-day roll-up of open findings too

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 03:30:00

GET /stats/units read every open finding on each request: at 1M findings (235,000 open) a
parallel scan of `ix_findings_open` of 110-170 ms, most of the request, and the target of
200 ms was missed in one full run of two on the same code (bench/ANALYSIS.md §13). The
roll-up is read in ~4 ms (8,780 rows), and the one figure that depends on the time of the
request, the overdue count, is the `due_at` range of the same index (~27 ms, 25,500 rows).

An open finding changes (it is reported, moved, reworked, closed), so unlike
`closed_finding_days` (0008) its row in the roll-up would be written by every report:
concurrent reports for one unit and day would wait on each other's row until commit. So a
trigger appends each change as a row of its own to `open_finding_changes`, a write that never
waits on another, and the worker folds the changes into `open_finding_days` every few
seconds (`open_finding_days_fold`, one folder at a time). The statistics read both: a
finding is counted once whether its change is folded yet or not.

Only what an open finding is counted by matters (its day, responsible unit, exposure flag,
rework and recurrence flags, and whether it is open): the sweep's updates change none of it,
so the update trigger's WHEN clause is false for them and they pay nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What an open finding's contribution depends on, besides whether it is open.
COUNTED = (
    "reported_at, responsible_unit_id, source = 'exposure_video', rework_count > 0, "
    "recurrence_of IS NULL"
)

CHANGE = """
CREATE FUNCTION open_finding_days_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f record;
    sign integer;
BEGIN
    FOREACH sign IN ARRAY ARRAY[-1, 1] LOOP
        IF sign < 0 THEN
            CONTINUE WHEN TG_OP = 'INSERT' OR OLD.status = 'closed';
            f := OLD;
        ELSE
            CONTINUE WHEN TG_OP = 'DELETE' OR NEW.status = 'closed';
            f := NEW;
        END IF;
        INSERT INTO open_finding_changes
            (day, responsible_unit_id, exposure, findings, rework, recurrences)
        VALUES (
            ((f.reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
            coalesce(f.responsible_unit_id, 0),
            f.source = 'exposure_video',
            sign,
            sign * (f.rework_count > 0)::int,
            sign * (f.recurrence_of IS NOT NULL)::int
        );
    END LOOP;
    RETURN NULL;
END $$
"""

# The changes so far, moved into the roll-up in one statement: a reader sees them either
# still as changes or already folded, never both or neither. One folder at a time (advisory
# lock (12, 0)); another returns 0 at once, the running one folds for both.
FOLD = """
CREATE FUNCTION open_finding_days_fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(12, 0) THEN
        RETURN 0;
    END IF;
    WITH gone AS (
        DELETE FROM open_finding_changes
        RETURNING day, responsible_unit_id, exposure, findings, rework, recurrences
    ), summed AS (
        SELECT day, responsible_unit_id, exposure, sum(findings)::int AS findings,
               sum(rework)::int AS rework, sum(recurrences)::int AS recurrences,
               count(*) AS changes
        FROM gone GROUP BY 1, 2, 3
    ), folded AS (
        INSERT INTO open_finding_days AS d
            (day, responsible_unit_id, exposure, findings, rework, recurrences)
        SELECT day, responsible_unit_id, exposure, findings, rework, recurrences
        FROM summed ORDER BY 1, 2, 3
        ON CONFLICT (day, responsible_unit_id, exposure) DO UPDATE SET
            findings = d.findings + excluded.findings,
            rework = d.rework + excluded.rework,
            recurrences = d.recurrences + excluded.recurrences
    )
    SELECT coalesce(sum(changes), 0) INTO moved FROM summed;
    -- A day whose findings were all closed counts nothing any more.
    DELETE FROM open_finding_days WHERE (findings, rework, recurrences) = (0, 0, 0);
    RETURN moved;
END $$
"""

# Also for bulk loads: disable open_finding_days_insert, load, rebuild, enable, in one
# transaction (bench/datagen.py does), instead of one trigger call per open row.
REBUILD = """
CREATE FUNCTION open_finding_days_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM open_finding_changes;
    DELETE FROM open_finding_days;
    INSERT INTO open_finding_days
        (day, responsible_unit_id, exposure, findings, rework, recurrences)
    SELECT ((reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
           coalesce(responsible_unit_id, 0), source = 'exposure_video', count(*),
           count(*) FILTER (WHERE rework_count > 0),
           count(*) FILTER (WHERE recurrence_of IS NOT NULL)
    FROM findings WHERE status <> 'closed'
    GROUP BY 1, 2, 3
$$
"""

TRUNCATE = """
CREATE FUNCTION open_finding_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE open_finding_changes, open_finding_days;
    RETURN NULL;
END $$
"""


def _cols(row: str) -> str:
    return ", ".join(f"{row}.{c.strip()}" for c in COUNTED.split(","))


def _counts() -> list[sa.Column[object]]:
    return [
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=False),
        sa.Column("exposure", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("rework", sa.Integer(), nullable=False),
        sa.Column("recurrences", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "open_finding_days",
        *_counts(),
        sa.PrimaryKeyConstraint(
            "day", "responsible_unit_id", "exposure", name=op.f("pk_open_finding_days")
        ),
    )
    op.create_table(
        "open_finding_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_finding_changes")),
    )
    # No report may slip in between the backfill and the triggers.
    op.execute("LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE")
    op.execute(CHANGE)
    op.execute(FOLD)
    op.execute(REBUILD)
    op.execute(TRUNCATE)
    op.execute(
        "CREATE TRIGGER open_finding_days_insert AFTER INSERT ON findings FOR EACH ROW"
        " WHEN (NEW.status <> 'closed') EXECUTE FUNCTION open_finding_days_change()"
    )
    op.execute(
        "CREATE TRIGGER open_finding_days_update AFTER UPDATE ON findings FOR EACH ROW"
        " WHEN ((OLD.status <> 'closed' OR NEW.status <> 'closed')"
        " AND ((OLD.status = 'closed') <> (NEW.status = 'closed')"
        f" OR ({_cols('OLD')}) IS DISTINCT FROM ({_cols('NEW')})))"
        " EXECUTE FUNCTION open_finding_days_change()"
    )
    op.execute(
        "CREATE TRIGGER open_finding_days_delete AFTER DELETE ON findings FOR EACH ROW"
        " WHEN (OLD.status <> 'closed') EXECUTE FUNCTION open_finding_days_change()"
    )
    op.execute(
        "CREATE TRIGGER open_finding_days_truncate AFTER TRUNCATE ON findings"
        " FOR EACH STATEMENT EXECUTE FUNCTION open_finding_days_truncate()"
    )
    op.execute("SELECT open_finding_days_rebuild()")


def downgrade() -> None:
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER open_finding_days_{trigger} ON findings")
    for function in ("change", "fold", "rebuild", "truncate"):
        op.execute(f"DROP FUNCTION open_finding_days_{function}()")
    op.drop_table("open_finding_changes")
    op.drop_table("open_finding_days")
