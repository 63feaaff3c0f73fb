"""The worker across Redis restarts (services/worker/runner.py), on a real Redis of each test's
own (stopped and started again on the same port) so the shared test Redis is never touched.

arq's Worker dies when a Redis error escapes it (a WATCH on a lost connection, or an outage
longer than redis-py's retries); the runner closes it and opens a new one, so the process
keeps serving, and a SIGTERM still stops it at once with exit code 0."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from services.cli.embedded import EmbeddedRedis
from services.worker import queue
from services.worker.queue import JobContext
from services.worker.runner import Runner
from tests.helpers import Servers, insert_overdue
from tests.workers import WorkerPool, worker_env

PINGS = 3000
STOP_WITHIN = 60  # seconds: a stop, however slow the machine, against a hang


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis", persistent=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def restart(server: EmbeddedRedis, down_seconds: float) -> None:
    port = server.port
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(down_seconds)
    await asyncio.to_thread(server.start, port=port)


async def until(check: Callable[[], Awaitable[bool] | bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within}s: {what}")


# -- the runner in this process: every Redis error escapes at once ---------------------------


async def tick(ctx: JobContext) -> None:
    ctx["ticks"].append(time.monotonic())


async def test_the_runner_replaces_a_worker_that_redis_errors_escaped(
    own_redis: EmbeddedRedis,
) -> None:
    # Next to no retries: the outage reaches the runner within a second, as a WatchError or a
    # long outage does in production.
    fast = dataclasses.replace(
        queue.redis_settings(own_redis.url),
        conn_retries=0,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.05), retries=2),
    )
    settings_cls = type(
        "TickSettings",
        (),
        {
            "cron_jobs": [queue.every(tick, set(range(60)), timeout_seconds=10)],
            "redis_settings": fast,
            "health_check_interval": 1,
        },
    )
    contexts: list[JobContext] = []
    shutdowns: list[JobContext] = []

    async def startup(ctx: JobContext) -> None:
        ctx["ticks"] = []
        contexts.append(ctx)

    async def shutdown(ctx: JobContext) -> None:
        shutdowns.append(ctx)

    runner = Runner(settings_cls, startup=startup, shutdown=shutdown)
    serving = asyncio.create_task(runner.serve())
    try:
        await until(lambda: bool(contexts) and len(contexts[0]["ticks"]) >= 2, 60, "ticking")
        port = own_redis.port
        await asyncio.to_thread(own_redis.stop)
        await until(lambda: runner.restarts >= 1, 60, "the runner noticed the outage")
        assert not serving.done()
        await asyncio.to_thread(own_redis.start, port=port)
        seen = len(contexts[0]["ticks"])
        await until(lambda: len(contexts[0]["ticks"]) >= seen + 2, 60, "ticking again")
    finally:
        runner.stop()
        await asyncio.wait_for(serving, 60)
    # One startup and one shutdown for the process, however many Workers it took.
    assert len(contexts) == 1
    assert shutdowns == contexts


# -- the worker process, as production runs it -----------------------------------------------


@pytest.mark.slow
async def test_a_worker_process_keeps_sweeping_after_redis_is_restarted_under_it(
    servers: Servers, database_url: str, tmp_path: Path, own_redis: EmbeddedRedis
) -> None:
    env = worker_env(servers, database_url, tmp_path, sweep_seconds=1) | {
        "DUBAN_REDIS_URL": own_redis.url
    }
    db = await asyncpg.connect(database_url)
    pending = "SELECT count(*) FROM findings WHERE next_escalation_at IS NOT NULL"
    try:
        with WorkerPool(env) as pool:
            worker = pool.start("w")
            redis = await queue.connect(own_redis.url)
            try:
                for round_ in range(3):
                    await insert_overdue(db, database_url, 200)
                    # A flood of jobs keeps arq claiming (WATCHing) job keys when Redis goes:
                    # what used to kill the process.
                    for _ in range(PINGS):
                        await queue.enqueue(redis, "ping")
                    await restart(own_redis, 1.0)

                    async def swept() -> bool:
                        return bool(await db.fetchval(pending) == 0)

                    await until(swept, 60, f"sweeping after restart {round_ + 1}")
                    assert worker.alive(), worker.log_text()[-4000:]
            finally:
                await redis.aclose()
            print(f"\nWorker recreated in-process {len(worker.events('worker lost Redis'))}x")

            # Stopped while Redis is away (connecting, retrying or backing off): no hang. The
            # bound only tells a hang from a stop; how fast it stops is not timed here.
            await asyncio.to_thread(own_redis.stop)
            await asyncio.sleep(1)
            worker.proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(worker.proc.wait, STOP_WITHIN)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"SIGTERM did not stop the worker in {STOP_WITHIN} s:\n"
                    + worker.log_text()[-6000:]
                ) from None
            assert code == 0, worker.log_text()[-4000:]
            await asyncio.to_thread(own_redis.start, port=own_redis.port)
    finally:
        await db.close()
