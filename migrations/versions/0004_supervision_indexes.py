"""supervision indexes: covering indexes for the unit statistics

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
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


def upgrade() -> None:
    op.create_index(
        "ix_findings_stats",
        "findings",
        ["reported_at"],
        unique=False,
        postgresql_include=FINDING_STATS_COLUMNS,
    )
    op.create_index(
        "ix_escalations_stats",
        "escalations",
        ["fired_at"],
        unique=False,
        postgresql_include=["responsible_unit_id", "level", "source"],
    )


def downgrade() -> None:
    op.drop_index("ix_escalations_stats", table_name="escalations")
    op.drop_index("ix_findings_stats", table_name="findings")
