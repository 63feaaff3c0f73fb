"""intake look-around: the report's look-up as a function with a cached generic plan

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00

Every report asks, in one statement: is this id taken, which open findings of the category
lie within its radius (in the reporter's scope), and which rectified one nearby is it a
recurrence of. Sent as a prepared statement, PostgreSQL planned it anew on every call (the
parameters make each custom plan look cheaper than the generic one): 0.4-0.5 ms of planning
for 0.06 ms of execution, measured with pg_stat_statements. In a PL/pgSQL function with
`plan_cache_mode = force_generic_plan` it is planned once per connection; the generic plan
ranges over `ix_findings_category_lat_lon` for both halves (tests/test_spatial_explain.py).

Parameters: $1 id, $2 category_id, $3 lat, $4 lon, $5 radius in metres, $6-$9 the bounding
box (lat_lo, lat_hi, lon_lo, lon_hi), $10 recurrence window start, $11 city-wide caller,
$12 caller's unit path, $13 caller's user id.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Equirectangular distance in metres (services/core/findings/spatial.py: METRES_PER_DEGREE).
_DISTANCE = (
    "sqrt((({t}.lon - $4) * cos(radians(({t}.lat + $3) / 2))) ^ 2 + ({t}.lat - $3) ^ 2) * 111195"
)
# Same category and inside the box. Written as a range over (category_id, lat) because a
# generic plan cannot see how narrow the box is and would otherwise take the latitude band of
# the whole city on ix_findings_lat_lon; only ix_findings_category_lat_lon serves this form.
_IN_BOX = "({t}.category_id, {t}.lat) BETWEEN ($2, $6) AND ($2, $7) AND {t}.lon BETWEEN $8 AND $9"

# Built from the constants above only. The possible duplicates: open findings of the
# category within the radius, nearest first, that the caller may see (0010 reuses it).
_DUPLICATES = f"""(SELECT array_agg(n.id ORDER BY n.metres) FROM (
     SELECT d.id, {_DISTANCE.format(t="d")} AS metres
     FROM findings d
     WHERE {_IN_BOX.format(t="d")}
       AND {_DISTANCE.format(t="d")} <= $5
       AND d.id <> $1 AND d.status <> 'closed'
       AND ($11
            OR d.responsible_unit_id IN (SELECT u.id FROM units u WHERE u.path LIKE $12 || '%')
            OR d.place_unit_id IN (SELECT u.id FROM units u WHERE u.path LIKE $12 || '%')
            OR d.reporter_id = $13)
     ORDER BY metres
     LIMIT 10) n)"""  # noqa: S608

LOOK_AROUND_SQL = f"""
SELECT
  (SELECT f.request_hash FROM findings f WHERE f.id = $1) AS taken_hash,
  {_DUPLICATES} AS duplicates,
  r.id AS recurred_id, r.source AS recurred_source, r.policy AS recurred_policy
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT c.id, c.source, c.escalation_plan ->> 'policy' AS policy
  FROM findings c
  WHERE {_IN_BOX.format(t="c")}
    AND {_DISTANCE.format(t="c")} <= $5
    AND c.status = 'closed' AND c.close_reason = 'rectified' AND c.closed_at >= $10
  ORDER BY c.closed_at DESC, c.id
  LIMIT 1) r ON true
"""  # noqa: S608

SIGNATURE = (
    "uuid, integer, double precision, double precision, double precision,"
    " double precision, double precision, double precision, double precision,"
    " timestamptz, boolean, text, integer"
)


# The function around a version of the query (0010 installs its own the same way).
FUNCTION = """
CREATE OR REPLACE FUNCTION intake_look_around({signature})
RETURNS TABLE (taken_hash varchar, duplicates uuid[], recurred_id uuid,
               recurred_source varchar, recurred_policy text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    RETURN QUERY {sql};
END
$fn$
"""


def upgrade() -> None:
    op.execute(FUNCTION.format(signature=SIGNATURE, sql=LOOK_AROUND_SQL))


def downgrade() -> None:
    op.execute(f"DROP FUNCTION intake_look_around({SIGNATURE})")
