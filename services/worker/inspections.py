"""Overdue inspection tasks as a worker job: reminded, then escalated, like findings, their
notices delivered on the recipients' channels once each batch has committed. One worker per
tick (a unique cron job); idempotent, as the marks and dedupe keys make a second run change
nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from services.core.calendar.store import load_city_clock
from services.core.findings.rules import Clock
from services.core.inspection.overdue import sweep_overdue_tasks
from services.core.platform.db import unit_of_work
from services.core.platform.settings import Settings

from .context import JobContext
from .escalations import enqueue_deliveries

log = structlog.get_logger("duban.worker.tasks")
# Batches per tick at most; the next tick continues.
MAX_BATCHES = 20


async def overdue_task_sweep(ctx: JobContext) -> int:
    """Remind and escalate the overdue inspection tasks; how many notices were written."""
    settings = ctx["settings"]
    total = 0
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx["sessionmaker"]) as session:
            city = await load_city_clock(session, settings)
            swept = await sweep_overdue_tasks(
                session,
                Clock(now=datetime.now(UTC), city=city),
                escalate_after=settings.task_escalate_after_working_days,
            )
        # only after the commit: a job must never see a notification that was rolled back
        await enqueue_deliveries(ctx["redis"], swept.deliveries)
        done = swept.reminded + swept.escalated
        total += done
        if done == 0:
            break
    if total:
        log.info("overdue inspection tasks", notices=total)
    return total


def task_sweep_seconds(settings: Settings) -> set[int]:
    """The seconds of each minute at which the sweep runs (every minute at most once a
    minute when the interval is longer)."""
    step = max(5, min(60, settings.task_sweep_seconds))
    return set(range(0, 60, step))
