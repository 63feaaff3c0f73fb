"""transfers, returns with approval and co-handling units

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-03 16:30:00

A unit's return (回退) becomes a request the dispatcher approves (`return_requested_at`), a
dispatcher may transfer (转办) an item a unit holds to another, and every transfer and
approved return is counted against the unit that caused it (`unit_handoffs`, read by the
ranking by time). Co-handling units (协办) of a finding see it and add progress
(`finding_co_units`, looked up by unit for the scope filter).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "findings", sa.Column("return_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "finding_co_units",
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_co_units_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_finding_co_units_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("finding_id", "unit_id", name=op.f("pk_finding_co_units")),
    )
    op.create_index(
        "ix_finding_co_units_unit", "finding_co_units", ["unit_id", "finding_id"], unique=False
    )
    op.create_table(
        "unit_handoffs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("to_unit_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('transfer', 'return')", name=op.f("ck_unit_handoffs_kind")),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_unit_handoffs_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_unit_handoffs_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_id"], ["units.id"], name=op.f("fk_unit_handoffs_to_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_handoffs")),
    )
    op.create_index(
        "ix_unit_handoffs_at",
        "unit_handoffs",
        ["at"],
        unique=False,
        postgresql_include=["unit_id", "kind"],
    )
    op.create_index(
        op.f("ix_unit_handoffs_finding_id"), "unit_handoffs", ["finding_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unit_handoffs_finding_id"), table_name="unit_handoffs")
    op.drop_index("ix_unit_handoffs_at", table_name="unit_handoffs")
    op.drop_table("unit_handoffs")
    op.drop_index("ix_finding_co_units_unit", table_name="finding_co_units")
    op.drop_table("finding_co_units")
    op.drop_column("findings", "return_requested_at")
