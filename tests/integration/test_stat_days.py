"""The roll-ups of closed and of open findings stay exactly equal to the rows, and windows
split exactly.

The campaign of test_stats is built through the API (reports, accept, submit, reject,
verify, close as invalid, the sweep); then closed and open rows are corrected, moved, closed,
deleted and inserted in SQL, as a DBA or a bulk load would. After every step
`closed_finding_days`, and `open_finding_days` with the changes not folded yet, are compared
with the same figures recomputed from `findings`, some steps folding first; and the ranking
for windows with and without partial days, before and after a fold, with a single query over
the rows (what the statistics did before the roll-ups).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import CLOCK_RUNNING
from services.core.platform.db import unit_of_work
from services.core.platform.settings import Settings
from services.core.stats.queries import EXPOSURE_SOURCE, finding_counts, ranking, unit_stats
from services.core.stats.store import fold_open_changes
from tests.helpers import Login, act, build_campaign, execute, post, query, windows_around

RECOMPUTED = """
SELECT ((reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
       coalesce(responsible_unit_id, 0), source = 'exposure_video', close_reason,
       count(*)::int,
       count(*) FILTER (WHERE close_reason = 'rectified' AND submitted_at <= due_at)::int,
       count(*) FILTER (WHERE rework_count > 0)::int,
       count(*) FILTER (WHERE recurrence_of IS NOT NULL)::int
FROM findings WHERE status = 'closed' GROUP BY 1, 2, 3, 4
"""
ROLLED_UP = """
SELECT day, responsible_unit_id, exposure, close_reason, findings, on_time, rework, recurrences
FROM closed_finding_days WHERE (findings, on_time, rework, recurrences) <> (0, 0, 0, 0)
"""
OPEN_RECOMPUTED = """
SELECT ((reported_at AT TIME ZONE 'UTC') + interval '8 hours')::date,
       coalesce(responsible_unit_id, 0), source = 'exposure_video', count(*)::int,
       count(*) FILTER (WHERE rework_count > 0)::int,
       count(*) FILTER (WHERE recurrence_of IS NOT NULL)::int
FROM findings WHERE status <> 'closed' GROUP BY 1, 2, 3
"""
OPEN_ROLLED_UP = """
SELECT day, responsible_unit_id, exposure, sum(findings)::int, sum(rework)::int,
       sum(recurrences)::int
FROM (SELECT day, responsible_unit_id, exposure, findings, rework, recurrences
      FROM open_finding_days
      UNION ALL
      SELECT day, responsible_unit_id, exposure, findings, rework, recurrences
      FROM open_finding_changes) o
GROUP BY 1, 2, 3 HAVING (sum(findings), sum(rework), sum(recurrences)) <> (0, 0, 0)
"""


async def assert_in_step(database_url: str) -> None:
    for rolled_up, recomputed in ((ROLLED_UP, RECOMPUTED), (OPEN_ROLLED_UP, OPEN_RECOMPUTED)):
        rolled = sorted(tuple(r) for r in await query(database_url, rolled_up))
        assert rolled == sorted(tuple(r) for r in await query(database_url, recomputed))


async def fold(factory: async_sessionmaker[AsyncSession]) -> int:
    """What the worker does every few seconds, and commits."""
    async with unit_of_work(factory) as session:
        return await fold_open_changes(session)


async def figures_from_rows(
    database_url: str, since: datetime | None, until: datetime | None, now: datetime
) -> dict[tuple[int | None, bool], tuple[int, ...]]:
    """The findings' figures per responsible unit and exposure flag in one pass over the rows
    (open findings not routed yet under None)."""
    rows = await query(
        database_url,
        "SELECT responsible_unit_id, source, status, close_reason, due_at, submitted_at,"
        " rework_count, recurrence_of, reported_at FROM findings"
        " WHERE responsible_unit_id IS NOT NULL OR status <> 'closed'",
    )
    out: dict[tuple[int | None, bool], list[int]] = {}
    for unit, source, status, reason, due, submitted, rework, recur, at in rows:
        if reason not in (None, "rectified"):
            continue
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        rectified = reason == "rectified"
        facts = (
            True,
            rectified,
            rectified and submitted is not None and due is not None and submitted <= due,
            status in CLOCK_RUNNING and due is not None and due < now,
            rework > 0,
            recur is not None,
        )
        x = out.setdefault((unit, source == EXPOSURE_SOURCE), [0] * 6)
        for i, holds in enumerate(facts):
            x[i] += int(holds)
    return {k: tuple(v) for k, v in out.items()}


async def test_roll_up_stays_equal_to_the_rows_and_the_ranking_to_one_pass(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    await assert_in_step(database_url)
    ids = await build_campaign(client, login, factory, settings, database_url)
    await assert_in_step(database_url)
    assert await query(database_url, "SELECT count(*) FROM closed_finding_days") != [(0,)]

    # More closings through the API: mark a duplicate, close one as invalid.
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    dup = await post(client, inspector)
    r = await act(client, dispatcher, dup["id"], "mark_duplicate", duplicate_of=ids["E"])
    assert r.status_code == 200, r.text
    await assert_in_step(database_url)

    # Corrections of closed rows in SQL: every counted column, the day, the unit, deletion.
    a, b = uuid.UUID(ids["A"]), uuid.UUID(ids["B"])
    steps: list[tuple[str, dict[str, Any]]] = [
        ("UPDATE findings SET rework_count = rework_count + 1 WHERE id = :a", {"a": a}),
        ("UPDATE findings SET submitted_at = due_at + interval '1 day' WHERE id = :a", {"a": a}),
        ("UPDATE findings SET recurrence_of = :b WHERE id = :a", {"a": a, "b": b}),
        ("UPDATE findings SET reported_at = reported_at - interval '40 days' WHERE id = :a",
         {"a": a}),
        ("UPDATE findings SET reported_at = '2026-03-01T23:59:00+08:00' WHERE id = :b", {"b": b}),
        ("UPDATE findings SET description = 'only text' WHERE id = :b", {"b": b}),
        (
            "UPDATE findings SET responsible_unit_id ="
            " (SELECT id FROM units WHERE code = 'licang.xiaocun') WHERE id = :b",
            {"b": b},
        ),
        (
            "INSERT INTO findings (id, source, category_id, severity, description, lat, lon,"
            " responsible_unit_id, district_id, observed_at, reported_at, reporter_id, status,"
            " close_reason, due_at, submitted_at, request_hash)"
            " SELECT gen_random_uuid(), 'exposure_video', category_id, 'normal', 'bulk', lat,"
            " lon, responsible_unit_id, district_id, observed_at, observed_at, reporter_id,"
            " 'closed', 'rectified', due_at, submitted_at, 'bulk' FROM findings"
            " CROSS JOIN generate_series(1, 3) WHERE status = 'closed'",
            {},
        ),
        ("DELETE FROM findings WHERE description = 'bulk' AND ctid IN"
         " (SELECT ctid FROM findings WHERE description = 'bulk' LIMIT 2)", {}),
        # Open rows: every counted column, the day, the unit, closing, reopening, deletion.
        ("UPDATE findings SET rework_count = rework_count + 1 WHERE id = :o", {}),
        ("UPDATE findings SET recurrence_of = :b WHERE id = :o", {"b": b}),
        ("UPDATE findings SET reported_at = reported_at - interval '3 days' WHERE id = :o", {}),
        ("UPDATE findings SET source = 'exposure_video' WHERE id = :o", {}),
        ("UPDATE findings SET description = 'only text', due_at = now() WHERE id = :o", {}),
        (
            "UPDATE findings SET responsible_unit_id ="
            " (SELECT id FROM units WHERE code = 'licang.xiaocun') WHERE id = :o",
            {},
        ),
        ("UPDATE findings SET responsible_unit_id = NULL WHERE id = :o", {}),
        ("UPDATE findings SET status = 'closed', close_reason = 'invalid' WHERE id = :o", {}),
        ("UPDATE findings SET status = 'assigned', close_reason = NULL WHERE id = :o", {}),
        (
            "INSERT INTO findings (id, source, category_id, severity, description, lat, lon,"
            " responsible_unit_id, district_id, observed_at, reported_at, reporter_id, status,"
            " due_at, request_hash)"
            " SELECT gen_random_uuid(), source, category_id, 'normal', 'bulk open', lat, lon,"
            " responsible_unit_id, district_id, observed_at, reported_at, reporter_id,"
            " 'assigned', due_at, 'bulk' FROM findings"
            " CROSS JOIN generate_series(1, 2) WHERE status <> 'closed'",
            {},
        ),
        ("DELETE FROM findings WHERE description = 'bulk open' AND ctid IN"
         " (SELECT ctid FROM findings WHERE description = 'bulk open' LIMIT 3)", {}),
    ]  # fmt: skip
    ((o,),) = await query(
        database_url, "SELECT id FROM findings WHERE status <> 'closed' ORDER BY id LIMIT 1"
    )
    assert await fold(factory) > 0
    assert await fold(factory) == 0
    for step, (sql, params) in enumerate(steps):
        await execute(database_url, sql, **({"o": o} | params if ":o" in sql else params))
        await assert_in_step(database_url)
        if step % 3 == 0:
            await fold(factory)
            await assert_in_step(database_url)
    # Some changes are left unfolded for the ranking's first pass below, none for its second.
    assert await query(database_url, "SELECT count(*) FROM open_finding_changes") != [(0,)]

    # The ranking over windows with and without partial days equals one pass over the rows,
    # with changes not folded yet and then with all of them folded.
    for folded in (False, True):
        if folded:
            await fold(factory)
            assert await query(database_url, "SELECT count(*) FROM open_finding_changes") == [(0,)]
        now = datetime.now(UTC)
        windows = windows_around(now)
        async with factory() as session:
            for since, until in windows:
                got: dict[tuple[int | None, bool], list[int]] = {}
                for row in await session.execute(finding_counts(since, until, now)):
                    x = got.setdefault((row[0], row[1]), [0] * 6)
                    for i, n in enumerate(row[2:8]):
                        x[i] += int(n)
                expected = await figures_from_rows(database_url, since, until, now)
                assert {k: tuple(v) for k, v in got.items() if any(v)} == expected, (since, until)
                stats = await unit_stats(session, "district", since=since, until=until, now=now)
                # every routed finding lies under exactly one district
                routed = sum(v[0] for k, v in expected.items() if k[0] is not None)
                assert sum(s.counts.total for s in stats) == routed
            # The same pass counts the open findings reported in each window asked for.
            bounded = [(a, b) for a, b in windows if a is not None and b is not None]
            ranked = await ranking(
                session, "district", since=None, until=None, now=now, windows=bounded
            )
            assert ranked.units == await unit_stats(
                session, "district", since=None, until=None, now=now
            )
            open_in = [
                n
                for ((n,),) in [
                    await query(
                        database_url,
                        "SELECT count(*) FROM findings WHERE status <> 'closed'"
                        " AND reported_at >= :a AND reported_at < :b",
                        a=a,
                        b=b,
                    )
                    for a, b in bounded
                ]
            ]
            assert ranked.open_reported == open_in
            assert sum(open_in) > 0


async def test_ranking_refuses_windows_outside_its_own(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    # The open findings outside [since, until) are not read: such a window would count short.
    now = datetime.now(UTC)
    async with factory() as session:
        with pytest.raises(ValueError, match="within"):
            await ranking(
                session, "district", since=now, until=None, now=now,
                windows=[(now - timedelta(days=7), now)],
            )  # fmt: skip
        ranked = await ranking(
            session, "district", since=now - timedelta(days=7), until=None, now=now,
            windows=[(now - timedelta(days=7), now)],
        )  # fmt: skip
        assert ranked.open_reported == [0]
