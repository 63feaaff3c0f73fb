"""Worker jobs. arq delivers at least once, so every job is idempotent."""

from __future__ import annotations

from sqlalchemy import text

from services.core.platform.db import unit_of_work
from services.core.stats.store import fold_open_changes

from .context import JobContext
from .delivery import deliver_notification
from .escalations import escalation_sweep_helper


async def ping(ctx: JobContext) -> str:
    """Proves the worker runs jobs and reaches the database; touches nothing."""
    async with unit_of_work(ctx["sessionmaker"]) as session:
        await session.execute(text("SELECT 1"))
    return "pong"


async def fold_open_findings(ctx: JobContext) -> int:
    """Fold the open findings' changes into their roll-up (services/core/stats/store.py); a
    run that finds none, or another fold under way, does nothing."""
    async with unit_of_work(ctx["sessionmaker"]) as session:
        return await fold_open_changes(session)


JOBS = (ping, escalation_sweep_helper)
# Jobs queued again and again under the same id (one id per delivery attempt): their results
# are not kept, so an id is free again as soon as its job has finished.
REQUEUED_JOBS = (deliver_notification,)
