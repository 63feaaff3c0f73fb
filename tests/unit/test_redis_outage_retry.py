"""A worker's Redis commands ride out a short outage and give up once Redis has been away for
the bound, however redis-py nests its retries: the retry policy of services/worker/queue.py,
driven by calls that fail the way a lost Redis makes them fail."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.core.platform.settings import Settings
from services.worker import settings as worker_settings
from services.worker.queue import OutageClock, OutageRetry

BOUND = 0.6


def failing(times: float, result: str = "ok") -> Callable[[], Awaitable[str]]:
    """A call that fails `times` times (inf: always) as a refused connection does."""
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )
        return result

    return call


async def ignore(error: Any) -> None:
    return None


def gives_up(call: Callable[[], Awaitable[str]]) -> float:
    """Run `call` until it raises a lost Redis's error: how many seconds that took."""
    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        asyncio.run(call())  # type: ignore[arg-type]
    return time.monotonic() - started


def test_a_short_outage_is_ridden_out_and_forgotten() -> None:
    retry = OutageRetry(BOUND, OutageClock())
    assert asyncio.run(retry.call_with_retry(failing(2), ignore)) == "ok"
    assert retry.clock.since is None


def test_a_call_gives_up_once_redis_has_been_away_for_the_bound() -> None:
    retry = OutageRetry(BOUND, OutageClock())
    always = failing(float("inf"))
    assert BOUND <= gives_up(lambda: retry.call_with_retry(always, ignore)) < BOUND + 1.5


def test_a_connect_retried_inside_a_command_still_gives_up_at_the_bound() -> None:
    # redis-py's command retries call connect, which retries by the same policy: with a count
    # per call the two multiplied (30 × 30 tries).
    retry = OutageRetry(BOUND, OutageClock())
    connect = failing(float("inf"))

    async def command() -> str:
        return await retry.call_with_retry(connect, ignore)

    async def outer() -> str:
        return await retry.call_with_retry(command, ignore)

    assert gives_up(outer) < BOUND + 1.5


def test_every_connection_of_the_process_shares_the_outage() -> None:
    # redis-py deep-copies the policy into each connection; once one has waited out the bound,
    # another that meets the same outage gives up at its first failure.
    retry = OutageRetry(BOUND, OutageClock())
    first, second = copy.deepcopy(retry), copy.deepcopy(retry)
    assert first.clock is second.clock is retry.clock
    gives_up(lambda: first.call_with_retry(failing(float("inf")), ignore))
    assert gives_up(lambda: second.call_with_retry(failing(float("inf")), ignore)) < BOUND / 2


def test_the_worker_s_redis_gives_up_at_the_configured_bound(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://duban@127.0.0.1:1/duban",
        redis_url="redis://127.0.0.1:1/0",
        redis_outage_seconds=7,
    )
    retry = worker_settings.build(settings)["redis_settings"].retry
    assert isinstance(retry, OutageRetry)
    assert retry.seconds == 7
    assert Settings.model_fields["redis_outage_seconds"].default == 30  # README says so
