"""recurrence within the unit: a recurrence counts against a unit only for its own problem

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:00:00

The recurrence half of `intake_look_around` (0009, 0010) took the last finding rectified
nearby whoever it was: a report in 李沧区 near a rectified 市南区 finding became a recurrence
against 李沧区 and named a finding its reporter cannot read. Now the look-up also takes the
new finding's responsible unit ($14, NULL when no rule routes it):

- a finding rectified nearby by that same unit makes it a recurrence (`recurred_*`), the
  unit's own the latest of them, before any other unit's;
- otherwise the last one rectified nearby by another unit is only a possible recurrence
  (`possible_recurrence`), stored in `findings.possible_recurrence_of` for a dispatcher to
  confirm or dismiss;
- `earlier_visible` says whether the caller may see that earlier finding (the scope of the
  possible duplicates: $11-$13), so the answer to the report names it only then.

`ix_findings_rectified_near` now covers the responsible unit too, so the box is still read
from the index alone. Parameters as in 0009, and $14 the responsible unit.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision(name: str) -> ModuleType:
    """An earlier revision's SQL pieces, read from its file (as 0010 reads 0009's)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"duban_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0009 = _revision("0009_intake_look_around.py")
_0010 = _revision("0010_look_around_partial_indexes.py")
_DISTANCE: str = _0009._DISTANCE
_IN_BOX: str = _0009._IN_BOX
OLD_SIGNATURE: str = _0009.SIGNATURE
SIGNATURE = f"{OLD_SIGNATURE}, integer"

# The caller's scope over the earlier finding `r`, as scope.visible_findings has it.
_VISIBLE = (
    "($11 OR r.reporter_id = $13 OR EXISTS (SELECT FROM units u"
    " WHERE u.id IN (r.responsible_unit_id, r.place_unit_id) AND u.path LIKE $12 || '%'))"
)

# The recurrence's predicates still name the rectified index's WHERE clause word for word
# (0010). The unit's own rectified findings sort first, then the latest.
LOOK_AROUND_SQL = f"""
SELECT
  (SELECT f.request_hash FROM findings f WHERE f.id = $1) AS taken_hash,
  {_0009._DUPLICATES} AS duplicates,
  CASE WHEN last_rectified.own THEN r.id END AS recurred_id,
  CASE WHEN last_rectified.own THEN r.source END AS recurred_source,
  CASE WHEN last_rectified.own THEN r.escalation_plan ->> 'policy' END AS recurred_policy,
  CASE WHEN NOT last_rectified.own THEN r.id END AS possible_recurrence,
  r.id IS NOT NULL AND {_VISIBLE} AS earlier_visible
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT c.id, coalesce(c.responsible_unit_id = $14, false) AS own
  FROM findings c
  WHERE {_IN_BOX.format(t="c")} AND c.close_reason = 'rectified'
    AND {_DISTANCE.format(t="c")} <= $5
    AND c.closed_at >= $10
  ORDER BY coalesce(c.responsible_unit_id = $14, false) DESC, c.closed_at DESC, c.id
  LIMIT 1) last_rectified ON true
LEFT JOIN findings r ON r.id = last_rectified.id
"""  # noqa: S608

FUNCTION = """
CREATE FUNCTION intake_look_around({signature})
RETURNS TABLE (taken_hash varchar, duplicates uuid[], recurred_id uuid,
               recurred_source varchar, recurred_policy text, possible_recurrence uuid,
               earlier_visible boolean)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    RETURN QUERY {sql};
END
$fn$
"""


def _rectified_near(include: str) -> None:
    op.execute("DROP INDEX ix_findings_rectified_near")
    op.execute(
        "CREATE INDEX ix_findings_rectified_near ON findings (category_id, lat, lon)"
        f" INCLUDE ({include}) WHERE close_reason = 'rectified'"
    )


def upgrade() -> None:
    op.add_column("findings", sa.Column("possible_recurrence_of", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_findings_possible_recurrence_of_findings"),
        "findings",
        "findings",
        ["possible_recurrence_of"],
        ["id"],
    )
    op.create_index(
        "ix_findings_possible_recurrence",
        "findings",
        ["reported_at", "id"],
        postgresql_where=sa.text("possible_recurrence_of IS NOT NULL"),
    )
    _rectified_near("closed_at, id, responsible_unit_id")
    # A new signature: the old function goes, so no caller keeps the unscoped recurrence.
    op.execute(f"DROP FUNCTION intake_look_around({OLD_SIGNATURE})")
    op.execute(FUNCTION.format(signature=SIGNATURE, sql=LOOK_AROUND_SQL))


def downgrade() -> None:
    op.execute(f"DROP FUNCTION intake_look_around({SIGNATURE})")
    op.execute(_0009.FUNCTION.format(signature=OLD_SIGNATURE, sql=_0010.LOOK_AROUND_SQL))
    _rectified_near("closed_at, id")
    op.drop_index("ix_findings_possible_recurrence", table_name="findings")
    op.drop_constraint(
        op.f("fk_findings_possible_recurrence_of_findings"), "findings", type_="foreignkey"
    )
    op.drop_column("findings", "possible_recurrence_of")
