"""channels and receipts: contact points, fallback chains, delivery attempts, signed links

Revision ID: 0018
Revises: 0016 (0015 once merged)
Create Date: 2026-12-05 09:00:00

Leaders are reached where they read: DingTalk and WeCom group robots, email and SMS, each a
`contact_points` row of a person or a unit (its work group), tried in `position` order. A
message to one recipient is a chain of outbox rows (`chain`, `rank`): the first is pending,
the others wait on `standby` until the one before fails. Every try is a
`notification_attempts` row, written before the provider is called and finished with its
answer, so a worker that dies while sending leaves the message visibly in doubt instead of
sending it twice. A row records when its signed link was first opened and when it was used to
acknowledge. Inbox rows can be pending too now (held to working hours), so the pending index
covers every channel. The two seeded ladders, still as installed, gain the new channels.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('pending', 'sent', 'failed')"
NEW_STATUSES = (
    "status IN ('pending', 'sent', 'failed', 'standby', 'skipped', 'digested', 'in_doubt')"
)
OLD_CHANNELS = "channel IN ('inbox', 'webhook')"
NEW_CHANNELS = "channel IN ('inbox', 'webhook', 'dingtalk', 'wecom', 'email', 'sms')"
OLD_KINDS = "kind IN ('escalation', 'reminder')"
NEW_KINDS = "kind IN ('escalation', 'reminder', 'digest', 'undelivered')"
SEEDED = '["inbox", "webhook"]'
ALL_CHANNELS = '["inbox", "webhook", "dingtalk", "wecom", "email", "sms"]'


def _checks(statuses: str, channels: str, kinds: str) -> None:
    for name, condition in (("status", statuses), ("channel", channels), ("kind", kinds)):
        op.drop_constraint(op.f(f"ck_notifications_{name}"), "notifications", type_="check")
        op.create_check_constraint(op.f(f"ck_notifications_{name}"), "notifications", condition)


def _policy_channels(old: str, new: str) -> None:
    # Only the seeded policies, and only levels still as installed: an admin's choice stays.
    op.get_bind().execute(
        sa.text(
            """
            UPDATE escalation_policies p SET levels = (
              SELECT jsonb_agg(CASE WHEN lv -> 'channels' = CAST(:old AS jsonb)
                                    THEN jsonb_set(lv, '{channels}', CAST(:new AS jsonb))
                                    ELSE lv END ORDER BY ord)
              FROM jsonb_array_elements(p.levels) WITH ORDINALITY AS l(lv, ord))
            WHERE p.code IN ('default', 'exposure_video')
            """
        ),
        {"old": old, "new": new},
    )


def upgrade() -> None:
    op.create_table(
        "contact_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("position", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('dingtalk', 'wecom', 'email', 'sms', 'webhook')",
            name=op.f("ck_contact_points_kind"),
        ),
        sa.CheckConstraint(
            "(person_id IS NULL) <> (unit_id IS NULL)", name=op.f("ck_contact_points_owner")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_contact_points_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_contact_points_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_points")),
    )
    op.create_index("ix_contact_points_person", "contact_points", ["person_id", "position"])
    op.create_index("ix_contact_points_unit", "contact_points", ["unit_id", "position"])

    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_point_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("provider_code", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    op.create_index(
        "ix_notification_attempts_notification",
        "notification_attempts",
        ["notification_id", "id"],
    )
    op.create_index(
        "ix_notification_attempts_point",
        "notification_attempts",
        ["contact_point_id", "started_at"],
        postgresql_where=sa.text("contact_point_id IS NOT NULL"),
    )

    for name, kind in (
        ("contact_point_id", sa.Integer()),
        ("chain", sa.String(length=200)),
        ("level", sa.SmallInteger()),
        ("delivered_at", sa.DateTime(timezone=True)),
        ("provider_ref", sa.String(length=200)),
        ("opened_at", sa.DateTime(timezone=True)),
        ("link_used_at", sa.DateTime(timezone=True)),
        ("digest_id", sa.BigInteger()),
    ):
        op.add_column("notifications", sa.Column(name, kind, nullable=True))
    op.add_column(
        "notifications",
        sa.Column("rank", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.alter_column("notifications", "finding_id", existing_type=sa.UUID(), nullable=True)
    op.create_foreign_key(
        op.f("fk_notifications_contact_point_id_contact_points"),
        "notifications",
        "contact_points",
        ["contact_point_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_notifications_digest_id_notifications"),
        "notifications",
        "notifications",
        ["digest_id"],
        ["id"],
    )
    _checks(NEW_STATUSES, NEW_CHANNELS, NEW_KINDS)
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_notifications_point_pending",
        "notifications",
        ["contact_point_id", "id"],
        postgresql_where=sa.text("status = 'pending' AND contact_point_id IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_chain",
        "notifications",
        ["chain", "rank"],
        postgresql_where=sa.text("chain IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_digest",
        "notifications",
        ["digest_id"],
        postgresql_where=sa.text("digest_id IS NOT NULL"),
    )
    _policy_channels(SEEDED, ALL_CHANNELS)


def downgrade() -> None:
    _policy_channels(ALL_CHANNELS, SEEDED)
    # Rows only this revision knows how to read go with it.
    op.execute("DELETE FROM notifications WHERE digest_id IS NOT NULL")
    op.execute(
        "DELETE FROM notifications WHERE kind IN ('digest', 'undelivered') "
        "OR channel IN ('dingtalk', 'wecom', 'email', 'sms')"
    )
    op.execute(
        "UPDATE notifications SET status = 'failed' "
        "WHERE status IN ('standby', 'skipped', 'digested', 'in_doubt')"
    )
    op.drop_index("ix_notifications_digest", table_name="notifications")
    op.drop_index("ix_notifications_chain", table_name="notifications")
    op.drop_index("ix_notifications_point_pending", table_name="notifications")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending' AND channel <> 'inbox'"),
    )
    _checks(OLD_STATUSES, OLD_CHANNELS, OLD_KINDS)
    op.drop_constraint(
        op.f("fk_notifications_digest_id_notifications"), "notifications", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_notifications_contact_point_id_contact_points"),
        "notifications",
        type_="foreignkey",
    )
    op.alter_column("notifications", "finding_id", existing_type=sa.UUID(), nullable=False)
    for name in (
        "rank",
        "digest_id",
        "link_used_at",
        "opened_at",
        "provider_ref",
        "delivered_at",
        "level",
        "chain",
        "contact_point_id",
    ):
        op.drop_column("notifications", name)
    op.drop_index("ix_notification_attempts_point", table_name="notification_attempts")
    op.drop_index("ix_notification_attempts_notification", table_name="notification_attempts")
    op.drop_table("notification_attempts")
    op.drop_index("ix_contact_points_unit", table_name="contact_points")
    op.drop_index("ix_contact_points_person", table_name="contact_points")
    op.drop_table("contact_points")
