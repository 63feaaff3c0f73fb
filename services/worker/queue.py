"""The job queue, behind one small module: nothing else in the worker imports arq, so the
queue library can change without touching the jobs. Only arq's public API is used here: the
Worker with its startup and shutdown hooks and its own signal handling, `Job.status()`.

arq delivers at least once, and a job cut off by a killed worker runs again only after its
timeout: every job is idempotent, and PostgreSQL, not Redis, is the source of truth."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timezone, tzinfo
from typing import Any, TypedDict, TypeVar, cast

import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron
from arq.jobs import Job, JobStatus
from arq.typing import StartupShutdown, WorkerCoroutine
from arq.worker import Function, Worker, async_check_health, func
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core.platform.backoff import exponential
from services.core.platform.queue import enqueue

JobFunction = Callable[..., Awaitable[Any]]
T = TypeVar("T")

__all__ = [
    "REDIS_ERRORS",
    "ArqRedis",
    "JobFunction",
    "WorkerOptions",
    "blocked",
    "check_health",
    "configure_logging",
    "enqueue",
    "every",
    "functions",
    "redis_settings",
    "run",
    "weekly",
]

# A Redis command on a lost connection is tried again after 0.1 s, 0.2 s … 1 s apart until
# Redis has not answered for DUBAN_REDIS_OUTAGE_SECONDS: a restart of Redis costs a pause, not
# the process; a longer outage ends the process (services/worker/__main__.py) at that bound.
REDIS_RETRY_BASE_SECONDS = 0.1
REDIS_RETRY_CAP_SECONDS = 1.0
# What a retry waits out: a lost or refused connection, or one that timed out (the builtin
# TimeoutError is an OSError).
_RETRYABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class WorkerOptions(TypedDict):
    """The arq Worker's options that duban sets (services/worker/settings.py)."""

    functions: list[Function]
    cron_jobs: list[CronJob]
    # arq evaluates cron times in this zone (by default the machine's).
    timezone: tzinfo
    # Fill the context every job receives (once per process, after Redis is connected) and
    # release what it holds; they get the context as arq holds it, a plain dict.
    on_startup: StartupShutdown
    on_shutdown: StartupShutdown
    redis_settings: RedisSettings
    health_check_interval: int
    max_jobs: int


class OutageClock:
    """Since when Redis has not answered anything of this process (None while it answers).
    redis-py deep-copies the retry policy into every connection: they all share this clock."""

    def __init__(self) -> None:
        self.since: float | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> OutageClock:
        return self


class OutageRetry(Retry):
    """redis-py's retries bounded by how long Redis has been away, for the whole process,
    instead of by a count per call. redis-py nests a connect's retries inside a command's and
    connects under its pool's lock, so 30 tries per call became 30 × 30 per command, taken by
    the waiting commands one after the other: a worker could wait on a Redis that was gone for
    many minutes. Here every call gives up once Redis has not answered for `seconds`."""

    def __init__(self, seconds: float, clock: OutageClock) -> None:
        # The loop below replaces the base class's, waits included.
        super().__init__(NoBackoff(), retries=-1)
        self.seconds = seconds
        self.clock = clock

    async def call_with_retry(
        self, do: Callable[[], Awaitable[T]], fail: Callable[[Any], Any]
    ) -> T:
        failures = 0
        while True:
            try:
                result = await do()
            except _RETRYABLE as error:
                failures += 1
                await fail(error)
                now = time.monotonic()
                if self.clock.since is None:
                    self.clock.since = now
                if now - self.clock.since >= self.seconds:
                    raise
                await asyncio.sleep(self._wait(failures))
            else:
                self.clock.since = None
                return result

    @staticmethod
    def _wait(failures: int) -> float:
        return exponential(failures, REDIS_RETRY_BASE_SECONDS, REDIS_RETRY_CAP_SECONDS)


def redis_settings(url: str, outage_seconds: float) -> RedisSettings:
    # A worker started before Redis is up keeps retrying instead of dying at once.
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    # A running worker rides out a short Redis restart instead of exiting at its next poll;
    # the outbox rescan then re-queues whatever Redis lost. (OSError: "connection refused"
    # while it restarts reaches the retry unwrapped.)
    settings.retry_on_error = list(_RETRYABLE)
    settings.retry = OutageRetry(outage_seconds, OutageClock())
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


# A job that will not run again under its id: one marked in progress (its worker may have been
# killed; the mark stays until the job timeout) or one with a stored result (arq keeps the
# result of a job whose data Redis lost, for an hour). Either way arq refuses that id.
_BLOCKING = frozenset({JobStatus.in_progress, JobStatus.complete})


async def blocked(redis: ArqRedis, job_ids: Sequence[str]) -> list[bool]:
    """Whether each job id is held by a job that will not run again, so that queueing under it
    would be refused."""
    statuses = await asyncio.gather(*(Job(job_id, redis).status() for job_id in job_ids))
    return [status in _BLOCKING for status in statuses]


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

# How long arq's own close may take: running jobs finish (after a lost Redis; a stop cancels
# them at once), the health record is dropped, `on_shutdown` runs. With Redis away its writes
# would retry for half a minute: past this the process ends without them, losing nothing, as
# after a SIGKILL (a job cut off is run again after its timeout).
CLOSE_SECONDS = 5.0


async def run(options: WorkerOptions) -> None:
    """Run an arq Worker until SIGTERM or SIGINT (then return) or until Redis is lost for
    longer than the retries above (then raise one of REDIS_ERRORS). arq handles the signals,
    calls `on_startup` once it has connected and closes the Worker."""
    worker = Worker(
        functions=options["functions"],
        cron_jobs=options["cron_jobs"],
        # arq annotates it `datetime.timezone`, and takes any tzinfo (it calls datetime.now).
        timezone=cast(timezone, options["timezone"]),
        on_startup=options["on_startup"],
        on_shutdown=options["on_shutdown"],
        redis_settings=options["redis_settings"],
        health_check_interval=options["health_check_interval"],
        max_jobs=options["max_jobs"],
        on_job_start=_log_with_job_id,
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        # arq's signal handler cancels the Worker's main task: a stop.
        if _cancelled():
            raise
    finally:
        await _close(worker)


async def _close(worker: Worker) -> None:
    """arq's close, within CLOSE_SECONDS. A job that a stop cancelled before it began or while
    it was writing its outcome to Redis ends cancelled, and arq's close, which gathers the jobs,
    passes that on at once: the close has then gone as far as it will, but the other jobs are
    still winding down. They are let finish (and log that they will be run again) within the
    same bound, so that nothing the worker writes comes after its `worker stopped`."""
    deadline = asyncio.get_running_loop().time() + CLOSE_SECONDS
    try:
        with contextlib.suppress(TimeoutError, *REDIS_ERRORS):
            await asyncio.wait_for(worker.close(), CLOSE_SECONDS)
    except asyncio.CancelledError:
        if _cancelled():
            raise
        await _others_ended(deadline)


async def _others_ended(deadline: float) -> None:
    """Wait until every other task of this process has ended, or the deadline has passed."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    timeout = deadline - asyncio.get_running_loop().time()
    if others and timeout > 0:
        await asyncio.wait(others, timeout=timeout)


def _cancelled() -> bool:
    """Whether the running task itself is being cancelled (not just something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _log_with_job_id(ctx: dict[str, Any]) -> None:
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


async def check_health(options: WorkerOptions) -> int:
    """0 while a worker has recorded its health on this Redis in the last health interval,
    else 1. One attempt, no retries: a health check must answer within its own timeout."""
    redis = dataclasses.replace(
        options["redis_settings"], conn_retries=0, retry=None, retry_on_error=None
    )
    with contextlib.suppress(*REDIS_ERRORS):
        return await async_check_health(redis)
    return 1
