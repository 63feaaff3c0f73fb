"""A real API (uvicorn on a loopback port) on its own test database and a headless Chromium.

The API serves from a thread of the test's process rather than a process of its own: the same
uvicorn, app and HTTP, without importing duban again for every test (some 4 s of CPU each).
What a separate process proves (start-up, signals, logs) the other system tests prove."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from services.api.app import create_app
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings
from tests.helpers import Live, Servers

from .cdp import CHROMIUM, Browser

SECRET = "e2e-secret-key-that-is-long-enough-for-hs256"
# A liveness bound: the API took over a minute to start at a load average of 10.
START_WITHIN = 180
STOP_WITHIN = 10


@dataclass(frozen=True)
class ApiServer:
    url: str
    database_url: str
    settings: Settings


@pytest.fixture
def api_server(servers: Servers, tmp_path: Path) -> Iterator[ApiServer]:
    """`create_app` on a fresh copy of the demo database, served by uvicorn."""
    database_url = servers.new_database()
    settings = Settings(
        data_dir=tmp_path,
        media_dir=tmp_path / "media",
        database_url=database_url,
        redis_url=servers.redis.url,
        jwt_secret=SECRET,
        log_format="console",
        log_level="WARNING",
        notify_hours="always",  # tests run at any hour
    )
    # Bound before uvicorn starts, so no other test's server can take the port in between.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        access_log=False,
        log_level="warning",
        lifespan="on",
        # The browser may still hold a connection open when the test ends.
        timeout_graceful_shutdown=STOP_WITHIN // 2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="api", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_WITHIN
        while not server.started:
            assert thread.is_alive(), "the API stopped while starting"
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        yield ApiServer(f"http://127.0.0.1:{port}", database_url, settings)
    finally:
        server.should_exit = True
        thread.join(STOP_WITHIN)
        listener.close()


@pytest.fixture
async def live(api_server: ApiServer) -> AsyncIterator[Live]:
    """The running API plus a session factory and settings on its database, for arranging
    data and driving the escalation sweep directly."""
    engine = make_engine(api_server.database_url, pool_size=2)
    yield Live(api_server.url, api_server.settings, make_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)")
    b = Browser()
    try:
        b.wait_ready()
        yield b
    finally:
        b.close()
