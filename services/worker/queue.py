"""The job queue, behind one small module: nothing else in the worker imports arq, so the
queue library can change without touching the jobs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import structlog
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, result_key_prefix
from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker, async_check_health, func, get_kwargs
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core.platform.queue import enqueue

JobContext = dict[str, Any]
JobFunction = Callable[..., Awaitable[Any]]

__all__ = [
    "REDIS_ERRORS",
    "ArqRedis",
    "JobContext",
    "JobFunction",
    "QueueWorker",
    "blocked",
    "check_health",
    "configure_logging",
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


# What escapes arq's Worker when Redis goes away. A job's own exceptions never escape it (arq
# records them as the job's failure), so these come from the worker's polling, health record
# and bookkeeping. WatchError: redis-py's answer to a connection lost while a key is WATCHed
# (arq's poll watches every job it claims), raised without the retries the other commands get.
# OSError: a refused or reset connection (and the builtin TimeoutError) reaching us unwrapped.
# ReadOnlyError: a replica promoted under us answers writes this way until we reconnect.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    WatchError,
    ReadOnlyError,
    OSError,
)

# A cancelled arq job still tries to put itself back in the queue; with Redis gone that write
# retries for a long time, and nobody must wait for it. (Its in-progress mark then expires
# after the job timeout and the job runs again: jobs are idempotent.)
CANCELLED_JOBS_WAIT_SECONDS = 5.0
HEALTH_KEY_DELETE_SECONDS = 2.0

Hook = Callable[[JobContext], Awaitable[None]]


def _options(settings_cls: type) -> dict[str, Any]:
    """The Worker arguments a settings class names (arq's own reading of it; its annotation
    says NameError)."""
    return cast(dict[str, Any], get_kwargs(settings_cls))


class QueueWorker:
    """One arq Worker on a Redis connection pool of its own, made to be thrown away: when Redis
    errors escape it, the runner (services/worker/runner.py) closes it and opens a new one.
    Signals, startup and shutdown belong to the runner, once per process, not to each one."""

    def __init__(self, worker: Worker, pool: ArqRedis) -> None:
        self._worker = worker
        self._pool = pool

    @classmethod
    async def open(cls, settings_cls: type, ctx: JobContext) -> QueueWorker:
        """Connect (arq's `conn_retries`, then a Redis error) and build the Worker."""
        options = _options(settings_cls)
        pool = await create_pool(cast(RedisSettings, options["redis_settings"]))
        try:
            worker = Worker(
                **{
                    **options,
                    "redis_pool": pool,
                    "handle_signals": False,
                    "on_startup": None,
                    "on_shutdown": None,
                    "on_job_start": _log_with_job_id,
                }
            )
        except BaseException:
            await pool.aclose(close_connection_pool=True)
            raise
        # arq swaps an empty context for a new dict: the jobs must see the runner's, which
        # holds the database engine and the HTTP client whatever Worker runs them.
        worker.ctx = ctx
        return cls(worker, pool)

    async def run(self) -> None:
        """Poll and run jobs until cancelled; raises what Redis raises."""
        await self._worker.main()

    async def close(self, grace_seconds: float) -> None:
        """Let running jobs finish for `grace_seconds`, cancel the rest, drop the health record
        and the connections. Bounded in time and silent about Redis errors: Redis may be
        gone."""
        tasks = [t for t in self._worker.tasks.values() if not t.done()]
        if tasks and grace_seconds > 0:
            await asyncio.wait(tasks, timeout=grace_seconds)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCELLED_JOBS_WAIT_SECONDS)
        for task in self._worker.tasks.values():
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: a lost connection is logged once, by the runner
        with contextlib.suppress(*REDIS_ERRORS):
            await asyncio.wait_for(
                self._pool.delete(self._worker.health_check_key), HEALTH_KEY_DELETE_SECONDS
            )
        with contextlib.suppress(*REDIS_ERRORS):
            await self._pool.aclose(close_connection_pool=True)


async def _log_with_job_id(ctx: JobContext) -> None:
    """Every line logged while a job runs names it (`job_id`, `job_try`): arq's own lines about
    it and the job's. arq runs each job in a task of its own and calls this in it, before the
    job's own task is made (which inherits the context)."""
    structlog.contextvars.bind_contextvars(job_id=ctx["job_id"], job_try=ctx["job_try"])


# arq's lines for a job started and finished (`→`, `←`), by their format strings.
_JOB_LINES = frozenset({"%6.2fs → %s(%s)%s", "%6.2fs ← %s ● %s"})


class _IdleAtDebug(logging.Filter):
    """An idle worker writes a line every few seconds: each periodic job (the escalation
    sweep, the outbox rescan …) started and finished, and each health record. Those are
    DEBUG; a job queued for work (a delivery) stays INFO, and so does anything a periodic job
    logs about what it did."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        periodic = record.msg in _JOB_LINES and len(args) > 1 and str(args[1]).startswith("cron:")
        if periodic or str(record.msg).startswith("recording health"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def configure_logging() -> None:
    """arq's own lines (jobs started and finished) through duban's log handler, as JSON lines
    or for a terminal like every other (services/core/platform/logging.py): its loggers keep
    no handler of their own."""
    for name in ("arq", "arq.worker", "arq.connections", "arq.jobs"):
        library = logging.getLogger(name)
        library.handlers = []
        library.propagate = True
    worker = logging.getLogger("arq.worker")
    if not any(isinstance(f, _IdleAtDebug) for f in worker.filters):
        worker.addFilter(_IdleAtDebug())


async def check_health(settings_cls: type) -> int:
    """0 while a worker has recorded its health on this Redis in the last health interval,
    else 1. One attempt, no retries: a health check must answer within its own timeout."""
    options = _options(settings_cls)
    redis = dataclasses.replace(
        cast(RedisSettings, options["redis_settings"]),
        conn_retries=0,
        retry=None,
        retry_on_error=None,
    )
    with contextlib.suppress(*REDIS_ERRORS):
        return await async_check_health(redis, options.get("health_check_key"), None)
    return 1
