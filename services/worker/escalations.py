"""The escalation sweep as worker jobs.

Every `DUBAN_ESCALATION_SWEEP_SECONDS` one worker (a unique cron job) sweeps; when more is
due than one batch, it asks other workers to help by queueing helper sweeps, which claim
their own batches (SKIP LOCKED) until nothing is left. Deliveries are queued only after the
batch has committed. Every job here is idempotent: re-running one re-reads the database.

arq hands a queued job to whichever worker polls first, and a worker takes every job it sees
at once, so left alone one worker can grab all the helpers while the others idle. Each
process therefore runs at most `DRAINS_PER_WORKER` drains at a time, and a sweep job that
lands on a full process queues itself again (a few hops at most) for another worker to pick
up. More concurrent drains in one process would gain little: its Python work is serial.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select

from services.core.calendar.store import load_city_clock
from services.core.escalation.sweep import BatchResult, sweep_batch
from services.core.models import Finding
from services.core.notify.store import DELIVER_JOB, delivery_job_id
from services.core.platform.db import unit_of_work
from services.core.platform.settings import Settings

from . import queue
from .context import JobContext

log = structlog.get_logger("duban.worker.sweep")

# A drain starts with small batches (a few due findings are handed out across workers at
# once, and a lock is held briefly) and doubles them while they come back full, up to
# MAX_BATCH_SIZE: with a backlog, per-batch costs (round trips, the directory, commits) are
# spread over thousands of findings, while a batch still holds its row locks (which a
# handler's transition on one of them waits for) for only a second or so.
BATCH_SIZE = 500
MAX_BATCH_SIZE = 2000
# Delivery jobs queued at once (each is a short WATCH/MULTI exchange with Redis).
ENQUEUE_CONCURRENCY = 64
# How many other workers a busy tick may call in to help.
MAX_HELPERS = 4
# Leave time before the job timeout; the next tick continues where this one stopped.
TIME_BUDGET_SECONDS = 240
# Drains one worker process runs at once: two overlap one's database waits with the other's
# Python work.
DRAINS_PER_WORKER = 2
# How often a sweep job that found its worker full is passed on before it is dropped (the
# drains already running, and the next tick, carry on without it).
MAX_HOPS = 3
HELPER_JOB = "escalation_sweep_helper"


async def enqueue_deliveries(redis: queue.ArqRedis, notification_ids: list[int]) -> None:
    """Queue a delivery job per notification, several in flight at a time rather than one
    round trip after the other. A job lost here (Redis down, worker killed) is re-queued by
    the outbox rescan: the row stays pending in the database."""
    for start in range(0, len(notification_ids), ENQUEUE_CONCURRENCY):
        chunk = notification_ids[start : start + ENQUEUE_CONCURRENCY]
        await asyncio.gather(
            *(
                queue.enqueue(redis, DELIVER_JOB, nid, job_id=delivery_job_id(nid, 0))
                for nid in chunk
            )
        )


async def _one_batch(ctx: JobContext, batch_size: int) -> BatchResult:
    async with unit_of_work(ctx["sessionmaker"]) as session:
        clock = await load_city_clock(session, ctx["settings"])
        result = await sweep_batch(session, clock, datetime.now(UTC), batch_size)
    # only after the commit: a job must never see a notification that was rolled back
    await enqueue_deliveries(ctx["redis"], result.deliveries)
    return result


async def _drain(ctx: JobContext) -> dict[str, int]:
    started = time.monotonic()
    totals = {"claimed": 0, "escalations": 0, "reminders": 0, "deliveries": 0}
    batch_size = BATCH_SIZE
    while time.monotonic() - started < TIME_BUDGET_SECONDS:
        result = await _one_batch(ctx, batch_size)
        totals["claimed"] += result.claimed
        totals["escalations"] += result.escalations
        totals["reminders"] += result.reminders
        totals["deliveries"] += len(result.deliveries)
        if result.claimed < batch_size:
            break
        batch_size = min(MAX_BATCH_SIZE, batch_size * 2)
    if totals["claimed"]:
        log.info("swept", **totals)
    return totals


async def _due_count(ctx: JobContext) -> int:
    """How many findings are due, counted only as far as the helpers it can call for: a full
    count of a 150k backlog cost a third of a second of PostgreSQL per tick, for a number
    that only has to reach (MAX_HELPERS + 1) batches."""
    enough = (MAX_HELPERS + 1) * BATCH_SIZE
    due = (
        select(Finding.id)
        .where(Finding.next_escalation_at <= datetime.now(UTC))
        .limit(enough)
        .subquery()
    )
    async with unit_of_work(ctx["sessionmaker"]) as session:
        count = await session.scalar(select(func.count()).select_from(due))
    return int(count or 0)


class _Drains:
    """Drains running in this worker process (arq copies the job context for every job, so
    the count lives here, one per process)."""

    running = 0


async def _share(ctx: JobContext, hops: int) -> dict[str, int]:
    """Drain here if this process has room, else pass the job on to another worker."""
    if _Drains.running >= DRAINS_PER_WORKER:
        if hops < MAX_HOPS:
            job_id = f"{ctx.get('job_id', 'sweep')}:hop{hops + 1}"
            await queue.enqueue(ctx["redis"], HELPER_JOB, hops + 1, job_id=job_id)
        return {"handed_on": 1}
    _Drains.running += 1
    try:
        return await _drain(ctx)
    finally:
        _Drains.running -= 1


async def escalation_sweep(ctx: JobContext) -> dict[str, int]:
    """The periodic sweep (one per tick across all workers)."""
    due = await _due_count(ctx)
    helpers = min(MAX_HELPERS, math.ceil(due / BATCH_SIZE) - 1)
    tick = ctx.get("job_id", "tick")
    for i in range(max(0, helpers)):
        await queue.enqueue(ctx["redis"], HELPER_JOB, 0, job_id=f"{tick}:help:{i}")
    return await _share(ctx, 0)


async def escalation_sweep_helper(ctx: JobContext, hops: int = 0) -> dict[str, int]:
    """Another worker's share of a busy tick; `hops`: how often it was passed on already."""
    return await _share(ctx, hops)


def sweep_seconds(settings: Settings) -> set[int]:
    """The seconds of each minute at which the sweep runs."""
    step = max(1, min(60, settings.escalation_sweep_seconds))
    return set(range(0, 60, step))
