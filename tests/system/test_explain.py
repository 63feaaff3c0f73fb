"""The supervision queries use their indexes at scale: EXPLAIN on generated data.

50,000 findings and 15,000 escalations are generated with generate_series in the test's own
database, vacuumed and analysed. The queries are the real ones: each is run through the code
that serves the API while its SQL is captured, then that exact SQL is EXPLAINed with the same
parameters. Plans are asserted on their shape (which index, never a sequential scan of the
big tables), not on timings; the stats query's time is printed for the benchmark note.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.core.escalation.queries import EscalationFilters, filter_clauses, list_escalations
from services.core.escalation.rules import Light
from services.core.findings.queries import FindingFilters, list_findings
from services.core.identity.principal import Principal
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.stats.queries import unit_stats
from tests.helpers import no_seq_scans, plans_of, principal

# Enough that an index pays, few enough to load in seconds. 200,000 and 60,000 (four times the
# load) give the same plans, but that the escalations of a unit subtree are then read through
# ix_escalations_stats rather than ix_escalations_unit_fired: an index either way, as asserted.
FINDINGS = 50_000
ESCALATIONS = 15_000
# The reports span the same 278 days (December 2025 to September 2026) whatever their number.
SPAN_MINUTES = 200_000 * 2
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

GENERATE = """
CREATE TEMP TABLE gen_units AS
    SELECT (row_number() OVER (ORDER BY u.id) - 1)::int AS n, u.id AS unit_id,
           u.parent_id AS district_id
    FROM units u WHERE u.kind IN ('street', 'department');
CREATE TEMP TABLE gen_plan AS SELECT escalation_plan AS plan FROM (
    SELECT jsonb_build_object('policy', 'default', 'reminder_at', 0.8, 'start_level', 1,
        'levels', jsonb_agg(lv)) AS escalation_plan
    FROM (SELECT jsonb_array_elements(levels) AS lv FROM escalation_policies
          WHERE code = 'default') l) p;
INSERT INTO findings (id, source, category_id, severity, description, lat, lon,
    place_unit_id, responsible_unit_id, district_id, observed_at, reported_at, reporter_id,
    status, close_reason, dispatched_at, due_at, submitted_at, closed_at, escalation_plan,
    rework_count, request_hash, updated_at)
SELECT gen_random_uuid(),
       CASE WHEN i % 10 = 0 THEN 'exposure_video' ELSE 'inspection' END,
       (SELECT min(id) FROM categories) + i % 20, 'normal',
       '路边垃圾堆放未清运，影响市容环境，编号 ' || i,
       36.0 + (i % 1000) * 0.0001, 120.3 + (i % 997) * 0.0001,
       gu.unit_id, gu.unit_id, gu.district_id, at, at,
       (SELECT id FROM users WHERE username = 'inspector'),
       (ARRAY['closed', 'assigned', 'accepted', 'submitted', 'closed'])[i % 5 + 1],
       CASE WHEN i % 5 IN (0, 4) THEN 'rectified' END,
       at, at + interval '2 days',
       CASE WHEN i % 5 IN (0, 3, 4) THEN at + (i % 3) * interval '1 day' + interval '1 hour' END,
       CASE WHEN i % 5 IN (0, 4) THEN at + interval '4 days' END,
       (SELECT plan FROM gen_plan), (i % 7 = 0)::int, md5(i::text), at
FROM generate_series(1, {findings}) AS i
CROSS JOIN LATERAL (
    SELECT timestamptz '2025-12-01 08:00+08' + i * interval '{minutes} minutes' AS at) t
JOIN gen_units gu ON gu.n = i % (SELECT count(*) FROM gen_units);
INSERT INTO escalations (finding_id, level, target, fired_at, due_for, reason,
    target_person_id, target_name, target_title, target_unit_id, target_unit_name,
    responsible_unit_id, district_id, source)
SELECT f.id, lv,
       (ARRAY['unit_head', 'district_head', 'city_leader', 'discipline_commission'])[lv],
       f.due_at + lv * interval '1 day' + interval '3 seconds', f.due_at + lv * interval '1 day',
       'overdue', p.id, p.name, p.title, f.district_id, '示例', f.responsible_unit_id,
       f.district_id, f.source
FROM (SELECT f.*, row_number() OVER (ORDER BY f.reported_at) AS rn FROM findings f
      WHERE f.status IN ('assigned', 'accepted')) f
CROSS JOIN LATERAL (SELECT 1 + (f.rn % 4)::int AS lv) l
JOIN LATERAL (SELECT pe.* FROM posts po JOIN people pe ON pe.id = po.person_id
              WHERE po.unit_id = f.district_id AND po.role = 'head') p ON true
WHERE f.rn <= {escalations};
"""


@pytest.fixture
async def big(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        # The test server commits asynchronously; VACUUM marks a page all-visible (what an
        # index-only scan needs) only once the inserting commit is flushed, as it is here.
        await conn.execute("SET synchronous_commit = on")
        await conn.execute(
            GENERATE.format(
                findings=FINDINGS, escalations=ESCALATIONS, minutes=SPAN_MINUTES / FINDINGS
            )
        )
        await conn.execute("VACUUM ANALYZE findings")
        await conn.execute("VACUUM ANALYZE escalations")
        assert await conn.fetchval(
            "SELECT relallvisible = relpages FROM pg_class WHERE relname = 'findings'"
        )
        assert await conn.fetchval("SELECT count(*) FROM findings") == FINDINGS
        assert await conn.fetchval("SELECT count(*) FROM escalations") == ESCALATIONS
    finally:
        await conn.close()
    return database_url


def indexes_on(table: str, plan: str) -> set[str]:
    return set(re.findall(rf"Index (?:Only )?Scan (?:Backward )?using (\w+) on {table}\b", plan))


def escalations_from_their_roll_up(plan: str, *, windowed: bool) -> None:
    """Escalations come from `escalation_days`; the rows are read only for the partial days
    at a window's ends (the test's window starts and ends off midnight at UTC+8), by the
    firing time's index."""
    assert "on escalation_days" in plan
    assert "Seq Scan on escalations" not in plan, plan
    if windowed:
        assert "Index Cond: ((fired_at >=" in plan, plan
    else:
        assert "on escalations " not in plan, plan


async def light_filter_plans(engine: AsyncEngine, supervisor: Principal) -> dict[str, str]:
    """The traffic light's filters, on the findings and on the escalations' findings, of a
    district: none scans a big table."""
    chosen: dict[str, str] = {}
    for colour in Light:

        async def lit_page(session: AsyncSession, colour: Light = colour) -> Any:
            filters = FindingFilters(district="shinan", light=colour)
            return await list_findings(session, supervisor, filters, now=NOW, limit=51, after=None)

        (plan,) = await plans_of(engine, lit_page, "findings")
        no_seq_scans(plan)
        chosen[f"{colour} findings by district"] = plan

        async def lit_escalations(session: AsyncSession, colour: Light = colour) -> Any:
            filters = EscalationFilters(district="shinan", light=colour)
            clauses = await filter_clauses(session, filters, now=NOW)
            return await list_escalations(session, supervisor, clauses, after=None, limit=51)

        (plan,) = await plans_of(engine, lit_escalations, "escalations")
        no_seq_scans(plan)
        chosen[f"escalations of {colour} findings by district"] = plan
    return chosen


async def test_supervision_queries_use_their_indexes(big: str) -> None:
    engine = make_engine(big, pool_size=2)
    chosen: dict[str, str] = {}
    try:
        async with make_sessionmaker(engine)() as session:
            supervisor = await principal(session, "supervisor")
            leader = await principal(session, "leader.shinan")
            handler = await principal(session, "handler.shinan")

        async def escalations(
            who: Principal, filters: EscalationFilters
        ) -> Callable[[AsyncSession], Awaitable[Any]]:
            async def run(session: AsyncSession) -> Any:
                clauses = await filter_clauses(session, filters)
                rows = await list_escalations(session, who, clauses, after=None, limit=51)
                assert rows
                return rows

            return run

        cases = {
            "escalations by district": (supervisor, EscalationFilters(district="shinan")),
            "escalations by target person": (leader, EscalationFilters()),
            "escalations of a unit subtree (scope)": (handler, EscalationFilters()),
            "escalations of a unit subtree (filter)": (
                supervisor,
                EscalationFilters(unit="shinan.badaguan"),
            ),
            "open escalations of a district, level 2": (
                supervisor,
                EscalationFilters(district="licang", level=2, status="open"),
            ),
        }
        for name, (who, filters) in cases.items():
            (plan,) = await plans_of(engine, await escalations(who, filters), "escalations")
            no_seq_scans(plan)
            assert indexes_on("escalations", plan) - {"pk_escalations"}, plan
            chosen[name] = plan
        assert indexes_on("escalations", chosen["escalations by district"]) >= {
            "ix_escalations_district_fired"
        }
        assert indexes_on("escalations", chosen["escalations by target person"]) >= {
            "ix_escalations_target_person_fired"
        }

        async def findings_page(session: AsyncSession) -> Any:
            return await list_findings(
                session,
                supervisor,
                FindingFilters(district="shinan"),
                now=NOW,
                limit=51,
                after=None,
            )

        (plan,) = await plans_of(engine, findings_page, "findings")
        no_seq_scans(plan)
        assert "ix_findings_district_reported" in plan
        chosen["findings by district"] = plan

        chosen |= await light_filter_plans(engine, supervisor)

        for label, since in (("all time", None), ("one month", datetime(2026, 6, 1, tzinfo=UTC))):
            until = datetime(2026, 7, 1, tzinfo=UTC) if since else None

            async def stats(session: AsyncSession, since: Any = since, until: Any = until) -> Any:
                return await unit_stats(session, "district", since=since, until=until, now=NOW)

            finding_plan, *_ = await plans_of(engine, stats, "findings")
            escalation_plan, *_ = await plans_of(engine, stats, "escalation_days")
            no_seq_scans(finding_plan)
            # Closed findings come from their roll-up, open ones from theirs; the red and
            # yellow ones, which depend on now, from the index of the running ones alone.
            assert "closed_finding_days" in finding_plan
            assert "Index Only Scan using ix_findings_light" in finding_plan, finding_plan
            escalations_from_their_roll_up(escalation_plan, windowed=since is not None)
            chosen[f"stats findings, {label}"] = finding_plan
            chosen[f"stats escalations, {label}"] = escalation_plan

            async with make_sessionmaker(engine)() as session:
                await stats(session)  # warm
                started = time.perf_counter()
                result = await stats(session)
                elapsed = time.perf_counter() - started
            assert sum(s.counts.total for s in result) > 0
            print(f"\nstats/units by district, {label}: {elapsed * 1000:.0f} ms")
    finally:
        await engine.dispose()
    for name, plan in chosen.items():
        used = sorted(indexes_on("findings", plan) | indexes_on("escalations", plan))
        print(f"{name}: {', '.join(used) or 'sequential scan'}")
