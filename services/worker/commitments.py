"""Overdue commitments as a worker job: each level of their own ladder fired once, ever.
One worker per tick (a unique cron job); any number may run it at once all the same, as
the claim skips locked rows and the unique keys make a second firing impossible. Deliveries
are queued only after the batch has committed."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from services.core.calendar.store import load_city_clock
from services.core.commitments.sweep import sweep_commitments
from services.core.platform.db import unit_of_work

from .context import JobContext
from .escalations import enqueue_deliveries

log = structlog.get_logger("duban.worker.commitments")
BATCH_SIZE = 200
# Batches per tick at most; the next tick continues.
MAX_BATCHES = 20


async def commitment_sweep(ctx: JobContext) -> int:
    """Fire the due levels of the overdue commitments; how many fired."""
    fired = 0
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx["sessionmaker"]) as session:
            clock = await load_city_clock(session, ctx["settings"])
            result = await sweep_commitments(session, clock, datetime.now(UTC), BATCH_SIZE)
        await enqueue_deliveries(ctx["redis"], result.deliveries)
        fired += result.escalations
        if result.claimed < BATCH_SIZE:
            break
    if fired:
        log.info("overdue commitments escalated", escalations=fired)
    return fired
