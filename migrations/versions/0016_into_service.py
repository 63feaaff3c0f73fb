"""into service: unit boundaries, people's codes, and the administrative audit trail

Revision ID: 0016
Revises: 0019
Create Date: 2026-12-05 09:00:00

A city puts duban into service without the demo: `duban init`, then its organisation and
catalogue imported from the spreadsheets its offices keep, then users administered from the
command line. Three things in the schema follow:

- `unit_boundaries`: a unit's area as GeoJSON (no PostGIS: the API indexes the polygons in
  memory, in the reference snapshot), so a report that names no unit is placed by its
  location. A reference table like the units: every write bumps `config_revision`, so no API
  process places a report with polygons that are no longer the table's.
- `people.code`: the office's identifier of a person, by which a re-import finds them again.
- `admin_events`: every administrative change (users, tokens, imports, init) with who made
  it; append-only like `events`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("people", sa.Column("code", sa.String(length=64), nullable=True))
    op.create_unique_constraint(op.f("uq_people_code"), "people", ["code"])
    op.create_table(
        "unit_boundaries",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("geometry", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_unit_boundaries_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_unit_boundaries")),
    )
    op.execute(
        "CREATE TRIGGER bump_config_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
        " ON unit_boundaries FOR EACH STATEMENT EXECUTE FUNCTION bump_config_revision()"
    )
    op.create_table(
        "admin_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_admin_events_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_events")),
    )
    op.create_index("ix_admin_events_at", "admin_events", ["at", "id"], unique=False)
    op.execute(
        "CREATE TRIGGER admin_events_append_only BEFORE UPDATE OR DELETE ON admin_events "
        "FOR EACH ROW EXECUTE FUNCTION duban_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER admin_events_append_only ON admin_events")
    op.drop_index("ix_admin_events_at", table_name="admin_events")
    op.drop_table("admin_events")
    op.execute("DROP TRIGGER bump_config_revision ON unit_boundaries")
    op.drop_table("unit_boundaries")
    op.drop_constraint(op.f("uq_people_code"), "people", type_="unique")
    op.drop_column("people", "code")
