"""suspension (挂账) with approval, a sign-for deadline (签收时限), urgent time limits

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 16:30:00

A finding may be suspended: the status `suspended` (the rectification clock and the ladder
stop), with a `suspensions` row per request holding the reason, the expected date, the
decision and, once it ended, by how much the deadline moved. Categories get an urgent time
limit and a sign-for deadline; findings the marks of the sign-for reminder and escalation.
The outbox gets two kinds of notice: `sign_for` and `suspension`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('reported', 'assigned', 'accepted', 'submitted', 'closed')"
STATUSES = "status IN ('reported', 'assigned', 'accepted', 'submitted', 'suspended', 'closed')"
OLD_KINDS = (
    "kind IN ('escalation', 'reminder', 'digest', 'undelivered', 'task_reminder', "
    "'task_escalation')"
)
KINDS = (
    "kind IN ('escalation', 'reminder', 'digest', 'undelivered', 'task_reminder', "
    "'task_escalation', 'sign_for', 'suspension')"
)
REASONS = (
    "reason IN ('funding', 'planning_approval', 'seasonal', 'legal_process', 'relocation', 'other')"
)


def upgrade() -> None:
    op.drop_constraint(op.f("ck_findings_status"), "findings", type_="check")
    op.create_check_constraint(op.f("ck_findings_status"), "findings", STATUSES)
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", KINDS)
    op.add_column(
        "categories",
        sa.Column("urgent_time_limit", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "categories",
        sa.Column("accept_within", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "findings", sa.Column("accept_reminded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "findings", sa.Column("accept_escalated_at", sa.DateTime(timezone=True), nullable=True)
    )
    _timestamp = sa.DateTime(timezone=True)
    op.create_table(
        "suspensions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("expected_until", _timestamp, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", _timestamp, nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", _timestamp, nullable=True),
        sa.Column("resume_status", sa.String(length=16), nullable=True),
        sa.Column("started_at", _timestamp, nullable=True),
        sa.Column("reminded_at", _timestamp, nullable=True),
        sa.Column("ended_at", _timestamp, nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("previous_due_at", _timestamp, nullable=True),
        sa.Column("resumed_due_at", _timestamp, nullable=True),
        sa.CheckConstraint(REASONS, name=op.f("ck_suspensions_reason")),
        sa.CheckConstraint(
            "state IN ('requested', 'refused', 'lapsed', 'active', 'ended')",
            name=op.f("ck_suspensions_state"),
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_suspensions_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"],
            ["units.id"],
            name=op.f("fk_suspensions_responsible_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_suspensions_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_suspensions_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_id"], ["users.id"], name=op.f("fk_suspensions_ended_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
    )
    op.create_index(op.f("ix_suspensions_finding_id"), "suspensions", ["finding_id"])
    op.create_index(
        "uq_suspensions_open",
        "suspensions",
        ["finding_id"],
        unique=True,
        postgresql_where=sa.text("state IN ('requested', 'active')"),
    )
    op.create_index(
        "ix_suspensions_active_until",
        "suspensions",
        ["expected_until"],
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "ix_suspensions_unit_started", "suspensions", ["responsible_unit_id", "started_at"]
    )


def downgrade() -> None:
    # A suspended finding goes back to where its clock ran before the constraint narrows.
    op.execute(
        "UPDATE findings f SET status = coalesce(s.resume_status, 'accepted') FROM suspensions s"
        " WHERE s.finding_id = f.id AND s.state = 'active' AND f.status = 'suspended'"
    )
    op.drop_table("suspensions")
    op.drop_column("findings", "accept_escalated_at")
    op.drop_column("findings", "accept_reminded_at")
    op.drop_column("categories", "accept_within")
    op.drop_column("categories", "urgent_time_limit")
    op.execute("DELETE FROM notifications WHERE kind IN ('sign_for', 'suspension')")
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", OLD_KINDS)
    op.drop_constraint(op.f("ck_findings_status"), "findings", type_="check")
    op.create_check_constraint(op.f("ck_findings_status"), "findings", OLD_STATUSES)
