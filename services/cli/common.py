"""What every `duban` command shares: one-line errors and reaching the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import psutil
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.platform.db import make_engine, make_sessionmaker, unit_of_work
from services.core.platform.settings import Settings
from services.core.platform.stack import Endpoints, StackNotRunning, endpoints, read_state

T = TypeVar("T")


class CliError(Exception):
    """A problem the user can fix, reported as one line without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live_endpoints(settings: Settings) -> Endpoints:
    """The database and Redis to talk to: explicit URLs, or those of the `duban up` running
    from this data dir. A state file left behind by a killed `duban up` does not count."""
    if settings.database_url is None or settings.redis_url is None:
        pid = read_state(settings).get("supervisor_pid")
        if isinstance(pid, int) and not pid_alive(pid):
            raise CliError(
                f"duban is not running from {settings.data_dir} (its last run ended without "
                "cleaning up): start it with `make run`, or set DUBAN_DATABASE_URL and "
                "DUBAN_REDIS_URL."
            )
    try:
        return endpoints(settings)
    except StackNotRunning as exc:
        raise CliError(str(exc)) from None


async def in_transaction(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction: committed if it returns, rolled back if it raises."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()
