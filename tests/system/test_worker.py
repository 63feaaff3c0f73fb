"""The arq worker as it runs in production: a separate process on the real Redis and database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from services.worker import queue
from tests.helpers import Login, Servers, post, wait_for
from tests.workers import WorkerPool, WorkerProcess, health_check, queue_client, worker_env


@pytest.fixture
def pool(servers: Servers, database_url: str, tmp_path: Path, redis: Redis) -> Iterator[WorkerPool]:
    # `redis` flushed the shared test Redis, so no health key from an earlier worker is left.
    with WorkerPool(worker_env(servers, database_url, tmp_path)) as workers:
        yield workers


async def test_a_worker_process_runs_a_job_enqueued_by_name(
    servers: Servers, pool: WorkerPool
) -> None:
    worker = pool.start("w", wait=False)
    redis = await queue_client(servers.redis.url)
    try:
        job = await queue.enqueue(redis, "ping")
        assert job is not None
        assert await job.result(timeout=60, poll_delay=0.1) == "pong"
    finally:
        await redis.aclose()
    assert worker.alive()


def _wait_healthy(env: dict[str, str], worker: WorkerProcess) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.alive(), "the worker died"
        if health_check(env) == 0:
            return True
        time.sleep(0.5)
    return False


def test_the_health_check_passes_only_while_a_worker_runs(pool: WorkerPool) -> None:
    assert health_check(pool.env) == 1
    worker = pool.start("w", wait=False)
    assert _wait_healthy(pool.env, worker)
    assert worker.terminate() == 0


async def test_enqueueing_under_one_job_id_twice_queues_one_job(
    servers: Servers, redis: Redis
) -> None:
    pool = await queue_client(servers.redis.url)
    try:
        first = await queue.enqueue(pool, "ping", job_id="ping-once")
        second = await queue.enqueue(pool, "ping", job_id="ping-once")
    finally:
        await pool.aclose()
    assert first is not None
    assert second is None


async def test_a_worker_folds_the_open_findings_changes_into_their_roll_up(
    pool: WorkerPool, client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    inspector = await login("inspector")
    for _ in range(3):
        await post(client, inspector)
    assert await server_side.fetchval("SELECT count(*) FROM open_finding_changes") >= 3
    worker = pool.start("w", wait=False)
    await wait_for(
        lambda: server_side.fetchval("SELECT count(*) FROM open_finding_changes"),
        lambda left: left == 0,
        within=60,
    )
    assert worker.alive()
    folded = await server_side.fetchval("SELECT sum(findings) FROM open_finding_days")
    assert folded == await server_side.fetchval(
        "SELECT count(*) FROM findings WHERE status <> 'closed'"
    )
