"""config revision: one counter bumped by every change to the reference tables

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:00:00

The intake reads units, categories, routing rules, escalation policies and calendar
overrides on every report. The API keeps them in memory as one snapshot tagged with this
counter and compares the counter on every request, so a snapshot is used only while it is
exactly what the tables hold. Statement-level triggers bump it on any write, whoever writes
(the admin API, the seed, a DBA in psql).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCE_TABLES = (
    "units",
    "categories",
    "routing_rules",
    "escalation_policies",
    "calendar_overrides",
)


def upgrade() -> None:
    op.create_table(
        "config_revision",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_config_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_revision")),
    )
    op.execute("INSERT INTO config_revision (id, revision) VALUES (1, 1)")
    op.execute(
        """
        CREATE FUNCTION bump_config_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE config_revision SET revision = revision + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in REFERENCE_TABLES:
        op.execute(
            f"CREATE TRIGGER bump_config_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_config_revision()"
        )


def downgrade() -> None:
    for table in REFERENCE_TABLES:
        op.execute(f"DROP TRIGGER bump_config_revision ON {table}")
    op.execute("DROP FUNCTION bump_config_revision()")
    op.drop_table("config_revision")
