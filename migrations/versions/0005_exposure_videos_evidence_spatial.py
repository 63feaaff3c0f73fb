"""exposure videos evidence spatial

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 11:22:10.755983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exposure_videos",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=True),
        sa.Column("aired_on", sa.Date(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("rectify_within", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("policy_code", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_exposure_videos_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposure_videos")),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gps_lat", sa.Double(), nullable=True),
        sa.Column("gps_lon", sa.Double(), nullable=True),
        sa.Column(
            "flags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('before', 'after')", name=op.f("ck_evidence_kind")),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_evidence_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_evidence_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    op.create_index("ix_evidence_finding", "evidence", ["finding_id", "kind"], unique=False)
    op.create_index("ix_evidence_sha256", "evidence", ["sha256"], unique=False)
    op.create_index(
        "ix_findings_category_lat_lon", "findings", ["category_id", "lat", "lon"], unique=False
    )
    op.create_index(
        op.f("ix_findings_exposure_video_id"), "findings", ["exposure_video_id"], unique=False
    )
    op.create_index("ix_findings_lat_lon", "findings", ["lat", "lon"], unique=False)
    op.create_foreign_key(
        op.f("fk_findings_exposure_video_id_exposure_videos"),
        "findings",
        "exposure_videos",
        ["exposure_video_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_findings_exposure_video_id_exposure_videos"), "findings", type_="foreignkey"
    )
    op.drop_index("ix_findings_lat_lon", table_name="findings")
    op.drop_index(op.f("ix_findings_exposure_video_id"), table_name="findings")
    op.drop_index("ix_findings_category_lat_lon", table_name="findings")
    op.drop_index("ix_evidence_sha256", table_name="evidence")
    op.drop_index("ix_evidence_finding", table_name="evidence")
    op.drop_table("evidence")
    op.drop_table("exposure_videos")
