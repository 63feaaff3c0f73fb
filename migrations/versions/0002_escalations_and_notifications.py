"""escalations and notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:50:31.354260
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ["inbox", "webhook"]


def _level(level: int, target: str, working_days: int) -> dict[str, object]:
    return {
        "level": level,
        "target": target,
        "after": {"working_days": working_days},
        "channels": CHANNELS,
    }


DEFAULT_POLICIES = [
    {
        "code": "default",
        "name": "默认督办阶梯 / default ladder",
        "reminder_at": 0.8,
        "levels": [
            _level(1, "unit_head", 0),
            _level(2, "district_head", 2),
            _level(3, "city_leader", 5),
            _level(4, "discipline_commission", 10),
        ],
    },
    {
        "code": "exposure_video",
        "name": "曝光片督办阶梯 / exposure-video ladder",
        "reminder_at": 0.8,
        "levels": [
            _level(2, "district_head", 0),
            _level(3, "city_leader", 2),
            _level(4, "discipline_commission", 5),
        ],
    },
]


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reminder_at", sa.Double(), nullable=True),
        sa.Column("levels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reminder_at IS NULL OR (reminder_at > 0 AND reminder_at < 1)",
            name=op.f("ck_escalation_policies_reminder_at"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.UniqueConstraint("code", name=op.f("uq_escalation_policies_code")),
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("target_person_id", sa.Integer(), nullable=True),
        sa.Column("target_name", sa.String(length=100), nullable=True),
        sa.Column("target_title", sa.String(length=200), nullable=True),
        sa.Column("target_unit_id", sa.Integer(), nullable=False),
        sa.Column("target_unit_name", sa.String(length=200), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("instruction", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "reason IN ('overdue', 'vacant_post')", name=op.f("ck_escalations_reason")
        ),
        sa.CheckConstraint(
            "target IN ('unit_head', 'district_head', 'city_leader', 'discipline_commission')",
            name=op.f("ck_escalations_target"),
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["users.id"],
            name=op.f("fk_escalations_acknowledged_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["units.id"], name=op.f("fk_escalations_district_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_escalations_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"],
            ["units.id"],
            name=op.f("fk_escalations_responsible_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["target_person_id"], ["people.id"], name=op.f("fk_escalations_target_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["target_unit_id"], ["units.id"], name=op.f("fk_escalations_target_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("finding_id", "level", name="uq_escalations_finding_level"),
    )
    op.create_index(
        "ix_escalations_district_fired",
        "escalations",
        ["district_id", "fired_at", "id"],
        unique=False,
    )
    op.create_index("ix_escalations_fired", "escalations", ["fired_at", "id"], unique=False)
    op.create_index(
        "ix_escalations_target_person_fired",
        "escalations",
        ["target_person_id", "fired_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_escalations_unit_fired",
        "escalations",
        ["responsible_unit_id", "fired_at", "id"],
        unique=False,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("escalation_id", sa.BigInteger(), nullable=True),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("recipient_person_id", sa.Integer(), nullable=True),
        sa.Column("recipient_unit_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('inbox', 'webhook')", name=op.f("ck_notifications_channel")
        ),
        sa.CheckConstraint(
            "kind IN ('escalation', 'reminder')", name=op.f("ck_notifications_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notifications_status")
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_notifications_escalation_id_escalations"),
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_notifications_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_person_id"],
            ["people.id"],
            name=op.f("fk_notifications_recipient_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_unit_id"],
            ["units.id"],
            name=op.f("fk_notifications_recipient_unit_id_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index(
        op.f("ix_notifications_escalation_id"), "notifications", ["escalation_id"], unique=False
    )
    op.create_index(
        op.f("ix_notifications_finding_id"), "notifications", ["finding_id"], unique=False
    )
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND channel <> 'inbox'"),
    )
    op.create_index(
        "ix_notifications_person_created",
        "notifications",
        ["recipient_person_id", "id"],
        unique=False,
    )
    op.add_column("findings", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("people", sa.Column("webhook_url", sa.String(length=500), nullable=True))
    op.add_column("units", sa.Column("webhook_url", sa.String(length=500), nullable=True))
    # The ladders of DESIGN §6 are part of the product, not of the demo: every installation
    # starts with them, and admins edit them through the API.
    policies = sa.table(
        "escalation_policies",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("reminder_at", sa.Double),
        sa.column("levels", postgresql.JSONB),
    )
    op.bulk_insert(policies, DEFAULT_POLICIES)


def downgrade() -> None:
    op.drop_column("units", "webhook_url")
    op.drop_column("people", "webhook_url")
    op.drop_column("findings", "reminded_at")
    op.drop_index("ix_notifications_person_created", table_name="notifications")
    op.drop_index(
        "ix_notifications_pending",
        table_name="notifications",
        postgresql_where=sa.text("status = 'pending' AND channel <> 'inbox'"),
    )
    op.drop_index(op.f("ix_notifications_finding_id"), table_name="notifications")
    op.drop_index(op.f("ix_notifications_escalation_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_escalations_unit_fired", table_name="escalations")
    op.drop_index("ix_escalations_target_person_fired", table_name="escalations")
    op.drop_index("ix_escalations_fired", table_name="escalations")
    op.drop_index("ix_escalations_district_fired", table_name="escalations")
    op.drop_table("escalations")
    op.drop_table("escalation_policies")
