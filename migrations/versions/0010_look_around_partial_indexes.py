"""look-around partial indexes: each half of the intake's look-up reads only its own rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00

Both halves of `intake_look_around` (0009) ranged over `ix_findings_category_lat_lon`, which
holds every finding, and visited every row of the category in the box on the heap: the
possible duplicates want only open findings, the recurrence only rectified ones. At the
bench's million findings that was most of PostgreSQL's time per report (bench/ANALYSIS.md
§7). Each half now has a partial index of its own rows, covering what it filters on, so the
box is read from the index alone and the heap is visited for the one recurrence found:

- `ix_findings_open_near`: open findings, with the columns of the caller's scope;
- `ix_findings_rectified_near`: findings closed as rectified, with when.

The new rows of a report go to the open index, as they went to the index it replaces; a
closure moves the row from one to the other in the update that closes it.

Parameters as in 0009.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0009() -> ModuleType:
    """0009's SQL pieces (the distance, the box, its function), read from its file: the same
    text serves its function, this one and the downgrade back to it."""
    path = Path(__file__).with_name("0009_intake_look_around.py")
    spec = importlib.util.spec_from_file_location("duban_migration_0009", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0009 = _revision_0009()
SIGNATURE: str = _0009.SIGNATURE
_DISTANCE: str = _0009._DISTANCE
_IN_BOX: str = _0009._IN_BOX

# The possible duplicates are 0009's, whose predicates already name the open index's WHERE
# clause; the recurrence's name the rectified one's word for word: that is how a generic
# plan proves that a partial index holds every row it may need.
LOOK_AROUND_SQL = f"""
SELECT
  (SELECT f.request_hash FROM findings f WHERE f.id = $1) AS taken_hash,
  {_0009._DUPLICATES} AS duplicates,
  r.id AS recurred_id, r.source AS recurred_source,
  r.escalation_plan ->> 'policy' AS recurred_policy
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT c.id
  FROM findings c
  WHERE {_IN_BOX.format(t="c")} AND c.close_reason = 'rectified'
    AND {_DISTANCE.format(t="c")} <= $5
    AND c.closed_at >= $10
  ORDER BY c.closed_at DESC, c.id
  LIMIT 1) last_rectified ON true
LEFT JOIN findings r ON r.id = last_rectified.id
"""  # noqa: S608


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_findings_open_near ON findings (category_id, lat, lon)"
        " INCLUDE (id, responsible_unit_id, place_unit_id, reporter_id)"
        " WHERE status <> 'closed'"
    )
    op.execute(
        "CREATE INDEX ix_findings_rectified_near ON findings (category_id, lat, lon)"
        " INCLUDE (closed_at, id) WHERE close_reason = 'rectified'"
    )
    op.execute(_0009.FUNCTION.format(signature=SIGNATURE, sql=LOOK_AROUND_SQL))
    op.drop_index("ix_findings_category_lat_lon", table_name="findings")


def downgrade() -> None:
    op.create_index("ix_findings_category_lat_lon", "findings", ["category_id", "lat", "lon"])
    op.execute(_0009.FUNCTION.format(signature=SIGNATURE, sql=_0009.LOOK_AROUND_SQL))
    op.drop_index("ix_findings_rectified_near", table_name="findings")
    op.drop_index("ix_findings_open_near", table_name="findings")
