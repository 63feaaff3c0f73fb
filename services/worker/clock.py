"""The clocks beside the ladder as one worker job: suspensions (挂账) resumed at their expected
date, with a reminder to the unit before, and the sign-for deadline (签收时限) reminded, then
escalated to the unit head. One worker per tick (a unique cron job); idempotent, as the
suspensions' states, the findings' marks and the notices' dedupe keys make a second run a
no-op. Deliveries are queued only after the commit."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from services.core.calendar.store import load_city_clock
from services.core.findings.sign_for import sweep_sign_for
from services.core.findings.suspension import sweep_suspensions
from services.core.platform.db import unit_of_work

from .context import JobContext
from .escalations import enqueue_deliveries

log = structlog.get_logger("duban.worker.clock")
# Batches per tick at most; the next tick continues.
MAX_BATCHES = 20
# The seconds of each minute the job runs at.
CLOCK_SWEEP_SECONDS = frozenset({15, 45})


async def clock_sweep(ctx: JobContext) -> dict[str, int]:
    totals = {
        "resumed": 0,
        "suspension_reminders": 0,
        "sign_for_reminders": 0,
        "sign_for_escalations": 0,
    }
    for _ in range(MAX_BATCHES):
        async with unit_of_work(ctx["sessionmaker"]) as session:
            city = await load_city_clock(session, ctx["settings"])
            now = datetime.now(UTC)
            suspensions = await sweep_suspensions(session, city, now)
            sign_for = await sweep_sign_for(session, city, now)
        await enqueue_deliveries(ctx["redis"], suspensions.deliveries + sign_for.deliveries)
        done = {
            "resumed": suspensions.resumed,
            "suspension_reminders": suspensions.reminded,
            "sign_for_reminders": sign_for.reminded,
            "sign_for_escalations": sign_for.escalated,
        }
        for key, value in done.items():
            totals[key] += value
        if not any(done.values()):
            break
    if any(totals.values()):
        log.info("clocks swept", **totals)
    return totals
