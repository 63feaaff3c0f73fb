"""The job queue, behind one small module: nothing else in the worker imports arq, so the
queue library can change without touching the jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, func

from services.core.jobqueue import enqueue

JobContext = dict[str, Any]
JobFunction = Callable[..., Awaitable[Any]]

__all__ = [
    "ArqRedis",
    "JobContext",
    "JobFunction",
    "connect",
    "enqueue",
    "every",
    "functions",
    "redis_settings",
]


def redis_settings(url: str) -> RedisSettings:
    # A worker started before Redis is up keeps retrying instead of dying at once.
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
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


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url))
