"""What the worker runs: its jobs, their schedule and the arq Worker's options, and the context
every job receives. The process is `python -m services.worker` (services/worker/__main__.py;
`--check` for the health check)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.core.notify.service import channels_from_settings
from services.core.platform import logging as duban_logging
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings, get_settings
from services.core.platform.stack import endpoints
from services.core.stats.store import FOLD_SECONDS

from . import queue
from .briefing import HOUR, MINUTE, WEEKDAY, weekly_briefing
from .clock import CLOCK_SWEEP_SECONDS, clock_sweep
from .commitments import commitment_sweep
from .context import JobContext
from .delivery import (
    http_client,
    outbox_rescan,
    read_webhook_secret,
    rescan_seconds,
    sms_receipts,
)
from .escalations import escalation_sweep, sweep_seconds
from .inspections import overdue_task_sweep, task_sweep_seconds
from .jobs import JOBS, REQUEUED_JOBS, fold_open_findings

# Short, so `--check` (the container health check) notices a dead worker quickly: the health
# record expires this long (plus 1 s) after a worker stopped recording it.
HEALTH_CHECK_SECONDS = 5

log = structlog.get_logger("duban.worker")


async def startup(ctx: dict[str, Any]) -> None:
    """arq's `on_startup`, once per process: fills the context every job receives (arq has put
    its Redis connection in it)."""
    settings = get_settings()
    duban_logging.configure(settings.log_level, settings.log_format)
    engine = make_engine(endpoints(settings).database_url, pool_size=settings.db_pool_size)
    context: JobContext = {
        "redis": ctx["redis"],
        "settings": settings,
        "engine": engine,
        "sessionmaker": make_sessionmaker(engine),
        "http": http_client(settings),
    }
    secret = read_webhook_secret(settings)
    if secret is not None:
        context["webhook_secret"] = secret
    try:
        context["channels"] = channels_from_settings(settings, context["http"])
    except OSError as exc:
        # Its keys are in the data dir: a delivery builds the channels once it can read them.
        log.error("channel_keys_unavailable", error=str(exc))
    ctx.update(context)
    log.info("worker started", jobs=[job.__name__ for job in (*JOBS, *REQUEUED_JOBS)])


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq's `on_shutdown` (not reached if the close is cut short: the process ends then,
    and its connections with it)."""
    if "http" in ctx:
        await ctx["http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()


def build(settings: Settings) -> queue.WorkerOptions:
    return {
        "functions": [
            *queue.functions(JOBS),
            *queue.functions(REQUEUED_JOBS, keep_result_seconds=0),
        ],
        "cron_jobs": [
            queue.every(escalation_sweep, sweep_seconds(settings)),
            queue.every(outbox_rescan, rescan_seconds(settings)),
            queue.every(sms_receipts, {0}),
            queue.every(fold_open_findings, set(FOLD_SECONDS)),
            queue.every(overdue_task_sweep, task_sweep_seconds(settings)),
            queue.every(commitment_sweep, sweep_seconds(settings)),
            queue.every(clock_sweep, set(CLOCK_SWEEP_SECONDS)),
            queue.weekly(weekly_briefing, WEEKDAY, HOUR, MINUTE),
        ],
        # The briefing is due at 08:00 in the city, wherever the worker runs.
        "timezone": ZoneInfo(settings.timezone),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": queue.redis_settings(
            endpoints(settings).redis_url, settings.redis_outage_seconds
        ),
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "max_jobs": 20,
    }
