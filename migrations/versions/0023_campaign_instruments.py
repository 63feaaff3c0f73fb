"""campaign instruments: evaluation points, criteria, inspection plans and tasks, inspections,
self-assessment rounds

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-03 13:30:00

No blind spots (README "Evaluation points, inspections and coverage"): a register of the
evaluation points with a catalogue of their types, the evaluation criteria as versioned
indicator trees, inspection plans generating tasks on the working-day calendar, inspections
recording pass / fail / n.a. per criterion (a visit that finds nothing is a complete record),
and the districts' self-assessment rounds.

Inspection tasks carry their point's district, street and type, and points their last
inspection, so coverage per period and the blind-spot list are index ranges, not aggregates
over millions of results. An overdue task is reminded and escalated through the same outbox
as a finding: a notification names a task instead of a finding (finding_id NULL, as 0018
allows for digests, and task_id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0018's kinds, and with them an overdue inspection task's two.
CHANNEL_KINDS = "kind IN ('escalation', 'reminder', 'digest', 'undelivered')"
TASK_KINDS = (
    "kind IN ('escalation', 'reminder', 'digest', 'undelivered', 'task_reminder', "
    "'task_escalation')"
)


def upgrade() -> None:
    op.create_table(
        "criteria_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criteria_sets")),
        sa.UniqueConstraint("code", name=op.f("uq_criteria_sets_code")),
    )
    op.create_table(
        "point_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_types")),
        sa.UniqueConstraint("code", name=op.f("uq_point_types_code")),
    )
    op.create_table(
        "assessment_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("criteria_set_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_assessment_rounds_period")),
        sa.ForeignKeyConstraint(
            ["criteria_set_id"],
            ["criteria_sets.id"],
            name=op.f("fk_assessment_rounds_criteria_set_id_criteria_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_rounds")),
        sa.UniqueConstraint("code", name=op.f("uq_assessment_rounds_code")),
    )
    op.create_table(
        "criteria",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("full_score", sa.Double(), nullable=False),
        sa.Column(
            "point_types",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("check_items", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "method IN ('field', 'questionnaire', 'records')", name=op.f("ck_criteria_method")
        ),
        sa.CheckConstraint("full_score >= 0", name=op.f("ck_criteria_full_score")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["criteria.id"], name=op.f("fk_criteria_parent_id_criteria")
        ),
        sa.ForeignKeyConstraint(
            ["set_id"], ["criteria_sets.id"], name=op.f("fk_criteria_set_id_criteria_sets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criteria")),
        sa.UniqueConstraint("set_id", "code", name="uq_criteria_set_code"),
    )
    op.create_table(
        "evaluation_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("point_type_id", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("outline", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("place_unit_id", sa.Integer(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_inspected_at", sa.DateTime(timezone=True), nullable=True),
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
            "lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180",
            name=op.f("ck_evaluation_points_latlon"),
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["units.id"], name=op.f("fk_evaluation_points_district_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["place_unit_id"], ["units.id"], name=op.f("fk_evaluation_points_place_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["point_type_id"],
            ["point_types.id"],
            name=op.f("fk_evaluation_points_point_type_id_point_types"),
        ),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"],
            ["units.id"],
            name=op.f("fk_evaluation_points_responsible_unit_id_units"),
        ),
        sa.ForeignKeyConstraint(
            ["street_id"], ["units.id"], name=op.f("fk_evaluation_points_street_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_points")),
        sa.UniqueConstraint("code", name=op.f("uq_evaluation_points_code")),
    )
    op.create_index(
        "ix_evaluation_points_blind",
        "evaluation_points",
        ["district_id", "last_inspected_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_evaluation_points_blind_all",
        "evaluation_points",
        ["last_inspected_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_evaluation_points_district_type",
        "evaluation_points",
        ["district_id", "point_type_id", "code"],
        unique=False,
    )
    op.create_table(
        "inspection_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("criteria_set_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("units", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frequencies", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("assignees", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('routine', 'survey')", name=op.f("ck_inspection_plans_kind")),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_inspection_plans_period")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_inspection_plans_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["criteria_set_id"],
            ["criteria_sets.id"],
            name=op.f("fk_inspection_plans_criteria_set_id_criteria_sets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_inspection_plans_code")),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("criteria_set_id", sa.Integer(), nullable=False),
        sa.Column("inspector_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=False),
        sa.Column(
            "flags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("not_applicable", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180",
            name=op.f("ck_inspections_latlon"),
        ),
        sa.ForeignKeyConstraint(
            ["criteria_set_id"],
            ["criteria_sets.id"],
            name=op.f("fk_inspections_criteria_set_id_criteria_sets"),
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["users.id"], name=op.f("fk_inspections_inspector_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["evaluation_points.id"],
            name=op.f("fk_inspections_point_id_evaluation_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    op.create_index(
        "ix_inspections_district", "inspections", ["district_id", "observed_at"], unique=False
    )
    op.create_index(
        "ix_inspections_point", "inspections", ["point_id", "observed_at"], unique=False
    )
    op.create_table(
        "self_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'returned')",
            name=op.f("ck_self_assessments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_self_assessments_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["units.id"], name=op.f("fk_self_assessments_district_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["assessment_rounds.id"],
            name=op.f("fk_self_assessments_round_id_assessment_rounds"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_self_assessments_submitted_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_assessments")),
        sa.UniqueConstraint("round_id", "district_id", name="uq_self_assessments_round_district"),
    )
    op.create_table(
        "inspection_photos",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("gps_lat", sa.Double(), nullable=True),
        sa.Column("gps_lon", sa.Double(), nullable=True),
        sa.Column(
            "flags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_photos_inspection_id_inspections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_photos")),
    )
    op.create_index(
        op.f("ix_inspection_photos_inspection_id"),
        "inspection_photos",
        ["inspection_id"],
        unique=False,
    )
    op.create_table(
        "inspection_results",
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("criterion_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('pass', 'fail', 'na')", name=op.f("ck_inspection_results_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["criteria.id"],
            name=op.f("fk_inspection_results_criterion_id_criteria"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_results_inspection_id_inspections"),
        ),
        sa.PrimaryKeyConstraint(
            "inspection_id", "criterion_id", name=op.f("pk_inspection_results")
        ),
    )
    op.create_table(
        "inspection_tasks",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("point_type_id", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inspection_id", sa.UUID(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_inspection_tasks_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plans.id"],
            name=op.f("fk_inspection_tasks_plan_id_inspection_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["evaluation_points.id"],
            name=op.f("fk_inspection_tasks_point_id_evaluation_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_tasks")),
        sa.UniqueConstraint("plan_id", "point_id", "opens_at", name="uq_inspection_tasks_window"),
    )
    op.create_index(
        "ix_inspection_tasks_assignee", "inspection_tasks", ["assignee_id", "due_at"], unique=False
    )
    op.create_index(
        "ix_inspection_tasks_due",
        "inspection_tasks",
        ["due_at"],
        unique=False,
        postgresql_include=["district_id", "street_id", "point_type_id", "done_at", "point_id"],
    )
    op.create_index(
        "ix_inspection_tasks_overdue",
        "inspection_tasks",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL AND escalated_at IS NULL"),
    )
    op.create_index(
        "ix_inspection_tasks_point", "inspection_tasks", ["point_id", "opens_at"], unique=False
    )
    op.create_table(
        "self_assessment_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("finding_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("score >= 0", name=op.f("ck_self_assessment_scores_score")),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["self_assessments.id"],
            name=op.f("fk_self_assessment_scores_assessment_id_self_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["criteria.id"],
            name=op.f("fk_self_assessment_scores_criterion_id_criteria"),
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["evaluation_points.id"],
            name=op.f("fk_self_assessment_scores_point_id_evaluation_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_assessment_scores")),
        sa.UniqueConstraint(
            "assessment_id",
            "criterion_id",
            "point_id",
            name="uq_self_assessment_scores_item",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_self_assessment_scores_assessment_id"),
        "self_assessment_scores",
        ["assessment_id"],
        unique=False,
    )
    op.add_column("notifications", sa.Column("task_id", sa.BigInteger(), nullable=True))
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", TASK_KINDS)


def downgrade() -> None:
    # An overdue task's notices name no finding: they go with the tasks.
    op.execute("DELETE FROM notifications WHERE kind IN ('task_reminder', 'task_escalation')")
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", CHANNEL_KINDS)
    op.drop_column("notifications", "task_id")
    op.drop_index(
        op.f("ix_self_assessment_scores_assessment_id"), table_name="self_assessment_scores"
    )
    op.drop_table("self_assessment_scores")
    op.drop_index("ix_inspection_tasks_point", table_name="inspection_tasks")
    op.drop_index(
        "ix_inspection_tasks_overdue",
        table_name="inspection_tasks",
        postgresql_where=sa.text("done_at IS NULL AND escalated_at IS NULL"),
    )
    op.drop_index(
        "ix_inspection_tasks_due",
        table_name="inspection_tasks",
        postgresql_include=["district_id", "street_id", "point_type_id", "done_at", "point_id"],
    )
    op.drop_index("ix_inspection_tasks_assignee", table_name="inspection_tasks")
    op.drop_table("inspection_tasks")
    op.drop_table("inspection_results")
    op.drop_index(op.f("ix_inspection_photos_inspection_id"), table_name="inspection_photos")
    op.drop_table("inspection_photos")
    op.drop_table("self_assessments")
    op.drop_index("ix_inspections_point", table_name="inspections")
    op.drop_index("ix_inspections_district", table_name="inspections")
    op.drop_table("inspections")
    op.drop_table("inspection_plans")
    op.drop_index("ix_evaluation_points_district_type", table_name="evaluation_points")
    op.drop_index("ix_evaluation_points_blind_all", table_name="evaluation_points")
    op.drop_index("ix_evaluation_points_blind", table_name="evaluation_points")
    op.drop_table("evaluation_points")
    op.drop_table("criteria")
    op.drop_table("assessment_rounds")
    op.drop_table("point_types")
    op.drop_table("criteria_sets")
