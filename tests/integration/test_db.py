"""The driver connection under a session (services/core/platform/db.py) is always the
session's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.platform.db import driver_connection


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
