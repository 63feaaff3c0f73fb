"""attachments on every step; sync for phones: change stamps and departures

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-03 16:30:00

Any transition and any reply to a 批示 may carry photos and files (PDF, Word, Excel):
`attachments`, uploaded first and then named by the step, whose event they point to.

A phone keeps its lists of findings, inspection tasks and inspections current with small
requests (README "Sync for phones"). Every row of those tables carries the id of the
transaction that last wrote it and when (`change_xid`, `changed_at`), set by a trigger on
every insert and update, so no writer (the intake's database function, the sweep, hand
written SQL) can leave them stale. A sync compares `change_xid` with the snapshot of the
previous one, which is exact whatever order the writers commit in (services/core/sync/rules.py).

A row that leaves someone's view is recorded in `sync_departures` by a trigger: a finding's
responsible unit or place changed (the unit it left), an inspection task was given to another
inspector (the one it left); the sync reports it as removed to a caller who can no longer see it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNCED = ("findings", "inspection_tasks", "inspections")
CURRENT_XID = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("finding_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('photo', 'file')", name=op.f("ck_attachments_kind")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_attachments_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_attachments_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_attachments_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_finding", "attachments", ["finding_id", "uploaded_by_id"])
    op.create_index("ix_attachments_event", "attachments", ["event_id"])
    op.execute(
        f"""
        CREATE FUNCTION sync_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_xid := {CURRENT_XID};
            NEW.changed_at := now();
            RETURN NEW;
        END $$
        """
    )
    for table in SYNCED:
        # Existing rows: 0 is before every snapshot, so they count as already synced.
        op.add_column(
            table, sa.Column("change_xid", sa.BigInteger(), server_default="0", nullable=False)
        )
        op.add_column(
            table,
            sa.Column(
                "changed_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("now()"),
                nullable=False,
            ),
        )
        op.create_index(f"ix_{table}_change", table, ["change_xid", "id"])
        op.execute(
            f"CREATE TRIGGER {table}_sync_stamp BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION sync_stamp()"
        )
    op.create_table(
        "sync_departures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("finding_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "change_xid", sa.BigInteger(), server_default=sa.text(CURRENT_XID), nullable=False
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_departures")),
    )
    op.create_index("ix_sync_departures_change", "sync_departures", ["change_xid"])
    op.execute(
        """
        CREATE FUNCTION finding_departed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.responsible_unit_id IS NOT NULL
               AND OLD.responsible_unit_id IS DISTINCT FROM NEW.responsible_unit_id THEN
                INSERT INTO sync_departures (finding_id, unit_id)
                VALUES (OLD.id, OLD.responsible_unit_id);
            END IF;
            IF OLD.place_unit_id IS NOT NULL
               AND OLD.place_unit_id IS DISTINCT FROM NEW.place_unit_id THEN
                INSERT INTO sync_departures (finding_id, unit_id) VALUES (OLD.id, OLD.place_unit_id);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER findings_departed AFTER UPDATE OF responsible_unit_id, place_unit_id "
        "ON findings FOR EACH ROW EXECUTE FUNCTION finding_departed()"
    )
    op.execute(
        """
        CREATE FUNCTION task_departed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.assignee_id IS NOT NULL AND OLD.assignee_id IS DISTINCT FROM NEW.assignee_id
            THEN
                INSERT INTO sync_departures (task_id, user_id) VALUES (OLD.id, OLD.assignee_id);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER inspection_tasks_departed AFTER UPDATE OF assignee_id "
        "ON inspection_tasks FOR EACH ROW EXECUTE FUNCTION task_departed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER inspection_tasks_departed ON inspection_tasks")
    op.execute("DROP FUNCTION task_departed()")
    op.execute("DROP TRIGGER findings_departed ON findings")
    op.execute("DROP FUNCTION finding_departed()")
    op.drop_index("ix_sync_departures_change", table_name="sync_departures")
    op.drop_table("sync_departures")
    for table in SYNCED:
        op.execute(f"DROP TRIGGER {table}_sync_stamp ON {table}")
        op.drop_index(f"ix_{table}_change", table_name=table)
        op.drop_column(table, "changed_at")
        op.drop_column(table, "change_xid")
    op.execute("DROP FUNCTION sync_stamp()")
    op.drop_index("ix_attachments_event", table_name="attachments")
    op.drop_index("ix_attachments_finding", table_name="attachments")
    op.drop_table("attachments")
