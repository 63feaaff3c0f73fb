"""Engine and session factory. Persistence code flushes; the request or job boundary commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as ops people write them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DUBAN_DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 30},
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no connection the server has closed: a restarted PostgreSQL closes every
    backend's socket, and the driver notices at once, with no round trip. SQLAlchemy's own
    pre-ping would cost three per checkout with asyncpg (BEGIN, a ping, ROLLBACK). A
    connection that breaks without a close (a cut network) fails its next statement and is
    thrown away then (services/api/deps.get_session; tests/faults/test_database_outage)."""
    if dbapi_connection.driver_connection.is_closed():
        # The pool throws this connection away and checks out another.
        raise exc.DisconnectionError("the server closed this connection")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit if the block succeeds, roll back if it raises."""
    async with factory() as session, session.begin():
        yield session


_DRIVER = "duban.driver_connection"


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, for the few hot statements that skip
    SQLAlchemy's execution machinery (the caller, the intake).

    Anything the session holds is flushed first. If the session's transaction has begun on the
    server (SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement), what
    runs here joins it; if not, each statement here commits on its own. So whatever runs here
    must be correct either way: reads, or a write that is a single statement."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    # Kept for the rest of the transaction (a request asks twice: for the caller, then for
    # the intake); the connection may change with the next one.
    found = session.info.get(_DRIVER)
    if found is None:
        conn = await session.connection()
        fairy = await conn.get_raw_connection()
        found = session.info[_DRIVER] = fairy.driver_connection
    return found


@event.listens_for(Session, "after_transaction_end")
def _forget_driver_connection(session: Session, _transaction: Any) -> None:
    session.info.pop(_DRIVER, None)
