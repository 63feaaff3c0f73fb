"""A real API process (uvicorn, as `duban up` runs it) for the fault scenarios, and the small
helpers they share: logging in over HTTP, polling with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TypeVar

import httpx

from tests.helpers import demo_password
from tests.webhook_receiver import free_port

T = TypeVar("T")
JWT_SECRET = "fault-suite-secret-key-that-is-long-enough-for-hs256"


def api_env(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_JWT_SECRET": JWT_SECRET,
        "DUBAN_LOG_FORMAT": "json",
        "DUBAN_LOG_LEVEL": "WARNING",
        "DUBAN_NOTIFY_HOURS": "always",  # tests run at any hour
        "DUBAN_DB_POOL_SIZE": "4",
    }
    return env | extra


class ApiProcess:
    """`python -m uvicorn services.api.app:create_app --factory` on a fixed loopback port, so a
    restarted API is found where the clients look; logs to a file."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ApiProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             "--log-level", "warning", "--timeout-graceful-shutdown", "5"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the API exited while starting:\n{self.log_text()[-4000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the API did not start:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process vanishes mid-request, nothing is cleaned up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


async def bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": demo_password(username)},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
