"""The worker across Redis outages, on a real Redis of each test's own (stopped and started again
on the same port) so the shared test Redis is never touched.

A worker rides out a short outage on redis-py's retries. When Redis stays away longer (or a
connection is lost while arq WATCHes a job key), the process says so and exits with
EXIT_REDIS_LOST, and whatever runs it — `duban up`'s supervisor here — starts it again: the
service carries on by itself, and a SIGTERM still stops a worker at once with exit code 0."""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import asyncpg
import pytest

from services.cli.embedded import EmbeddedRedis
from services.worker import queue
from services.worker.__main__ import EXIT_REDIS_LOST
from tests.helpers import Servers, insert_overdue, wait_for
from tests.workers import SupervisedWorker, SupervisedWorkers, WorkerPool, queue_client, worker_env

PINGS = 3000
SHORT_OUTAGE_SECONDS = 1.0
# After the long outage has made the worker give up, Redis stays away this much longer, so
# that the supervisor's new process starts without it (and retries until it is back).
AFTER_GIVING_UP_SECONDS = 1.0
# Shorter than the default 30 s, to spare the suite the wait: what is tested is that the worker
# gives up at the bound it is given.
OUTAGE_SECONDS = 10
# Against a hang, however slow the machine.
EXIT_WITHIN = 150
# What README promises: a worker gives up once Redis has answered nothing for
# DUBAN_REDIS_OUTAGE_SECONDS; the rest is slack for a busy machine (nested retries once made it
# minutes), kept under the default 30 s so that a worker deaf to the setting fails.
GIVES_UP_WITHIN = OUTAGE_SECONDS + 15
STOP_WITHIN = 60


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis", persistent=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def times_lost(worker: SupervisedWorker) -> Callable[[], Awaitable[int]]:
    """A probe for tests.helpers.wait_for: how often the worker has said it lost Redis."""

    async def probe() -> int:
        return len(worker.events("worker lost Redis"))

    return probe


def running(worker: SupervisedWorker) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return worker.alive()

    return probe


@pytest.mark.slow(seconds=20)
async def test_a_worker_that_loses_redis_for_good_exits_to_be_restarted(
    servers: Servers, database_url: str, tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    env = worker_env(servers, database_url, tmp_path) | {
        "DUBAN_REDIS_URL": own_redis.url,
        "DUBAN_REDIS_OUTAGE_SECONDS": str(OUTAGE_SECONDS),
    }
    with WorkerPool(env) as pool:
        worker = pool.start("w")
        went = time.monotonic()
        await asyncio.to_thread(own_redis.stop)
        code = await asyncio.to_thread(worker.proc.wait, EXIT_WITHIN)
        assert time.monotonic() - went <= GIVES_UP_WITHIN
        # Not 0: a restarter must tell it from a requested stop (compose restarts either way).
        assert code == EXIT_REDIS_LOST, worker.log_text()[-4000:]
        (lost,) = worker.events("worker lost Redis")
        assert lost["level"] == "error"
        assert lost["exit_code"] == EXIT_REDIS_LOST


@pytest.mark.slow(seconds=40)
async def test_a_supervised_worker_keeps_sweeping_across_short_and_long_redis_outages(
    servers: Servers, database_url: str, tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    env = worker_env(servers, database_url, tmp_path, sweep_seconds=1) | {
        "DUBAN_REDIS_URL": own_redis.url,
        "DUBAN_REDIS_OUTAGE_SECONDS": str(OUTAGE_SECONDS),
    }
    db = await asyncpg.connect(database_url)
    pending = "SELECT count(*) FROM findings WHERE next_escalation_at IS NOT NULL"

    async def still_pending() -> int:
        return int(await db.fetchval(pending))

    try:
        with SupervisedWorkers(env) as workers:
            worker = workers.start("w")
            redis = await queue_client(own_redis.url)
            try:
                # Two short outages, then a long one: until the worker gives up on Redis
                # (OUTAGE_SECONDS after Redis last answered; EXIT_WITHIN bounds it), so the test
                # waits for the exit rather than guessing a duration past it.
                for outage in ("short", "short", "long"):
                    # A flood of jobs keeps arq claiming (WATCHing) job keys when Redis goes.
                    for _ in range(PINGS):
                        await queue.enqueue(redis, "ping")
                    port = own_redis.port
                    exits = len(worker.events("worker lost Redis"))
                    went = time.monotonic()
                    await asyncio.to_thread(own_redis.stop)
                    # Falling due while Redis is away: swept only once the worker is back.
                    await insert_overdue(db, database_url, 200)
                    if outage == "long":
                        await wait_for(
                            times_lost(worker), partial(operator.lt, exits), within=EXIT_WITHIN
                        )
                        assert time.monotonic() - went <= GIVES_UP_WITHIN
                        await asyncio.sleep(AFTER_GIVING_UP_SECONDS)
                    else:
                        await asyncio.sleep(SHORT_OUTAGE_SECONDS)
                    await asyncio.to_thread(own_redis.start, port=port)
                    started = time.monotonic()
                    down = started - went
                    await wait_for(still_pending, operator.not_, within=120)
                    print(
                        f"\nRedis down {down:.0f} s: all swept {time.monotonic() - started:.1f} s "
                        f"after it was back; so far the worker exited "
                        f"{len(worker.events('worker lost Redis'))}x on losing Redis and was "
                        f"restarted {worker.restarts}x"
                    )
            finally:
                await redis.aclose()
            # The worker that gave up was replaced by a new process, which swept.
            assert worker.restarts >= 1

            # Stopped while Redis is away (retrying, or already on its way out): no hang. The
            # bound only tells a hang (which ends in SIGKILL) from a stop.
            await wait_for(running(worker), bool, within=60)
            await asyncio.to_thread(own_redis.stop)
            await asyncio.sleep(1)
            codes = await asyncio.to_thread(workers.stop_all, STOP_WITHIN)
            assert set(codes.values()) <= {0, EXIT_REDIS_LOST}, worker.log_text()[-4000:]
            await asyncio.to_thread(own_redis.start, port=own_redis.port)
    finally:
        await db.close()
