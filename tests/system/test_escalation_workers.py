"""The escalation sweep run by real arq worker processes on the real database and Redis: on
time, to the right people, exactly once, whatever happens to Redis or to a worker.

Every test starts its workers with a one-second sweep and polls the database with a deadline
rather than sleeping for a fixed time, so a slow machine makes it slower, not red. How late a
level fires (DESIGN §9: one sweep interval plus a second) is a timing claim the benchmark
measures and judges (bench/runner.py, "Firing lag"); here a level must fire at its time or
after it, never before, and the lags are printed.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from tests.helpers import Login, Servers, act, insert_dispatched, insert_overdue, post, wait_for
from tests.photos import attach_after_photo
from tests.workers import (
    WorkerPool,
    WorkerProcess,
    batches_held,
    freeze_holding_a_batch,
    unlocked_pending,
    worker_env,
    xact_status,
)

SWEEP_SECONDS = 1
LEVELS = 4  # the default ladder
# arq runs a sweep job cut off by a killed worker again only after the job's timeout
# (services/worker/queue.every): recovering well within it is the next tick's doing.
SWEEP_JOB_TIMEOUT_SECONDS = 300
MANY = 5_000

T = TypeVar("T")


@pytest.fixture
def pool(servers: Servers, database_url: str, tmp_path: Path, redis: Redis) -> Iterator[WorkerPool]:
    # `redis` flushed the shared test Redis: no job or cron key of an earlier test is left.
    env = worker_env(servers, database_url, tmp_path, sweep_seconds=SWEEP_SECONDS)
    with WorkerPool(env) as workers:
        yield workers


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def start_workers(pool: WorkerPool, *names: str) -> list[WorkerProcess]:
    """Start them side by side (each takes a few seconds to import and connect)."""
    workers = [pool.start(name, wait=False) for name in names]
    for worker in workers:
        worker.wait_started()
    return workers


async def pending(db: asyncpg.Connection) -> int:
    """Findings the sweep still has to look at (cheap: the partial index)."""
    return int(
        await db.fetchval("SELECT count(*) FROM findings WHERE next_escalation_at IS NOT NULL")
    )


async def totals(db: asyncpg.Connection) -> dict[str, int]:
    row = await db.fetchrow(
        """
        SELECT (SELECT count(*) FROM escalations) AS escalations,
               (SELECT count(DISTINCT (finding_id, level)) FROM escalations) AS distinct_levels,
               (SELECT count(DISTINCT finding_id) FROM escalations) AS findings_escalated,
               (SELECT count(*) FROM notifications WHERE kind = 'escalation') AS notifications,
               (SELECT count(DISTINCT dedupe_key) FROM notifications
                 WHERE kind = 'escalation') AS distinct_notifications,
               (SELECT count(*) FROM notifications
                 WHERE channel = 'inbox' AND status = 'sent' AND kind = 'escalation')
                 AS inbox_sent
        """
    )
    assert row is not None
    return dict(row)


def assert_exactly_once(final: dict[str, int], findings: int) -> None:
    assert final["escalations"] == findings * LEVELS, final
    assert final["distinct_levels"] == final["escalations"], final
    assert final["findings_escalated"] == findings, final
    # every target of the demo has a person: one inbox message per escalation, none twice
    # (besides them, the campaign office hears of the escalations that reach nobody else)
    assert final["notifications"] == final["distinct_notifications"] == findings * LEVELS, final
    assert final["inbox_sent"] == findings * LEVELS, final


def swept_by(pool: WorkerPool) -> dict[str, int]:
    """Escalations each worker says it fired (its `swept` log lines)."""
    return {
        name: sum(int(e.get("escalations", 0)) for e in w.events("swept"))
        for name, w in pool.workers.items()
    }


async def fired_span(db: asyncpg.Connection) -> float:
    """Seconds from the first escalation fired to the last."""
    span = await db.fetchval("SELECT max(fired_at) - min(fired_at) FROM escalations")
    return float(span.total_seconds())


def lag_summary(lags: list[timedelta]) -> str:
    secs = sorted(lag.total_seconds() for lag in lags)
    p95 = secs[max(0, round(0.95 * len(secs)) - 1)]
    return (
        f"n={len(secs)} min={secs[0]:.3f}s median={statistics.median(secs):.3f}s "
        f"p95={p95:.3f}s max={secs[-1]:.3f}s"
    )


# -- on time and to the right people ------------------------------------------------------

# Ten seconds between L2 and L3: room for the test to submit in between on a busy machine.
FAST_OFFSETS = (0, 2, 12, 14)
FAST_LEVELS = [
    {
        "level": n,
        "target": target,
        "after": {"duration": f"PT{offset}S"},
        "channels": ["inbox"],
    }
    for n, (target, offset) in enumerate(
        zip(
            ("unit_head", "district_head", "city_leader", "discipline_commission"),
            FAST_OFFSETS,
            strict=True,
        ),
        start=1,
    )
]
# Who each level must reach for a finding of 八大关街道 (市南区), as the demo posts say.
FAST_TARGETS = [
    ("shinan.badaguan", "head"),
    ("shinan", "head"),
    ("shinan", "city_leader"),
    ("jiwei", "head"),
]


async def fast_category(db: asyncpg.Connection) -> None:
    """A two-second limit on the continuous clock, its ladder at +0/+2/+12/+14 s."""
    await db.execute(
        "INSERT INTO escalation_policies (code, name, reminder_at, levels) "
        "VALUES ('seconds', '秒级测试梯度', 0.8, $1::jsonb)",
        json.dumps(FAST_LEVELS),
    )
    await db.execute(
        'INSERT INTO categories (code, name, "group", kind, clock, time_limit, policy_code) '
        "VALUES ('two_seconds', '两秒时限测试', 'city_appearance', 'event', 'continuous', "
        """'{"duration": "PT2S"}', 'seconds')"""
    )


async def escalations_of(db: asyncpg.Connection, fid: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT e.*, u.code AS target_unit_code FROM escalations e "
            "JOIN units u ON u.id = e.target_unit_id WHERE finding_id = $1 ORDER BY level",
            uuid.UUID(fid),
        )
    )


async def post_holder(db: asyncpg.Connection, unit: str, role: str) -> int:
    return int(
        await db.fetchval(
            "SELECT p.person_id FROM posts p JOIN units u ON u.id = p.unit_id "
            "WHERE u.code = $1 AND p.role = $2 AND p.valid_from <= now() "
            "AND (p.valid_to IS NULL OR p.valid_to > now())",
            unit,
            role,
        )
    )


@pytest.mark.slow(seconds=20)
async def test_a_two_second_ladder_fires_each_level_on_time_to_the_right_person_until_submitted(
    pool: WorkerPool, db: asyncpg.Connection, client: AsyncClient, login: Login
) -> None:
    await fast_category(db)
    start_workers(pool, "a", "b")
    inspector, handler = await login("inspector"), await login("handler.shinan.badaguan")
    # The one to be fixed first: when the other's L4 has fired, a sweep has run past the time
    # of this one's L4 too.
    fixed = await post(
        client, inspector, category="two_seconds", location={"lat": 36.0671, "lon": 120.3566}
    )
    kept = await post(client, inspector, category="two_seconds")
    assert (await act(client, handler, fixed["id"], "accept")).status_code == 200
    await attach_after_photo(client, handler, fixed["id"])
    assert kept["responsible_unit"]["code"] == "shinan.badaguan"
    due = datetime.fromisoformat(kept["due_at"])
    assert due - datetime.fromisoformat(kept["reported_at"]) == timedelta(seconds=2)

    # The first finding is rectified as soon as its L2 has reached the district head.
    await wait_for(lambda: escalations_of(db, fixed["id"]), lambda e: len(e) >= 2, within=60)
    r = await act(client, handler, fixed["id"], "submit", note="已整改")
    assert r.status_code == 200, r.text
    assert r.json()["next_escalation_at"] is None
    fired_before = [e["level"] for e in await escalations_of(db, fixed["id"])]
    assert fired_before[:2] == [1, 2]
    assert len(fired_before) < LEVELS, "submitted only after L4 had fired"

    fired, _ = await wait_for(
        lambda: escalations_of(db, kept["id"]), lambda e: len(e) == 4, within=60
    )
    # at the right moments: due_for is exact, fired_at at it or after it, never before
    assert [e["due_for"] for e in fired] == [due + timedelta(seconds=s) for s in FAST_OFFSETS]
    lags = [e["fired_at"] - e["due_for"] for e in fired]
    assert all(lag >= timedelta(0) for lag in lags), lags
    # to the right people: the holders of the demo posts, each with an inbox message
    expected = [await post_holder(db, unit, role) for unit, role in FAST_TARGETS]
    assert [e["target_person_id"] for e in fired] == expected
    assert [e["target_unit_code"] for e in fired] == [
        "shinan.badaguan",
        "shinan",
        "shinan",
        "jiwei",
    ]
    assert {e["reason"] for e in fired} == {"overdue"}
    accounts = dict(
        await db.fetch(
            "SELECT username, person_id FROM users "
            "WHERE username IN ('leader.shinan', 'leader.city')"
        )
    )
    assert expected[1:3] == [accounts["leader.shinan"], accounts["leader.city"]]
    inbox = await db.fetch(
        "SELECT escalation_id, recipient_person_id FROM notifications "
        "WHERE finding_id = $1 AND kind = 'escalation' AND channel = 'inbox' AND status = 'sent'",
        uuid.UUID(kept["id"]),
    )
    assert sorted((n["escalation_id"], n["recipient_person_id"]) for n in inbox) == [
        (e["id"], e["target_person_id"]) for e in fired
    ]

    # Stopped when submitted: nothing more, though a sweep has run past its L4's time.
    assert datetime.fromisoformat(fixed["due_at"]) <= due
    assert [e["level"] for e in await escalations_of(db, fixed["id"])] == fired_before
    assert await pending(db) == 0
    lags += [e["fired_at"] - e["due_for"] for e in await escalations_of(db, fixed["id"])]
    print(f"\nfiring lag, two-second ladder: {lag_summary(lags)}")


async def test_200_findings_falling_due_while_the_workers_run_fire_on_time_or_after(
    pool: WorkerPool, db: asyncpg.Connection, database_url: str
) -> None:
    start_workers(pool, "a", "b")
    # deadlines spread over four seconds from two seconds on, so they meet the ticks at every
    # phase; the reminder is marked sent, so each is looked at exactly at its L1
    await insert_dispatched(
        db,
        database_url,
        200,
        due="now() + interval '2 seconds' + (g % 40) * interval '100 milliseconds'",
        reminded=True,
    )
    await wait_for(
        lambda: db.fetchval("SELECT count(*) FROM escalations"), lambda n: n == 200, within=60
    )
    rows = await db.fetch("SELECT finding_id, level, fired_at - due_for AS lag FROM escalations")
    assert {r["level"] for r in rows} == {1}
    assert len({r["finding_id"] for r in rows}) == 200
    lags = [r["lag"] for r in rows]
    print(f"\nfiring lag, 200 findings: {lag_summary(lags)}")
    assert all(lag >= timedelta(0) for lag in lags), lag_summary(lags)


# -- exactly once, with two workers, a flushed Redis and a killed worker ------------------


async def test_two_workers_share_5000_overdue_findings_and_fire_each_level_once(
    pool: WorkerPool, db: asyncpg.Connection, database_url: str
) -> None:
    start_workers(pool, "a", "b")
    await insert_overdue(db, database_url, MANY)
    _, took = await wait_for(lambda: pending(db), lambda n: n == 0, within=60)
    assert_exactly_once(await totals(db), MANY)
    share = swept_by(pool)
    print(
        f"\ntwo workers: {MANY} findings x {LEVELS} levels done {took:.1f}s after the insert "
        f"(first to last firing {await fired_span(db):.1f}s); escalations per worker {share}"
    )
    assert sum(share.values()) == MANY * LEVELS
    assert all(share.values()), f"one worker did everything: {share}"


async def test_flushall_in_the_middle_of_a_sweep_loses_and_duplicates_nothing(
    pool: WorkerPool, db: asyncpg.Connection, database_url: str, redis: Redis
) -> None:
    start_workers(pool, "a", "b")
    await insert_overdue(db, database_url, MANY)
    await wait_for(lambda: pending(db), lambda n: n < MANY, within=30, interval=0.01)
    await redis.flushall()
    assert await pending(db) > 0, "the sweep was over before Redis was flushed"
    await wait_for(lambda: pending(db), lambda n: n == 0, within=60)
    assert_exactly_once(await totals(db), MANY)
    assert all(w.alive() for w in pool.workers.values())


@pytest.mark.slow(seconds=25)
async def test_a_worker_killed_holding_a_batch_loses_nothing_and_the_next_tick_recovers(
    pool: WorkerPool, db: asyncpg.Connection, database_url: str
) -> None:
    victim, survivor = start_workers(pool, "victim", "survivor")
    await insert_overdue(db, database_url, MANY)
    await wait_for(lambda: pending(db), lambda n: n < MANY, within=30, interval=0.01)
    victim_ports = await freeze_holding_a_batch(db, victim, "findings", within=30)
    xids = await batches_held(db, victim_ports, "findings")

    # While the victim is frozen the survivor sweeps everything else and goes idle: what is
    # left is the victim's claim alone, which only a later tick can pick up.
    async def survivor_done() -> bool:
        return await unlocked_pending(db, "findings") == 0 and not await batches_held(
            db, survivor.local_ports(), "findings"
        )

    await wait_for(survivor_done, bool, within=60)
    held = await pending(db)
    assert held > 0
    victim.kill()
    killed = time.monotonic()

    # the database rolls the claim back as soon as the connection drops ...
    async def statuses() -> set[str]:
        return {await xact_status(db, xid) for xid in xids}

    await wait_for(statuses, lambda found: found == {"aborted"}, within=60)
    # ... and the survivor's next tick takes it over. The killed job itself would be retried
    # by arq only after its timeout (minutes): nothing waits for that.
    await wait_for(lambda: pending(db), lambda n: n == 0, within=SWEEP_JOB_TIMEOUT_SECONDS / 3)
    recovery = time.monotonic() - killed
    print(
        f"\nworker killed holding {held} findings in {len(xids)} batches; "
        f"all swept {recovery:.1f}s later"
    )
    assert_exactly_once(await totals(db), MANY)
