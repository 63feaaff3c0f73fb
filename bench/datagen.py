"""A year of findings written by PostgreSQL itself (generate_series, INSERT ... SELECT).

Python never sees a row, so a million findings take the time of a bulk insert into the real,
fully indexed table. Ids are derived from the series number (md5 of "bench:<n>"), so later
phases address any slice of the data again without a marker column.

Shares, of the `findings - sweep` background rows (n = series number):
  n % 100 in 0..2   overdue, still open, escalated 1–4 levels (3%)
  n % 100 in 3..9   open and in time (7%)            -> 10% open in all
  n % 100 in 10..11 closed after being escalated 1–4 levels (2%) -> 5% escalated in all
  the rest          closed (rectified, some invalid or duplicate)
The first `sweep` rows are open, dispatched and not yet armed: the escalation phase makes
them fall due at once (`arm_sweep`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import asyncpg

# One finding's id from its series number: the same expression in every statement.
ID = "md5('bench:' || g)::uuid"

_PLAN = """
SELECT jsonb_build_object('policy', code, 'reminder_at', reminder_at, 'start_level', 1,
                          'levels', levels)
FROM escalation_policies WHERE code = 'default'
"""

_CONTEXT = """
CREATE TEMP TABLE bench_units ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY u.id) AS i, u.id AS unit_id, d.id AS district_id,
       coalesce(u.lat, d.lat) AS lat, coalesce(u.lon, d.lon) AS lon
FROM units u JOIN units d ON d.kind = 'district' AND u.path LIKE d.path || '%'
WHERE u.kind IN ('street', 'department')
"""

_FINDINGS = f"""
WITH ctx AS (
  SELECT (SELECT array_agg(unit_id ORDER BY i) FROM bench_units) AS units,
         (SELECT array_agg(district_id ORDER BY i) FROM bench_units) AS districts,
         (SELECT array_agg(lat ORDER BY i) FROM bench_units) AS lats,
         (SELECT array_agg(lon ORDER BY i) FROM bench_units) AS lons,
         (SELECT count(*) FROM bench_units)::int AS n_units,
         (SELECT array_agg(id ORDER BY id) FROM categories) AS cats,
         (SELECT count(*) FROM categories)::int AS n_cats,
         (SELECT id FROM users WHERE username = 'inspector') AS reporter,
         ($3::jsonb) AS plan
), rows AS (
  SELECT g, g <= $2 AS sweep, g % 100 AS b,
         1 + (hashint4(g) & 2147483647) % ctx.n_units AS u,
         1 + (hashint4(g + 7) & 2147483647) % ctx.n_cats AS c,
         CASE WHEN g <= $2 THEN now() - interval '3 days'
              WHEN g % 100 BETWEEN 3 AND 9 THEN now() - random() * interval '10 days'
              WHEN g % 100 IN (0, 1, 2, 10, 11)
                THEN now() - interval '20 days' - random() * interval '345 days'
              ELSE now() - random() * interval '365 days' END AS reported_at
  FROM generate_series(1, $1) g, ctx
)
INSERT INTO findings (
  id, source, category_id, severity, description, lat, lon, address, place_unit_id,
  responsible_unit_id, district_id, point_type, observed_at, reported_at, reporter_id,
  status, close_reason, dispatched_at, due_at, submitted_at, closed_at, escalation_plan,
  next_escalation_at, reminded_at, rework_count, request_hash, updated_at)
SELECT {ID},
  (ARRAY['inspection','inspection','inspection','public_report','self_assessment',
         'leader_assigned'])[1 + g % 6],
  ctx.cats[r.c],
  CASE WHEN g % 17 = 0 THEN 'urgent' ELSE 'normal' END,
  '巡查发现问题 #' || g,
  ctx.lats[r.u] + (random() - 0.5) * 0.02, ctx.lons[r.u] + (random() - 0.5) * 0.02,
  '测试地址 ' || g, ctx.units[r.u], ctx.units[r.u], ctx.districts[r.u], 'back_alley',
  r.reported_at - interval '5 minutes', r.reported_at, ctx.reporter,
  CASE WHEN r.sweep THEN 'assigned'
       WHEN r.b BETWEEN 0 AND 2 THEN (ARRAY['assigned','accepted'])[1 + g % 2]
       WHEN r.b BETWEEN 3 AND 9 THEN (ARRAY['assigned','accepted','submitted'])[1 + g % 3]
       ELSE 'closed' END,
  CASE WHEN r.sweep OR r.b < 10 THEN NULL
       WHEN g % 50 = 0 THEN 'invalid' WHEN g % 71 = 0 THEN 'duplicate'
       ELSE 'rectified' END,
  r.reported_at + interval '2 minutes',
  CASE WHEN r.sweep THEN now() + interval '1 day'
       WHEN r.b BETWEEN 3 AND 9 THEN r.reported_at + interval '12 days'
       ELSE r.reported_at + interval '5 days' END,
  CASE WHEN r.sweep OR r.b < 3 THEN NULL
       WHEN r.b < 10 AND g % 3 <> 2 THEN NULL
       WHEN r.b IN (10, 11) THEN r.reported_at + interval '16 days'
       ELSE r.reported_at + interval '3 days' END,
  CASE WHEN r.sweep OR r.b < 10 THEN NULL
       WHEN r.b IN (10, 11) THEN r.reported_at + interval '17 days'
       ELSE r.reported_at + interval '4 days' END,
  ctx.plan,
  CASE WHEN r.b BETWEEN 0 AND 2 AND NOT r.sweep AND g % 4 < 3
         THEN now() + interval '300 days'
       WHEN r.b BETWEEN 3 AND 9 AND NOT r.sweep AND g % 3 <> 2
         THEN r.reported_at + interval '12 days'
       ELSE NULL END,
  CASE WHEN r.sweep OR r.b < 3 THEN r.reported_at + interval '4 days' END,
  CASE WHEN g % 29 = 0 THEN 1 ELSE 0 END,
  md5('req:' || g), r.reported_at
FROM rows r, ctx
"""

# Levels 1..k for the escalated rows; fired when due (due_at + a few days per level).
_ESCALATIONS = f"""
INSERT INTO escalations (
  finding_id, level, target, fired_at, due_for, reason, target_unit_id, target_unit_name,
  responsible_unit_id, district_id, source, resolved_at)
SELECT f.id, lvl,
  (ARRAY['unit_head','district_head','city_leader','discipline_commission'])[lvl],
  f.due_at + (lvl - 1) * interval '3 days' + interval '3 seconds',
  f.due_at + (lvl - 1) * interval '3 days', 'overdue',
  coalesce(f.responsible_unit_id, f.district_id), '责任单位', f.responsible_unit_id,
  f.district_id, f.source, f.closed_at
FROM generate_series($2 + 1, $1) g
JOIN findings f ON f.id = {ID}
CROSS JOIN LATERAL generate_series(1, 1 + g % 4) lvl
WHERE g % 100 IN (0, 1, 2, 10, 11)
"""


async def generate(conn: asyncpg.Connection, findings: int, sweep: int) -> dict[str, float]:
    """Insert `findings` rows (the first `sweep` of them the escalation phase's set)."""
    started = time.monotonic()
    plan = await conn.fetchval(_PLAN)
    async with conn.transaction():
        await conn.execute(_CONTEXT)
        # A bulk load: the roll-ups are rebuilt once in the same transaction rather than by
        # one trigger call per row (migrations 0008 and 0012).
        for rollup in ("closed_finding_days", "open_finding_days"):
            await conn.execute(f"ALTER TABLE findings DISABLE TRIGGER {rollup}_insert")
        await conn.execute(_FINDINGS, findings, sweep, plan)
        for rollup in ("closed_finding_days", "open_finding_days"):
            await conn.execute(f"SELECT {rollup}_rebuild()")
            await conn.execute(f"ALTER TABLE findings ENABLE TRIGGER {rollup}_insert")
        t_findings = time.monotonic() - started
        await conn.execute(_ESCALATIONS, findings, sweep)
    t_insert = time.monotonic() - started
    # Vacuumed as autovacuum leaves a table in steady state: a freshly loaded table has no
    # visibility map yet, and every index-only scan would read the heap until autovacuum
    # happened to finish (during the supervision phase of a short run).
    await conn.execute("VACUUM (ANALYZE) findings")
    await conn.execute("VACUUM (ANALYZE) escalations")
    await conn.execute("ANALYZE closed_finding_days")
    await conn.execute("ANALYZE open_finding_days")
    # Written out now, not by checkpoints in the middle of the measurements (bench/coverage.py
    # does the same after its load).
    await conn.execute("CHECKPOINT")
    return {
        "findings_seconds": t_findings,
        "insert_seconds": t_insert,
        "total_seconds": time.monotonic() - started,
    }


async def shares(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status <> 'closed') AS open,
               count(*) FILTER (WHERE status IN ('assigned','accepted') AND due_at < now())
                 AS overdue,
               (SELECT count(DISTINCT finding_id) FROM escalations) AS escalated,
               (SELECT count(*) FROM escalations) AS escalation_rows
        FROM findings
        """
    )
    assert row is not None
    return dict(row)


# How long before arming the sweep's overdue set fell due, and how many seconds after arming
# the findings that measure the firing lag begin to fall due (then over `spread` seconds): each
# keeps that time as its next look until it is escalated, which bench/runner.py watches for.
OVERDUE_BY = timedelta(hours=1)
FALLING_DUE_FROM_S = 3


async def arm_sweep(conn: asyncpg.Connection, sweep: int, lag_set: int, spread: int) -> datetime:
    """Make the sweep set due: most OVERDUE_BY ago, the first `lag_set` FALLING_DUE_FROM_S to
    FALLING_DUE_FROM_S + `spread` seconds from now (those measure the firing lag). Returns the
    database's arming time."""
    armed: datetime = await conn.fetchval("SELECT now()")
    await conn.execute(
        """
        UPDATE findings f SET due_at = s.due, next_escalation_at = s.due
        FROM (SELECT g, CASE WHEN g <= $2
                             THEN $3::timestamptz + ($6::int + (hashint4(g) & 65535) / 65536.0
                                                     * $4::int) * interval '1 s'
                             ELSE $3::timestamptz - $5::interval END AS due
              FROM generate_series(1, $1) g) s
        WHERE f.id = md5('bench:' || s.g)::uuid
        """,
        sweep,
        lag_set,
        armed,
        spread,
        OVERDUE_BY,
        FALLING_DUE_FROM_S,
    )
    return armed


async def arm_steady(
    conn: asyncpg.Connection, findings: int, sweep: int, count: int, spread: int
) -> tuple[datetime, int]:
    """With no backlog: make `count` open, in-time background findings fall due
    FALLING_DUE_FROM_S to FALLING_DUE_FROM_S + `spread` seconds from now. Returns the arming
    time and how many were armed."""
    armed: datetime = await conn.fetchval("SELECT now()")
    status = await conn.execute(
        f"""
        UPDATE findings f SET due_at = s.due, next_escalation_at = s.due,
                              reminded_at = coalesce(f.reminded_at, $3::timestamptz)
        FROM (SELECT g, {ID} AS id,
                     $3::timestamptz
                       + ($6::int + (hashint4(g) & 65535) / 65536.0 * $5::int)
                         * interval '1 s' AS due
              FROM generate_series($2 + 1, $1) g
              WHERE g % 100 BETWEEN 3 AND 9 AND g % 3 <> 2 LIMIT $4) s
        WHERE f.id = s.id AND f.status IN ('assigned', 'accepted')
        """,
        findings,
        sweep,
        armed,
        count,
        spread,
        FALLING_DUE_FROM_S,
    )
    return armed, int(status.split()[-1])
