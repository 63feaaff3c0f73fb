"""The driver connection under a session (services/core/platform/db.py) is always the
session's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.platform.db import driver_connection, make_engine


async def _current(session: AsyncSession) -> Any:
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def test_each_transaction_gets_its_own_connection(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    engine: AsyncEngine = factory.kw["bind"]
    async with factory() as session:
        async with session.begin():
            first = await driver_connection(session)
            assert first is await _current(session)
            assert await driver_connection(session) is first  # asked twice, as a request does
        # Someone else holds the connection the first transaction gave back, so the next
        # transaction runs on another one: what the driver is asked must follow.
        async with engine.connect() as other, session.begin():
            held = (await other.get_raw_connection()).driver_connection
            assert held is first
            second = await driver_connection(session)
            assert second is await _current(session)
            assert second is not first
            assert await second.fetchval("SELECT 1") == 1


async def test_the_pool_hands_out_the_connection_given_back_last(database_url: str) -> None:
    """Last in, first out: a process keeps reusing the few connections its load needs instead
    of taking every one it ever opened in turn, which cost PostgreSQL CPU under 8 clients
    (bench/ANALYSIS.md §26)."""
    engine = make_engine(database_url, pool_size=3)
    try:
        async with engine.connect() as first:
            first_pid = await first.scalar(text("SELECT pg_backend_pid()"))
            async with engine.connect() as second:
                second_pid = await second.scalar(text("SELECT pg_backend_pid()"))
        # given back: the second, then the first
        assert first_pid != second_pid
        async with engine.connect() as again:
            assert await again.scalar(text("SELECT pg_backend_pid()")) == first_pid
    finally:
        await engine.dispose()
