"""Test session: a real embedded PostgreSQL and Redis, started once.

Every test gets its own database, copied from a template that is migrated and seeded with
the demo campaign once per session, so tests may commit (as the API does) and still never
see each other's data. The machinery behind these fixtures (the servers, the template, the
demo logins) is in tests/helpers.py; test modules import from there, never from here.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.app import create_app
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings
from tests.helpers import (
    TEMPLATE,
    Login,
    Servers,
    alembic_config,
    forget_endpoints,
    scratch_dir,
    seed_demo_database,
)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    root = scratch_dir("duban-test-")
    s = Servers(root)
    s.pg.start(fsync=False, socket_dir=root / "pgsock")
    s.redis.start()
    try:
        s.template_url = s.pg.create_database(TEMPLATE)
        command.upgrade(alembic_config(s.template_url), "head")
        asyncio.run(seed_demo_database(s.template_url))
        yield s
    finally:
        s.redis.stop()
        s.pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    """A fresh directory for an embedded server a test starts itself, outside pytest's
    `tmp_path`. Run as root, PostgreSQL runs as a system user of its own, and every directory
    above its data is opened for that user to pass; but pytest closes its base directory
    (/tmp/pytest-of-<user>) to 0700 again whenever another pytest session on the machine
    starts, and a server starting at that moment fails (initdb: permission denied)."""
    path = scratch_dir("duban-test-server-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_admin(servers: Servers) -> AsyncIterator[asyncpg.Connection]:
    """The session's connection that copies the template for each test."""
    conn = await asyncpg.connect(servers.pg.url)
    yield conn
    await conn.close()


@pytest.fixture
async def database_url(servers: Servers, template_admin: asyncpg.Connection) -> AsyncIterator[str]:
    url = await servers.new_database_on(template_admin)
    yield url
    await servers.drop_database_on(template_admin, url)


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the test's database, for arranging and inspecting rows."""
    engine = make_engine(database_url, pool_size=4)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def server_side(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection of the test's own to its database, beside whatever the app holds:
    for arranging rows, or acting on the server as an operator would."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings a test changes for its app: parametrize it, e.g.
    `@pytest.mark.parametrize("settings_overrides", [{"db_pool_size": 1}])`."""
    return {}


@pytest.fixture
def settings(
    servers: Servers, database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Settings:
    base = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=servers.redis.url,
        jwt_secret="test-secret-key-that-is-long-enough-for-hs256",
        log_format="console",
        log_level="WARNING",
        # Tests run at any hour: notices go out at once unless a test holds them on purpose.
        notify_hours="always",
    )
    return base.model_copy(update=settings_overrides)


@pytest.fixture
async def redis(servers: Servers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def app(settings: Settings, redis: Redis) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    forget_endpoints()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://duban.test") as c:
        yield c


@pytest.fixture
def login(client: AsyncClient) -> Login:
    return Login(client)
