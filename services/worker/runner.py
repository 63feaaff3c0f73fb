"""Keeps one worker process serving across Redis restarts.

arq's Worker dies when Redis goes away under it: most commands ride out a restart on redis-py's
retries, but a connection lost while arq WATCHes a job key surfaces as a WatchError, and a
longer outage exhausts the retries. Rather than let the process die and wait for a supervisor,
the runner closes that Worker, waits (bounded exponential backoff), and opens a new Worker on a
new connection pool. Nothing is lost in between: PostgreSQL is the source of truth, the next
sweep and outbox rescan re-derive whatever Redis lost, and a job cut off mid-run is retried
after its timeout (every job is idempotent).

SIGTERM and SIGINT stop it at any point — polling, connecting, backing off — and it exits 0,
within `STOP_DEADLINE_SECONDS` at worst.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

import structlog

from . import queue
from .queue import Hook, JobContext, QueueWorker

log = structlog.get_logger("duban.worker")

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 10.0
# A Worker that served this long was healthy: the next loss starts the backoff afresh.
STABLE_AFTER_SECONDS = 30.0
# After a Redis error, running jobs may still finish (their own Redis calls retry): they are
# cancelled only after this. On SIGTERM they are cancelled at once, as arq does.
JOB_GRACE_SECONDS = 5.0
# A stop on a signal that overruns this ends the process anyway. With Redis away it can: arq
# shields a cancelled job's bookkeeping writes from cancellation, and they retry for some 30 s.
# Nothing is lost by not waiting: the database holds the truth, as after a SIGKILL.
STOP_DEADLINE_SECONDS = 10.0


def backoff_delay(consecutive_losses: int) -> float:
    """0.5 s, 1 s, 2 s … capped at 10 s."""
    exponent = min(max(consecutive_losses - 1, 0), 32)
    return float(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**exponent))


class Runner:
    def __init__(self, settings_cls: type, *, startup: Hook, shutdown: Hook) -> None:
        self._settings_cls = settings_cls
        self._startup = startup
        self._shutdown = shutdown
        self._ctx: JobContext = {}
        self._started = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._current: asyncio.Task[None] | None = None
        self._worker: QueueWorker | None = None
        self.restarts = 0

    def stop(self, signum: int | None = None) -> None:
        if not self._stopping and signum is not None:
            log.info("worker stopping", signal=signal.Signals(signum).name)
            asyncio.get_running_loop().call_later(STOP_DEADLINE_SECONDS, _exit_overrun)
        self._stopping = True
        self._wake.set()
        if self._current is not None:
            self._current.cancel()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum)

    async def serve(self) -> None:
        losses = 0
        try:
            while not self._stopping:
                began = time.monotonic()
                task = asyncio.create_task(self._incarnation())
                self._current = task
                error: Exception | None = None
                try:
                    await task
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                except queue.REDIS_ERRORS as exc:
                    error = exc
                finally:
                    self._current = None
                    await self._close(0 if self._stopping or error is None else JOB_GRACE_SECONDS)
                if error is None or self._stopping:
                    break
                losses = 1 if time.monotonic() - began >= STABLE_AFTER_SECONDS else losses + 1
                delay = backoff_delay(losses)
                self.restarts += 1
                log.error(
                    "worker lost Redis",
                    error=f"{type(error).__name__}: {error}",
                    restart_in_seconds=delay,
                    restarts=self.restarts,
                )
                await self._sleep(delay)
        finally:
            if self._started:
                await self._shutdown(self._ctx)

    async def _incarnation(self) -> None:
        self._worker = await QueueWorker.open(self._settings_cls, self._ctx)
        if not self._started:
            # Once per process: the database engine and HTTP client outlive every Worker.
            await self._startup(self._ctx)
            self._started = True
        elif self.restarts:
            log.info("worker reconnected to Redis", restarts=self.restarts)
        await self._worker.run()

    async def _close(self, grace_seconds: float) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close(grace_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


def _exit_overrun() -> None:
    log.warning("worker stop overran, exiting without waiting", seconds=STOP_DEADLINE_SECONDS)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def serve(settings_cls: type, *, startup: Hook, shutdown: Hook) -> int:
    runner = Runner(settings_cls, startup=startup, shutdown=shutdown)
    runner.install_signal_handlers()
    await runner.serve()
    return 0
