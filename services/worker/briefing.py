"""The weekly briefing (通报) job: every Monday at 08:00 in the city's zone, the edition of the
week that has just ended.

Idempotent: a week has one stored edition, and running the job again (a retry, a second
worker, a manual run) replaces it with the same figures recomputed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog

from services.core.platform.db import unit_of_work
from services.core.stats.briefing import generate, last_full_week

from .context import JobContext

log = structlog.get_logger("duban.worker.briefing")

# When the cron fires (weekday 0 = Monday, in the worker's zone, which settings.py sets to the
# city's zone).
WEEKDAY, HOUR, MINUTE = 0, 8, 0


async def weekly_briefing(ctx: JobContext, now: datetime | None = None) -> str:
    """Generate and store the last full week's briefing as of `now`; returns the week."""
    now = now or datetime.now(UTC)
    tz = ZoneInfo(ctx["settings"].timezone)
    year, number = last_full_week(now, tz)
    async with unit_of_work(ctx["sessionmaker"]) as session:
        briefing = await generate(
            session, year, number, tz, now, blind_days=ctx["settings"].blind_spot_days
        )
    log.info(
        "weekly briefing",
        week=briefing.week,
        districts=len(briefing.districts),
        overdue=len(briefing.overdue),
    )
    return briefing.week
