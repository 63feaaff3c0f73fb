"""commitments ledger and personal supervision

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-03 16:30:00

The districts' pledges at the campaign's meetings (整改承诺台账): meetings and the exposure
videos they reviewed, each unit's commitments with their findings, progress reports and
their photos, and the levels of an overdue commitment's own ladder, fired once each
(UNIQUE(commitment, level)). A leader's personal charge (领导包案) of a finding or a
commitment. A commitment's notices go through the same outbox as a finding's: a
notification names the commitment instead (kind `commitment`, commitment_id).
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The kinds as 0024 (sign-for and suspension notices) left them, and with commitments.
TASK_KINDS = (
    "kind IN ('escalation', 'reminder', 'digest', 'undelivered', 'task_reminder', "
    "'task_escalation', 'sign_for', 'suspension')"
)
COMMITMENT_KINDS = (
    "kind IN ('escalation', 'reminder', 'digest', 'undelivered', 'task_reminder', "
    "'task_escalation', 'commitment', 'sign_for', 'suspension')"
)
TARGETS = "target IN ('unit_head', 'district_head', 'city_leader', 'discipline_commission')"


def _now() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _now(),
        sa.CheckConstraint(
            "kind IN ('exposure_review', 'briefing', 'self_assessment_review')",
            name=op.f("ck_meetings_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_meetings_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_table(
        "meeting_videos",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_videos_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["exposure_videos.id"],
            name=op.f("fk_meeting_videos_video_id_exposure_videos"),
        ),
        sa.PrimaryKeyConstraint("meeting_id", "video_id", name=op.f("pk_meeting_videos")),
    )
    op.create_index(
        op.f("ix_meeting_videos_video_id"), "meeting_videos", ["video_id"], unique=False
    )
    op.create_table(
        "commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("status_quo", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("deadline", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leader_person_id", sa.Integer(), nullable=True),
        sa.Column("leader_name", sa.String(length=100), nullable=True),
        sa.Column("leader_title", sa.String(length=200), nullable=True),
        sa.Column("percent", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("escalation_plan", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _now(),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name=op.f("ck_commitments_percent")),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_commitments_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_commitments_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["units.id"], name=op.f("fk_commitments_district_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["leader_person_id"],
            ["people.id"],
            name=op.f("fk_commitments_leader_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"], ["users.id"], name=op.f("fk_commitments_accepted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_commitments_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    op.create_index("ix_commitments_meeting", "commitments", ["meeting_id", "id"])
    op.create_index("ix_commitments_district", "commitments", ["district_id", "id"])
    op.create_index("ix_commitments_unit", "commitments", ["unit_id", "id"])
    op.create_index(
        "ix_commitments_next_escalation",
        "commitments",
        ["next_escalation_at"],
        postgresql_where=sa.text("next_escalation_at IS NOT NULL"),
    )
    op.create_table(
        "commitment_findings",
        sa.Column("commitment_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_findings_commitment_id_commitments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name=op.f("fk_commitment_findings_finding_id_findings"),
        ),
        sa.PrimaryKeyConstraint("commitment_id", "finding_id", name=op.f("pk_commitment_findings")),
    )
    op.create_index(
        op.f("ix_commitment_findings_finding_id"), "commitment_findings", ["finding_id"]
    )
    op.create_table(
        "commitment_progress",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("commitment_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("percent", sa.SmallInteger(), nullable=False),
        sa.Column("reported_by_id", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "review", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "percent BETWEEN 0 AND 100", name=op.f("ck_commitment_progress_percent")
        ),
        sa.CheckConstraint(
            "review IN ('pending', 'accepted', 'returned')",
            name=op.f("ck_commitment_progress_review"),
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_progress_commitment_id_commitments"),
        ),
        sa.ForeignKeyConstraint(
            ["reported_by_id"],
            ["users.id"],
            name=op.f("fk_commitment_progress_reported_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_commitment_progress_reviewed_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_progress")),
    )
    op.create_index(
        "ix_commitment_progress_commitment", "commitment_progress", ["commitment_id", "id"]
    )
    op.create_table(
        "commitment_photos",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("progress_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["progress_id"],
            ["commitment_progress.id"],
            name=op.f("fk_commitment_photos_progress_id_commitment_progress"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_photos")),
    )
    op.create_index("ix_commitment_photos_progress", "commitment_photos", ["progress_id"])
    op.create_table(
        "commitment_escalations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("commitment_id", sa.Integer(), nullable=False),
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
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(TARGETS, name=op.f("ck_commitment_escalations_target")),
        sa.CheckConstraint(
            "reason IN ('overdue', 'vacant_post')", name=op.f("ck_commitment_escalations_reason")
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_commitment_escalations_commitment_id_commitments"),
        ),
        sa.ForeignKeyConstraint(
            ["target_person_id"],
            ["people.id"],
            name=op.f("fk_commitment_escalations_target_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["target_unit_id"],
            ["units.id"],
            name=op.f("fk_commitment_escalations_target_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["units.id"],
            name=op.f("fk_commitment_escalations_district_id_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_escalations")),
        sa.UniqueConstraint("commitment_id", "level", name="uq_commitment_escalations_level"),
    )
    op.create_index("ix_commitment_escalations_fired", "commitment_escalations", ["fired_at", "id"])
    op.create_table(
        "personal_supervisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=True),
        sa.Column("commitment_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(finding_id IS NULL) <> (commitment_id IS NULL)",
            name=op.f("ck_personal_supervisions_item"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_personal_supervisions_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name=op.f("fk_personal_supervisions_finding_id_findings"),
        ),
        sa.ForeignKeyConstraint(
            ["commitment_id"],
            ["commitments.id"],
            name=op.f("fk_personal_supervisions_commitment_id_commitments"),
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["users.id"],
            name=op.f("fk_personal_supervisions_started_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_supervisions")),
    )
    op.create_index(
        "uq_personal_supervisions_finding",
        "personal_supervisions",
        ["finding_id", "person_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL AND finding_id IS NOT NULL"),
    )
    op.create_index(
        "uq_personal_supervisions_commitment",
        "personal_supervisions",
        ["commitment_id", "person_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL AND commitment_id IS NOT NULL"),
    )
    op.create_index("ix_personal_supervisions_person", "personal_supervisions", ["person_id", "id"])
    op.add_column("notifications", sa.Column("commitment_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_notifications_commitment_id_commitments"),
        "notifications",
        "commitments",
        ["commitment_id"],
        ["id"],
    )
    op.create_index(
        op.f("ix_notifications_commitment_id"), "notifications", ["commitment_id"], unique=False
    )
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", COMMITMENT_KINDS)
    # A 问责 record (0028) may name the commitment that led to it.
    op.create_foreign_key(
        op.f("fk_accountability_links_commitment_id_commitments"),
        "accountability_links",
        "commitments",
        ["commitment_id"],
        ["id"],
    )


def downgrade() -> None:
    # A commitment's notices name no finding: they go with the commitments.
    op.execute("DELETE FROM notifications WHERE kind = 'commitment'")
    op.drop_constraint(
        op.f("fk_accountability_links_commitment_id_commitments"),
        "accountability_links",
        type_="foreignkey",
    )
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", TASK_KINDS)
    op.drop_index(op.f("ix_notifications_commitment_id"), table_name="notifications")
    op.drop_constraint(
        op.f("fk_notifications_commitment_id_commitments"), "notifications", type_="foreignkey"
    )
    op.drop_column("notifications", "commitment_id")
    op.drop_table("personal_supervisions")
    op.drop_table("commitment_escalations")
    op.drop_table("commitment_photos")
    op.drop_table("commitment_progress")
    op.drop_table("commitment_findings")
    op.drop_table("commitments")
    op.drop_table("meeting_videos")
    op.drop_table("meetings")
