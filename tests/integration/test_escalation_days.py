"""The escalations roll-up (`escalation_days`, migration 0011) stays exactly equal to the rows.

The campaign of test_stats fires its escalations through the sweep; then escalations are
corrected, moved, inserted in bulk, deleted and truncated in SQL, as a DBA or a bulk load
would. After every step the roll-up is compared with the same counts recomputed from
`escalations`, and `escalation_counts` for windows with and without partial days with a
count over the rows (what the statistics did before the roll-up).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from services.core.stats.queries import EXPOSURE_SOURCE, escalation_counts
from tests.helpers import Login, build_campaign, execute, query, windows_around

RECOMPUTED = """
SELECT ((fired_at AT TIME ZONE 'UTC') + interval '8 hours')::date, responsible_unit_id, level,
       source = 'exposure_video', count(*)::int
FROM escalations WHERE responsible_unit_id IS NOT NULL GROUP BY 1, 2, 3, 4
"""
ROLLED_UP = """
SELECT day, responsible_unit_id, level, exposure, sum(escalations)::int
FROM escalation_days GROUP BY 1, 2, 3, 4 HAVING sum(escalations) <> 0
"""
# Copies of every escalation at levels 11-14: the unique (finding, level) holds, and none of
# them has notifications, so they can be deleted again.
BULK = """
INSERT INTO escalations (finding_id, level, target, fired_at, due_for, reason,
    target_person_id, target_name, target_title, target_unit_id, target_unit_name,
    responsible_unit_id, district_id, source)
SELECT finding_id, level + 10, target, fired_at - interval '1 day' * level, due_for, reason,
    target_person_id, target_name, target_title, target_unit_id, target_unit_name,
    responsible_unit_id, district_id, source
FROM escalations WHERE level < 10
"""


async def assert_in_step(database_url: str) -> None:
    rolled = sorted(tuple(r) for r in await query(database_url, ROLLED_UP))
    assert rolled == sorted(tuple(r) for r in await query(database_url, RECOMPUTED))


async def counts_from_rows(
    database_url: str, since: datetime | None, until: datetime | None
) -> Counter[tuple[int, int, bool]]:
    rows = await query(
        database_url,
        "SELECT responsible_unit_id, level, source, fired_at FROM escalations"
        " WHERE responsible_unit_id IS NOT NULL",
    )
    return Counter(
        (unit, level, source == EXPOSURE_SOURCE)
        for unit, level, source, at in rows
        if (since is None or at >= since) and (until is None or at < until)
    )


async def test_roll_up_stays_equal_to_the_rows_and_the_counts_to_a_count_of_them(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    await assert_in_step(database_url)
    await build_campaign(client, login, factory, settings, database_url)
    await assert_in_step(database_url)
    fired = await query(database_url, "SELECT count(*) FROM escalations")
    assert fired[0][0] > 0

    ((first, last),) = await query(
        database_url, "SELECT min(id), max(id) FROM escalations WHERE level < 10"
    )
    one, other = {"e": first}, {"e": last}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("UPDATE escalations SET acknowledged_at = now() WHERE id = :e", one),
        ("UPDATE escalations SET fired_at = fired_at - interval '3 days' WHERE id = :e", one),
        ("UPDATE escalations SET fired_at = '2026-03-01T23:59:00+08:00' WHERE id = :e", other),
        ("UPDATE escalations SET source = 'exposure_video' WHERE id = :e", other),
        (
            "UPDATE escalations SET responsible_unit_id ="
            " (SELECT id FROM units WHERE code = 'licang.xiaocun') WHERE id = :e",
            one,
        ),
        ("UPDATE escalations SET responsible_unit_id = NULL WHERE id = :e", other),
        (BULK, {}),
        ("DELETE FROM escalations WHERE level > 12", {}),
    ]
    for sql, params in steps:
        await execute(database_url, sql, **params)
        await assert_in_step(database_url)
    # Each transaction writes to a stripe of its own, and the stripes add up.
    assert (await query(database_url, "SELECT count(DISTINCT stripe) FROM escalation_days"))[0][
        0
    ] > 1

    now = datetime.now(UTC)
    windows = [*windows_around(now), (now, now)]  # and an empty one
    async with factory() as session:
        for since, until in windows:
            got: Counter[tuple[int | None, int, bool]] = Counter()
            for unit, level, exposure, n in await session.execute(escalation_counts(since, until)):
                got[(unit, level, exposure)] += n
            expected = await counts_from_rows(database_url, since, until)
            assert +got == expected, (since, until)
    assert (await counts_from_rows(database_url, None, None)).total() > 0

    await execute(database_url, "TRUNCATE escalations CASCADE")
    await assert_in_step(database_url)
    assert await query(database_url, "SELECT count(*) FROM escalation_days") == [(0,)]


@pytest.fixture
async def campaign(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> str:
    """test_stats' campaign, its escalations fired by the sweep: the database's URL."""
    await build_campaign(client, login, factory, settings, database_url)
    return database_url


async def test_two_transactions_firing_for_the_same_unit_and_day_both_commit(
    campaign: str,
) -> None:
    """Two sweep workers' batches at once, for the same units and day: both commit, and the
    roll-up holds the counts of both, each in the stripe it claimed."""
    database_url = campaign
    await execute(database_url, "DELETE FROM escalations WHERE level > 10")

    async def copy(offset: int) -> None:
        await execute(database_url, BULK.replace("level + 10", f"level + {offset}"))

    await asyncio.gather(copy(20), copy(30))
    await assert_in_step(database_url)
    copies = await query(database_url, "SELECT count(*) FROM escalations WHERE level > 20")
    originals = await query(database_url, "SELECT count(*) FROM escalations WHERE level < 10")
    assert copies[0][0] == 2 * originals[0][0] > 0


async def test_an_open_transaction_keeps_its_stripe_to_itself(campaign: str) -> None:
    """A sweep batch left open (a worker frozen mid-batch) must not hold up the other
    worker's batches: no other transaction writes to its stripe, so none waits on its rows."""
    database_url = campaign
    held, other = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        async with held.transaction():
            await held.execute(BULK.replace("level + 10", "level + 20"))
            mine = await held.fetchval("SELECT escalation_days_stripe()")
            # 20 transactions in a row: their ids cover every residue of 16.
            taken = set()
            for _ in range(20):
                async with other.transaction():
                    taken.add(await other.fetchval("SELECT escalation_days_stripe()"))
            assert mine not in taken
            # And another batch, written meanwhile, goes through without waiting.
            await other.execute("SET lock_timeout = '2s'")
            await other.execute(BULK.replace("level + 10", "level + 30"))
    finally:
        await held.close()
        await other.close()
    await assert_in_step(database_url)
