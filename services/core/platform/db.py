"""Engine and session factory. Persistence code flushes; the request or job boundary commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as ops people write them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DUBAN_DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        # No overflow: the pool closes an overflow connection as soon as it is returned, so
        # a burst past `pool_size` opened and closed a connection per request (a backend
        # started each time). At 32 clients that doubled PostgreSQL's CPU per report and put
        # p99 at 0.5-0.7 s (bench/ANALYSIS.md §12). Past `pool_size`, requests wait their turn.
        max_overflow=0,
        # Last in, first out, as asyncpg's own pool: the same few backends serve a moderate
        # load, where first in, first out gave every connection opened in a burst its turn
        # and PostgreSQL spent more CPU per statement (bench/ANALYSIS.md §26).
        pool_use_lifo=True,
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


@asynccontextmanager
async def checkout(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A driver (asyncpg) connection from the engine's pool, with none of a session's
    machinery: a session with its transaction and connection costs 0.25-0.5 ms of CPU per
    request, more than a report's own rules (bench/ANALYSIS.md §9). Each statement commits on
    its own, so what runs on it must be reads and single-statement writes (POST /findings).
    A connection that broke under a statement is thrown away, never pooled again."""
    fairy = await _raw_connection(engine)
    try:
        yield fairy.driver_connection
    except BaseException as error:
        if database_unreachable(error):
            # Closed and checked in by the pool: not to be returned again.
            await greenlet_spawn(fairy.invalidate, error)
            raise
        await greenlet_spawn(fairy.close)
        raise
    # The pool may reset the connection on its return: I/O, which the sync pool does in a
    # greenlet.
    await greenlet_spawn(fairy.close)


async def _raw_connection(engine: AsyncEngine) -> PoolProxiedConnection:
    """A pooled connection, its failure raised as SQLAlchemy raises it for its own
    connections (a `DBAPIError`), so that the API answers it the same way: a 503."""
    dialect = engine.dialect
    try:
        return await engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            None,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(error, None, None),
            dialect=dialect,
        ) from error


@event.listens_for(Session, "after_transaction_end")
def _forget_driver_connection(session: Session, _transaction: Any) -> None:
    session.info.pop(_DRIVER, None)


# What the driver raises when the connection, not the statement, failed. The intake and the
# caller run on asyncpg directly, so these arrive unwrapped by SQLAlchemy.
DRIVER_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
)


def database_unreachable(error: BaseException) -> bool:
    """The connection to PostgreSQL broke or could not be made (as opposed to an error in
    the statement, which is a bug and stays a 500)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, (OSError, *DRIVER_CONNECTION_ERRORS)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
