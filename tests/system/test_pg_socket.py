"""PostgreSQL through its Unix socket, as a deployment on one host (and `make bench`) uses it."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from services.cli.embedded import EmbeddedPostgres
from services.core.platform.db import make_engine
from tests.helpers import Servers


def _on_socket(servers: Servers, database_url: str) -> str:
    name = database_url.rsplit("/", 1)[1]
    base, _, query = servers.pg.socket_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"


async def test_the_app_engine_and_the_driver_reach_the_server_over_the_socket(
    servers: Servers, database_url: str
) -> None:
    url = _on_socket(servers, database_url)
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            # No server address: the session came in over the socket, not loopback TCP.
            assert (await conn.execute(text("SELECT inet_server_addr()"))).scalar() is None
            users = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
    finally:
        await engine.dispose()
    driver = await asyncpg.connect(url)
    try:
        assert await driver.fetchval("SELECT inet_server_addr()") is None
        assert users > 0
        assert await driver.fetchval("SELECT count(*) FROM users") == users
    finally:
        await driver.close()


def test_only_the_servers_user_may_enter_the_socket_directory(servers: Servers) -> None:
    where = servers.pg.socket_dir
    assert where is not None
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert any(p.name.startswith(".s.PGSQL.") for p in where.iterdir())


def test_a_server_started_without_a_socket_has_no_socket_url(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="without a Unix socket"):
        _ = EmbeddedPostgres(tmp_path).socket_url


def test_a_server_that_cannot_start_says_why(server_tmp: Path) -> None:
    pg = EmbeddedPostgres(server_tmp)
    pg.start()
    pg.stop()
    with (pg.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")
    # What an operator needs to mend it: the server's own words, and where the log is.
    with pytest.raises(RuntimeError, match=r"(?s)exited with code \d+ while starting.*plenty") as e:
        pg.start()
    # Only what it said this time, not the end of the run before.
    assert "shut down" not in str(e.value)
    assert pg.proc is None or pg.proc.poll() is not None
