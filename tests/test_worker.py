"""The arq worker as it runs in production: a separate process on the real Redis and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.worker import queue
from tests.conftest import Servers

WORKER = "services.worker.settings.WorkerSettings"


def _env(servers: Servers, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": servers.redis.url,
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_LOG_LEVEL": "WARNING",
    }
    return env


def _health_check(env: dict[str, str]) -> int:
    return subprocess.run(
        [sys.executable, "-m", "arq", WORKER, "--check"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


@pytest.fixture
def worker_env(servers: Servers, database_url: str, tmp_path: Path, redis: Redis) -> dict[str, str]:
    # `redis` flushed the shared test Redis, so no health key from an earlier worker is left.
    return _env(servers, database_url, tmp_path)


@pytest.fixture
def worker(worker_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "arq", WORKER], env=worker_env)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


async def test_a_worker_process_runs_a_job_enqueued_by_name(
    servers: Servers, worker: subprocess.Popen[bytes]
) -> None:
    redis = await queue.connect(servers.redis.url)
    try:
        job = await queue.enqueue(redis, "ping")
        assert job is not None
        assert await job.result(timeout=60, poll_delay=0.1) == "pong"
    finally:
        await redis.aclose()
    assert worker.poll() is None


def _wait_healthy(env: dict[str, str], proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker died"
        if _health_check(env) == 0:
            return True
        time.sleep(0.5)
    return False


def test_the_health_check_passes_only_while_a_worker_runs(
    worker_env: dict[str, str],
) -> None:
    assert _health_check(worker_env) == 1
    proc = subprocess.Popen([sys.executable, "-m", "arq", WORKER], env=worker_env)
    try:
        assert _wait_healthy(worker_env, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


async def test_enqueueing_under_one_job_id_twice_queues_one_job(
    servers: Servers, redis: Redis
) -> None:
    pool = await queue.connect(servers.redis.url)
    try:
        first = await queue.enqueue(pool, "ping", job_id="ping-once")
        second = await queue.enqueue(pool, "ping", job_id="ping-once")
    finally:
        await pool.aclose()
    assert first is not None
    assert second is None
