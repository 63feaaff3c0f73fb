"""Redis loses everything (restarted without persistence, or FLUSHALL) while the sweep runs
and webhook deliveries are pending, with the workers under `duban up`'s supervisor: a worker
rides the outage out on its retries, or exits on losing Redis and is started again by the
supervisor (services/worker/__main__.py), the outbox rescan queues the deliveries again, and
every escalation and every delivery still happens exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.faults.escalation_stack import (
    SECRET,
    all_delivered,
    assert_exactly_once,
    fault_worker_env,
    outbox,
    webhook_ids,
    webhooks_to,
)
from tests.helpers import Servers, insert_overdue, wait_for
from tests.webhook_receiver import Receiver
from tests.workers import SupervisedWorkers

FINDINGS = 1500
WEBHOOKS = FINDINGS  # the discipline commission's, at every finding's level 4
REDIS_DOWN_SECONDS = 2
# Some 25-45 s on an idle 2-core machine; on one shared with other test runs (load 8) the
# 1500 deliveries have taken longer than 60 s with both workers alive throughout.
DELIVERED_WITHIN = 120


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def lose_redis(how: str, servers: Servers, redis: Redis) -> None:
    if how == "flushall":
        await redis.flushall()
        return
    port = servers.redis.port
    await asyncio.to_thread(servers.redis.stop)
    await asyncio.sleep(REDIS_DOWN_SECONDS)
    await asyncio.to_thread(servers.redis.start, port=port)


@pytest.mark.parametrize("how", ["restart", "flushall"])
async def test_redis_loses_everything_during_a_sweep_with_deliveries_pending(
    how: str,
    servers: Servers,
    database_url: str,
    tmp_path: Path,
    redis: Redis,
    db: asyncpg.Connection,
) -> None:
    # Not listening yet: every delivery fails and waits for its retry.
    receiver = Receiver(SECRET)
    await webhooks_to(db, receiver.url, unit="jiwei")
    try:
        with SupervisedWorkers(fault_worker_env(servers, database_url, tmp_path)) as pool:
            a, b = pool.start("a", wait=False), pool.start("b", wait=False)
            a.wait_started()
            b.wait_started()
            await insert_overdue(db, database_url, FINDINGS)
            at_loss, _ = await wait_for(
                lambda: outbox(db), lambda o: o["webhooks"] > 0, within=30, interval=0.01
            )
            await lose_redis(how, servers, redis)
            lost_at = time.monotonic()
            assert at_loss["pending"] > 0, "the sweep was over before Redis lost its data"
            receiver.start()
            try:
                final, _ = await wait_for(
                    lambda: outbox(db), all_delivered(WEBHOOKS), within=DELIVERED_WITHIN
                )
            except AssertionError:
                print("ALIVE", {name: w.alive() for name, w in pool.workers.items()})
                print("RESTARTS", {name: w.restarts for name, w in pool.workers.items()})
                stuck = await db.fetch(
                    "SELECT id, attempts, next_attempt_at, status FROM notifications "
                    "WHERE channel = 'webhook' AND status <> 'sent'"
                )
                for r in stuck:
                    keys = await redis.keys(f"arq:*deliver:{r['id']}:*")
                    print("STUCK", dict(r), keys, [await redis.ttl(k) for k in keys])
                raise
            took = time.monotonic() - lost_at
            exits = {name: len(w.events("worker lost Redis")) for name, w in pool.workers.items()}
            restarts = {name: w.restarts for name, w in pool.workers.items()}
            # Each serving again (a worker that exited has come back) ...
            for w in pool.workers.values():
                await asyncio.to_thread(w.wait_restarted, w.restarts)
            # ... and stopped cleanly.
            exit_codes = await asyncio.to_thread(pool.stop_all)
            assert exit_codes == {"a": 0, "b": 0}, exit_codes
            retried = await db.fetchval(
                "SELECT count(*) FROM notifications WHERE channel = 'webhook' AND attempts > 1"
            )
    finally:
        receiver.stop()

    assert_exactly_once(final, FINDINGS, WEBHOOKS)
    successes = Counter(h.key for h in receiver.hits if 200 <= h.status < 300)
    assert set(successes) == await webhook_ids(db)
    assert set(successes.values()) == {1}, "a delivery reached the receiver twice"
    print(
        f"\nRedis {how} at {at_loss['escalations']} of {FINDINGS * 4} escalations, "
        f"{at_loss['webhooks']} webhooks queued ({at_loss['webhooks_attempted']} tried): "
        f"all {WEBHOOKS} delivered {took:.1f}s later "
        f"({retried} after failed attempts), each once; workers exiting on losing Redis "
        f"{exits}, restarted by the supervisor {restarts}"
    )
