"""closed finding days: the unit statistics read a per-day roll-up of closed findings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

A closed finding never changes again, so its contribution to the statistics is final: it is
counted once, in `closed_finding_days`, by a trigger on `findings`, in the transaction that
closes it (or inserts it closed, or deletes it). Whoever writes (the API, the worker, a bulk
load, a DBA in psql) the roll-up stays exactly equal to the rows. The statistics add the
open findings live, from a partial index that holds only them, and read the raw rows of the
partial days at the ends of a window. Day buckets are days at UTC+8 (the city's day; China
keeps one offset all year), independent of any setting.

Only closing transitions (and a later correction of a closed row) touch the roll-up:
reports and the escalation sweep write open findings, where the trigger's WHEN clause is
false, so they pay nothing and never wait on a roll-up row.

The covering index of 0004 over every finding is replaced by the open-findings one (also
ordered by due_at, as the map reads them) and a small one over exposure-video findings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINDING_STATS_COLUMNS = [
    "responsible_unit_id",
    "source",
    "status",
    "close_reason",
    "due_at",
    "submitted_at",
    "rework_count",
    "recurrence_of",
]
OPEN_COLUMNS = [
    "reported_at",
    "responsible_unit_id",
    "source",
    "status",
    "rework_count",
    "recurrence_of",
]
# The columns a closed finding's contribution depends on: an update of a closed row that
# changes none of them leaves the roll-up alone.
COUNTED = (
    "status, close_reason, responsible_unit_id, source, reported_at, submitted_at, due_at, "
    "rework_count, recurrence_of"
)

COUNT = """
CREATE FUNCTION closed_finding_days_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    f record;
    sign integer;
BEGIN
    FOREACH sign IN ARRAY ARRAY[-1, 1] LOOP
        IF sign < 0 THEN
            CONTINUE WHEN TG_OP = 'INSERT' OR OLD.status <> 'closed';
            f := OLD;
        ELSE
            CONTINUE WHEN TG_OP = 'DELETE' OR NEW.status <> 'closed';
            f := NEW;
        END IF;
        INSERT INTO closed_finding_days AS d
            (day, responsible_unit_id, exposure, close_reason, findings, on_time, rework,
             recurrences)
        VALUES (
            ((f.reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
            coalesce(f.responsible_unit_id, 0),
            f.source = 'exposure_video',
            f.close_reason,
            sign,
            sign * (f.close_reason = 'rectified' AND coalesce(f.submitted_at <= f.due_at, false))::int,
            sign * (f.rework_count > 0)::int,
            sign * (f.recurrence_of IS NOT NULL)::int
        )
        ON CONFLICT (day, responsible_unit_id, exposure, close_reason) DO UPDATE SET
            findings = d.findings + excluded.findings,
            on_time = d.on_time + excluded.on_time,
            rework = d.rework + excluded.rework,
            recurrences = d.recurrences + excluded.recurrences;
    END LOOP;
    RETURN NULL;
END $$
"""

# Also for bulk loads: disable closed_finding_days_insert, load, rebuild, enable, in one
# transaction (bench/datagen.py does), instead of one trigger call per closed row.
REBUILD = """
CREATE FUNCTION closed_finding_days_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM closed_finding_days;
    INSERT INTO closed_finding_days
        (day, responsible_unit_id, exposure, close_reason, findings, on_time, rework,
         recurrences)
    SELECT ((reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
           coalesce(responsible_unit_id, 0), source = 'exposure_video', close_reason, count(*),
           count(*) FILTER (WHERE close_reason = 'rectified' AND submitted_at <= due_at),
           count(*) FILTER (WHERE rework_count > 0),
           count(*) FILTER (WHERE recurrence_of IS NOT NULL)
    FROM findings WHERE status = 'closed'
    GROUP BY 1, 2, 3, 4
$$
"""


def upgrade() -> None:
    op.create_table(
        "closed_finding_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=False),
        sa.Column("exposure", sa.Boolean(), nullable=False),
        sa.Column("close_reason", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("rework", sa.Integer(), nullable=False),
        sa.Column("recurrences", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "responsible_unit_id",
            "exposure",
            "close_reason",
            name=op.f("pk_closed_finding_days"),
        ),
    )
    # Lock out writers while the backfill reads, so no closing slips between it and the
    # trigger.
    op.execute("LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE")
    op.execute(COUNT)
    op.execute(
        "CREATE TRIGGER closed_finding_days_insert AFTER INSERT ON findings FOR EACH ROW"
        " WHEN (NEW.status = 'closed') EXECUTE FUNCTION closed_finding_days_count()"
    )
    op.execute(
        "CREATE TRIGGER closed_finding_days_update AFTER UPDATE ON findings FOR EACH ROW"
        f" WHEN ((OLD.status = 'closed' OR NEW.status = 'closed') AND ({_cols('OLD')})"
        f" IS DISTINCT FROM ({_cols('NEW')})) EXECUTE FUNCTION closed_finding_days_count()"
    )
    op.execute(
        "CREATE TRIGGER closed_finding_days_delete AFTER DELETE ON findings FOR EACH ROW"
        " WHEN (OLD.status = 'closed') EXECUTE FUNCTION closed_finding_days_count()"
    )
    # TRUNCATE fires no row trigger: empty the roll-up with the table.
    op.execute(
        """
        CREATE FUNCTION closed_finding_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE closed_finding_days;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER closed_finding_days_truncate AFTER TRUNCATE ON findings"
        " FOR EACH STATEMENT EXECUTE FUNCTION closed_finding_days_truncate()"
    )
    op.execute(REBUILD)
    op.execute("SELECT closed_finding_days_rebuild()")

    op.create_index(
        "ix_findings_open",
        "findings",
        ["due_at", "id"],
        unique=False,
        postgresql_include=OPEN_COLUMNS,
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_index(
        "ix_findings_exposure",
        "findings",
        ["district_id"],
        unique=False,
        postgresql_include=["close_reason"],
        postgresql_where=sa.text("source = 'exposure_video'"),
    )
    op.drop_index("ix_findings_stats", table_name="findings")


def _cols(row: str) -> str:
    return ", ".join(f"{row}.{c.strip()}" for c in COUNTED.split(","))


def downgrade() -> None:
    op.create_index(
        "ix_findings_stats",
        "findings",
        ["reported_at"],
        unique=False,
        postgresql_include=FINDING_STATS_COLUMNS,
    )
    op.drop_index("ix_findings_exposure", table_name="findings")
    op.drop_index("ix_findings_open", table_name="findings")
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER closed_finding_days_{trigger} ON findings")
    op.execute("DROP FUNCTION closed_finding_days_rebuild()")
    op.execute("DROP FUNCTION closed_finding_days_truncate()")
    op.execute("DROP FUNCTION closed_finding_days_count()")
    op.drop_table("closed_finding_days")
