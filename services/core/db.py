"""Engine and session factory. Persistence code flushes; the request or job boundary commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as ops people write them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DUBAN_DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # Pre-ping costs three round trips per checkout with asyncpg (BEGIN, a ping, ROLLBACK),
    # but it is what replaces connections that died with a restarted server: statements run
    # on the driver directly (driver_connection) fail outside SQLAlchemy, which would
    # otherwise put the dead connection back in the pool (tests/faults/test_database_outage).
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit if the block succeeds, roll back if it raises."""
    async with factory() as session, session.begin():
        yield session


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, for the few hot statements that skip
    SQLAlchemy's execution machinery (the caller, the intake).

    Anything the session holds is flushed first. If the session's transaction has begun on the
    server (SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement), what
    runs here joins it; if not, each statement here commits on its own. So whatever runs here
    must be correct either way: reads, or a write that is a single statement."""
    await session.flush()
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection
