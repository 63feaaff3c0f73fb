"""Database connections the server closes: never handed to a request, and one that breaks
under a request is answered 503 and thrown away, without tearing down the client's HTTP
connection (tests/faults/test_database_outage.py does the same with a real outage)."""

from __future__ import annotations

import asyncio
import struct
import time
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis

from services.api.app import create_app
from services.core.identity.security import issue_access_token
from services.core.platform.keys import jwt_secret
from services.core.platform.settings import Settings
from tests.helpers import URL, Login, assert_problem, body

_TERMINATE = """
SELECT count(*) FROM (
  SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity
  WHERE pid <> pg_backend_pid() AND datname = current_database()
    AND ($1::text IS NULL OR wait_event_type = $1)
) t
"""


async def _terminate(db: asyncpg.Connection, waiting_on: str | None = None) -> int:
    """Cut the API's connections from the server's side, as a restart does, and wait (up to
    a minute each, a bound against a hang) until the backends are gone."""
    killed: int = await db.fetchval(_TERMINATE, waiting_on)
    return killed


async def test_a_connection_the_server_closed_is_not_handed_out(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    headers = await login("inspector")
    assert (await client.post(URL, json=body(), headers=headers)).status_code == 201
    assert await _terminate(server_side) >= 1
    await asyncio.sleep(0.2)  # the API's driver reads the server's goodbye
    # Every pooled connection is dead now; the next requests get fresh ones.
    for _ in range(3):
        r = await client.post(URL, json=body(), headers=headers)
        assert r.status_code == 201, r.text


async def test_a_connection_broken_under_a_request_is_a_503_and_is_dropped(
    app: FastAPI, login: Login, server_side: asyncpg.Connection
) -> None:
    headers = await login("inspector")
    # raise_app_exceptions: an exception that escapes the application would, under uvicorn,
    # close the client's keep-alive connection; here it fails the test.
    transport = ASGITransport(app=app, raise_app_exceptions=True)
    async with AsyncClient(transport=transport, base_url="http://duban.test") as http:
        assert (await http.post(URL, json=body(), headers=headers)).status_code == 201
        # Hold the request inside its write, then cut its connection from the server.
        lock = server_side.transaction()
        await lock.start()
        await server_side.execute("LOCK TABLE findings IN EXCLUSIVE MODE")
        pending = asyncio.ensure_future(http.post(URL, json=body(), headers=headers))
        deadline = time.monotonic() + 60
        while not await _terminate(server_side, waiting_on="Lock"):
            assert time.monotonic() < deadline, "the request never waited on the lock"
            await asyncio.sleep(0.05)
        await lock.rollback()
        assert_problem(await pending, 503)
        # The broken connection went away with its request: the next one is stored.
        stored = body()
        assert (await http.post(URL, json=stored, headers=headers)).status_code == 201
        assert await server_side.fetchval(
            "SELECT count(*) FROM findings WHERE id = $1", stored["id"]
        )


_SSL_REQUEST = 80877103
_SHUTTING_DOWN = b"SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is shutting down\x00\x00"


async def _shutting_down(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What PostgreSQL answers a new connection while it shuts down: a FATAL 57P03."""
    length, code = struct.unpack("!ii", await reader.readexactly(8))
    if code == _SSL_REQUEST:
        writer.write(b"N")
        length = struct.unpack("!i", await reader.readexactly(4))[0] + 4
    await reader.readexactly(length - 8)  # the startup message
    writer.write(b"E" + struct.pack("!i", len(_SHUTTING_DOWN) + 4) + _SHUTTING_DOWN)
    await writer.drain()
    writer.close()


async def test_a_report_while_the_database_shuts_down_is_a_503(
    settings: Settings, redis: Redis
) -> None:
    """POST /findings takes its connection straight from the pool; when the server refuses
    new connections, it answers as every other operation does, and the client's HTTP
    connection stays open (tests/faults/test_database_outage.py saw it closed once)."""
    server = await asyncio.start_server(_shutting_down, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    down = settings.model_copy(
        update={"database_url": f"postgresql://duban@127.0.0.1:{port}/duban"}
    )
    application = create_app(down)
    token = issue_access_token(1, 0, jwt_secret(down), datetime.now(UTC), 5)
    headers = {"Authorization": f"Bearer {token}"}
    async with server, application.router.lifespan_context(application):
        # raise_app_exceptions: what escapes the application fails the test (under uvicorn
        # it would close the client's keep-alive connection).
        transport = ASGITransport(app=application, raise_app_exceptions=True)
        async with AsyncClient(transport=transport, base_url="http://duban.test") as http:
            for _ in range(2):
                r = await http.post(URL, json=body(), headers=headers)
                assert_problem(r, 503)
                assert r.headers["retry-after"] == "5"
