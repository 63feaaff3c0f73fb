"""What the worker runs: its jobs, their schedule and the arq Worker's options. The process is
`python -m services.worker` (services/worker/__main__.py; `--check` for the health check),
which keeps serving across Redis restarts; the class below is also what arq's own command
line would take.

`WorkerSettings` is built on first access rather than at import, so importing this module
never needs a running Redis or the embedded stack's state file.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.core.platform import logging as duban_logging
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings, get_settings
from services.core.platform.stack import endpoints
from services.core.stats.store import FOLD_SECONDS

from . import queue
from .briefing import HOUR, MINUTE, WEEKDAY, weekly_briefing
from .delivery import close_delivery, open_delivery, outbox_rescan, rescan_seconds, sms_receipts
from .escalations import escalation_sweep, sweep_seconds
from .jobs import JOBS, REQUEUED_JOBS, fold_open_findings

# Short, so `--check` (the container health check) notices a dead worker quickly: the health
# record expires this long (plus 1 s) after a worker stopped recording it.
HEALTH_CHECK_SECONDS = 5

log = structlog.get_logger("duban.worker")


async def startup(ctx: queue.JobContext) -> None:
    settings = get_settings()
    duban_logging.configure(settings.log_level, settings.log_format)
    engine = make_engine(endpoints(settings).database_url, pool_size=settings.db_pool_size)
    ctx["settings"] = settings
    ctx["engine"] = engine
    ctx["sessionmaker"] = make_sessionmaker(engine)
    await open_delivery(ctx)
    log.info("worker started", jobs=[job.__name__ for job in (*JOBS, *REQUEUED_JOBS)])


async def shutdown(ctx: queue.JobContext) -> None:
    await close_delivery(ctx)
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()
    log.info("worker stopped")


def build(settings: Settings) -> type:
    """The settings class arq reads (it takes the class attributes as Worker arguments)."""
    return type(
        "WorkerSettings",
        (),
        {
            "functions": [
                *queue.functions(JOBS),
                *queue.functions(REQUEUED_JOBS, keep_result_seconds=0),
            ],
            "cron_jobs": [
                queue.every(escalation_sweep, sweep_seconds(settings)),
                queue.every(outbox_rescan, rescan_seconds(settings)),
                queue.every(sms_receipts, {0}),
                queue.every(fold_open_findings, set(FOLD_SECONDS)),
                queue.weekly(weekly_briefing, WEEKDAY, HOUR, MINUTE),
            ],
            # arq evaluates cron times in this zone (by default the machine's): the briefing
            # is due at 08:00 in the city, wherever the worker runs.
            "timezone": ZoneInfo(settings.timezone),
            "on_startup": startup,
            "on_shutdown": shutdown,
            "redis_settings": queue.redis_settings(endpoints(settings).redis_url),
            "health_check_interval": HEALTH_CHECK_SECONDS,
            "max_jobs": 20,
        },
    )


_built: list[type] = []


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        if not _built:
            _built.append(build(get_settings()))
        return _built[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
