"""The spatial look-ups use their btree indexes at scale: EXPLAIN on generated data.

50,000 findings are spread uniformly over the city's square (36.0–36.9 N, 120.0–120.9 E)
with generate_series, then analysed. The queries are the real ones — the bbox filter of
GET /findings, run through the code that serves the API while its SQL is captured, and the
intake's look-up (possible duplicates and recurrence in one statement) — EXPLAINed with the
same parameters. Plans are asserted on their shape (which index, never a
sequential scan of findings); the results are checked against a brute-force scan, and the
warm query times are printed for the benchmark note (`pytest -s`).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.core.findings.queries import FindingFilters, list_findings
from services.core.findings.store import look_around, lookup_args
from services.core.platform.db import make_engine, make_sessionmaker
from tests.helpers import no_seq_scans, plans_of, principal

# Enough that an index pays, few enough to load in seconds: 200,000 (four times the load) give
# the same plans.
FINDINGS = 50_000
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
RADIUS_M = 30
WINDOW = timedelta(days=90)

GENERATE = """
INSERT INTO findings (id, source, category_id, severity, description, lat, lon,
    place_unit_id, responsible_unit_id, district_id, observed_at, reported_at, reporter_id,
    status, close_reason, dispatched_at, due_at, submitted_at, closed_at, request_hash,
    updated_at)
SELECT gen_random_uuid(),
       CASE WHEN i % 10 = 0 THEN 'exposure_video' ELSE 'inspection' END,
       (SELECT min(id) FROM categories) + i % 20, 'normal', '生成的问题 ' || i,
       36.0 + random() * 0.9, 120.0 + random() * 0.9,
       u.id, u.id, u.parent_id, at, at, (SELECT id FROM users WHERE username = 'inspector'),
       (ARRAY['closed', 'assigned', 'accepted', 'submitted', 'closed'])[i % 5 + 1],
       CASE i % 5 WHEN 0 THEN 'rectified' WHEN 4 THEN 'invalid' END,
       at, at + interval '2 days', at + interval '1 day',
       CASE WHEN i % 5 IN (0, 4) THEN at + interval '3 days' END, md5(i::text), at
FROM generate_series(1, {rows}) AS i
CROSS JOIN LATERAL (
    SELECT timestamptz '2026-11-26 11:00+08' - (i % 365) * interval '1 day'
        - interval '3 days' AS at) t
JOIN (SELECT id, parent_id FROM units WHERE code = 'shinan.badaguan') u ON true;
"""


@pytest.fixture
async def spread(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        # The test server commits asynchronously; make the load durable before ANALYZE reads it.
        await conn.execute("SET synchronous_commit = on")
        await conn.execute("SELECT setseed(0.42)")
        started = time.perf_counter()
        await conn.execute(GENERATE.format(rows=FINDINGS))
        await conn.execute("VACUUM ANALYZE findings")
        print(
            f"\ngenerated and analysed {FINDINGS} findings in {time.perf_counter() - started:.1f} s"
        )
        assert await conn.fetchval("SELECT count(*) FROM findings") == FINDINGS
    finally:
        await conn.close()
    return database_url


async def timed(engine: AsyncEngine, run: Callable[[AsyncSession], Awaitable[Any]]) -> str:
    """Median and worst of 30 warm runs, each in its own session like a request."""
    samples = []
    for _ in range(31):
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            await run(session)
            samples.append(time.perf_counter() - started)
    samples = samples[1:]
    return f"median {statistics.median(samples) * 1000:.2f} ms, max {max(samples) * 1000:.2f} ms"


def uses(index: str, plan: str, alias: str = "") -> bool:
    on = f"on findings {alias}".rstrip()
    return f"using {index} {on}" in plan or f"Index Scan on {index}" in plan


async def installed_look_around(conn: asyncpg.Connection) -> tuple[str, str]:
    """The argument types and the query of `intake_look_around` as the migrations left it."""
    signature, body = await conn.fetchrow(
        "SELECT pg_get_function_identity_arguments(oid), prosrc FROM pg_proc"
        " WHERE proname = 'intake_look_around'"
    )
    query = body.split("RETURN QUERY", 1)[1].rsplit(";", 1)[0]
    return signature, query


async def generic_plan(conn: asyncpg.Connection, args: list[Any]) -> str:
    """The plan the function runs with (`plan_cache_mode = force_generic_plan`): one for
    every place and caller, so it must range over the index whatever the parameters."""
    signature, query = await installed_look_around(conn)
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute(f"PREPARE look_around ({signature}) AS {query}")
    try:
        # EXECUTE takes no bound parameters: the test's own values, as literals.
        types = [t.strip() for t in signature.split(",")]
        values = ", ".join(f"'{a}'::{t}" for a, t in zip(args, types, strict=True))
        rows = await conn.fetch(f"EXPLAIN EXECUTE look_around({values})")
    finally:
        await conn.execute("DEALLOCATE look_around")
        await conn.execute("RESET plan_cache_mode")
    return "\n".join(r[0] for r in rows)


async def timed_raw(conn: asyncpg.Connection, where: dict[str, Any], who: Any) -> str:
    """Median and worst of 30 warm runs of the intake look-up."""
    samples = []
    for _ in range(31):
        started = time.perf_counter()
        await look_around(conn, **where, caller=who)
        samples.append(time.perf_counter() - started)
    samples = samples[1:]
    return f"median {statistics.median(samples) * 1000:.2f} ms, max {max(samples) * 1000:.2f} ms"


async def test_spatial_lookups_use_the_coordinate_indexes(spread: str) -> None:
    engine = make_engine(spread, pool_size=2)
    report: dict[str, tuple[str, str]] = {}
    try:
        conn = await asyncpg.connect(spread)
        try:
            # A real open finding and a real recently rectified one to look near.
            open_one = await conn.fetchrow(
                "SELECT id, category_id, lat, lon FROM findings WHERE status <> 'closed' "
                "ORDER BY id LIMIT 1"
            )
            rectified = await conn.fetchrow(
                "SELECT id, category_id, lat, lon, responsible_unit_id FROM findings"
                " WHERE close_reason = 'rectified' "
                "AND closed_at >= $1 ORDER BY closed_at DESC, id LIMIT 1",
                NOW - WINDOW,
            )
        finally:
            await conn.close()
        async with make_sessionmaker(engine)() as session:
            supervisor = await principal(session, "supervisor")
            handler = await principal(session, "handler.shinan")

        # 1. GET /findings?bbox= — about 1 km × 1 km in the middle of the city
        bbox = (120.445, 36.445, 120.455, 36.455)

        def findings_in_box(who: Any) -> Callable[[AsyncSession], Awaitable[Any]]:
            async def run(session: AsyncSession) -> Any:
                return await list_findings(
                    session, who, FindingFilters(bbox=bbox), now=NOW, limit=51, after=None
                )

            return run

        for label, who in (("supervisor", supervisor), ("unit-scoped", handler)):
            (plan,) = await plans_of(engine, findings_in_box(who), "findings")
            no_seq_scans(plan)
            assert uses("ix_findings_lat_lon", plan), plan
            report[f"GET /findings?bbox= ({label})"] = (
                plan,
                await timed(engine, findings_in_box(who)),
            )
        async with make_sessionmaker(engine)() as session:
            rows = await findings_in_box(supervisor)(session)
        assert rows
        assert all(36.445 <= f.lat <= 36.455 and 120.445 <= f.lon <= 120.455 for f in rows)

        # 2. the intake's look-up for a new report 5 m north of an open finding: its possible
        # duplicates, and its recurrence (none: the rectified one is elsewhere); routed to the
        # unit every generated finding belongs to
        near_open = {
            "finding_id": uuid.uuid4(),
            "category_id": open_one["category_id"],
            "lat": open_one["lat"] + 5 / 111_195,
            "lon": open_one["lon"],
            "radius_m": RADIUS_M,
            "closed_since": NOW - WINDOW,
            "responsible_unit_id": rectified["responsible_unit_id"],
        }
        # 3. the same look-up 10 m east of a finding rectified within the window
        near_rectified = {
            **near_open,
            "category_id": rectified["category_id"],
            "lat": rectified["lat"],
            "lon": rectified["lon"] + 10 / 111_195 / 0.8,
        }
        conn = await asyncpg.connect(spread)
        try:
            plan = await generic_plan(conn, lookup_args(**near_open, caller=handler))
            no_seq_scans(plan)
            # Each half ranges over the partial index of its own rows: the duplicates (d) over
            # the open findings, the recurrence (c) over the rectified ones.
            assert uses("ix_findings_open_near", plan, alias="d"), plan
            assert uses("ix_findings_rectified_near", plan, alias="c"), plan
            for label, where in (
                ("near an open one", near_open),
                ("near a rectified one", near_rectified),
            ):
                for who_label, who in (("supervisor", supervisor), ("unit-scoped", handler)):
                    report[f"intake look-around {label} ({who_label})"] = (
                        plan,
                        await timed_raw(conn, where, who),
                    )
            found = await look_around(conn, **near_open, caller=supervisor)
            assert open_one["id"] in found.duplicates
            assert set(found.duplicates) == await brute_force(spread, near_open, open_only=True)
            await recurrence_by_unit(conn, near_rectified, rectified, handler)
        finally:
            await conn.close()
    finally:
        await engine.dispose()
    for name, (plan, times) in report.items():
        print(f"\n{name}: {times}\n{plan}")


async def recurrence_by_unit(
    conn: asyncpg.Connection, near: dict[str, Any], rectified: Any, who: Any
) -> None:
    """Near a rectified finding, routed to its unit: a recurrence of it; routed to another
    unit: only a possible one."""
    hit = await look_around(conn, **near, caller=who)
    assert hit.recurred is not None
    assert hit.recurred.id == rectified["id"]
    assert hit.possible_recurrence is None
    assert hit.earlier_visible  # 八大关 lies in the handler's 市南区
    elsewhere = {**near, "responsible_unit_id": rectified["responsible_unit_id"] + 1}
    other = await look_around(conn, **elsewhere, caller=who)
    assert other.recurred is None
    assert other.possible_recurrence == rectified["id"]


async def brute_force(url: str, near: dict[str, Any], *, open_only: bool) -> set[uuid.UUID]:
    """The same question answered by reading every row (no index can help this one)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM findings WHERE category_id = $1 AND ($4 = false OR status <> 'closed')"
            " AND sqrt(((lon - $3) * cos(radians((lat + $2) / 2))) ^ 2 + (lat - $2) ^ 2)"
            " * 111195 <= $5",
            near["category_id"],
            near["lat"],
            near["lon"],
            open_only,
            float(RADIUS_M),
        )
    finally:
        await conn.close()
    return {r["id"] for r in rows}
