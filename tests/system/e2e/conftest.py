"""A real API process (uvicorn) on its own test database and a headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings
from tests.helpers import Live, Servers

from .cdp import CHROMIUM, Browser

SECRET = "e2e-secret-key-that-is-long-enough-for-hs256"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ApiProcess:
    url: str
    database_url: str
    data_dir: Path


@pytest.fixture
def api_process(servers: Servers, tmp_path: Path) -> Iterator[ApiProcess]:
    """`uvicorn services.api.app:create_app --factory` on a fresh copy of the demo database."""
    database_url = servers.new_database()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": servers.redis.url,
        "DUBAN_DATA_DIR": str(tmp_path),
        "DUBAN_MEDIA_DIR": str(tmp_path / "media"),
        "DUBAN_JWT_SECRET": SECRET,
        "DUBAN_LOG_LEVEL": "WARNING",
        "DUBAN_NOTIFY_HOURS": "always",  # tests run at any hour
        "DUBAN_LOG_FORMAT": "console",
    }
    log_path = tmp_path / "api.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
             "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # A liveness bound: the API took over a minute to start at a load average of 10.
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                # Its own answer: under load another test's server can take a port between
                # free_port() and uvicorn's bind, and answer 200 to anything.
                if httpx.get(f"{url}/healthz", timeout=2).text == '{"status":"ok"}':
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield ApiProcess(url, database_url, tmp_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
async def live(api_process: ApiProcess, servers: Servers) -> AsyncIterator[Live]:
    """The running API plus a session factory and settings on its database, for arranging
    data and driving the escalation sweep directly."""
    engine = make_engine(api_process.database_url, pool_size=2)
    settings = Settings(
        data_dir=api_process.data_dir,
        database_url=api_process.database_url,
        redis_url=servers.redis.url,
        jwt_secret=SECRET,
        log_format="console",
        log_level="WARNING",
        notify_hours="always",  # tests run at any hour
    )
    yield Live(api_process.url, settings, make_sessionmaker(engine))
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
