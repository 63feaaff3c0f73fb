"""The job queue, behind one small module: nothing else in the worker imports arq, so the
queue library can change without touching the jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, result_key_prefix
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, func
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core.jobqueue import enqueue

JobContext = dict[str, Any]
JobFunction = Callable[..., Awaitable[Any]]

__all__ = [
    "ArqRedis",
    "JobContext",
    "JobFunction",
    "blocked",
    "connect",
    "enqueue",
    "every",
    "functions",
    "redis_settings",
    "weekly",
]


def redis_settings(url: str) -> RedisSettings:
    # A worker started before Redis is up keeps retrying instead of dying at once.
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    # A running worker rides out a Redis restart (some 30 s of retries per command) instead of
    # dying at its next poll; the outbox rescan then re-queues whatever Redis lost.
    # (OSError: "connection refused" while it restarts reaches the retry unwrapped.)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
    settings.retry = Retry(ExponentialBackoff(cap=1, base=0.05), retries=30)
    return settings


def functions(
    jobs: Sequence[JobFunction],
    *,
    timeout_seconds: int = 300,
    keep_result_seconds: int | None = None,
) -> list[Function]:
    """`keep_result_seconds=0` frees a job's id as soon as it finishes, so the same id can be
    queued again (by default arq keeps the result, and blocks the id, for an hour)."""
    return [
        func(cast(WorkerCoroutine, job), timeout=timeout_seconds, keep_result=keep_result_seconds)
        for job in jobs
    ]


def every(job: JobFunction, seconds: set[int], *, timeout_seconds: int = 300) -> CronJob:
    """A periodic job run by exactly one worker per tick, however many workers there are."""
    return cron(
        cast(WorkerCoroutine, job),
        second=seconds,
        microsecond=0,
        unique=True,
        timeout=timeout_seconds,
        run_at_startup=True,
    )


def weekly(
    job: JobFunction, weekday: int, hour: int, minute: int, *, timeout_seconds: int = 300
) -> CronJob:
    """Once a week (weekday 0 = Monday) at hour:minute in the worker's zone (`timezone` in
    the worker settings; arq otherwise takes the machine's zone), by exactly one worker."""
    return cron(
        cast(WorkerCoroutine, job),
        weekday=weekday,
        hour=hour,
        minute=minute,
        second=0,
        microsecond=0,
        unique=True,
        timeout=timeout_seconds,
    )


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url))


async def blocked(redis: ArqRedis, job_ids: Sequence[str]) -> list[bool]:
    """Whether each job id is held by a job that will not run again: one marked in progress
    (its worker may have been killed; the mark stays until the job timeout) or one with a
    stored result (arq keeps the result of a job whose data Redis lost, for an hour). Either
    way enqueueing under that id is refused."""
    if not job_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.exists(in_progress_key_prefix + job_id, result_key_prefix + job_id)
        return [bool(found) for found in await pipe.execute()]
