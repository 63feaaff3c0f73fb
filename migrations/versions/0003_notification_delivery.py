"""notification delivery: retry horizon and attempt times

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "notifications", sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_notifications_status_id", "notifications", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notifications_status_id", table_name="notifications")
    op.drop_column("notifications", "last_attempt_at")
    op.drop_column("notifications", "first_attempt_at")
