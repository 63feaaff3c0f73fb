"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from httpx import AsyncClient

from tests.conftest import demo_password


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form of a dashboard page."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login_form(client: AsyncClient) -> str:
    """Open the dashboard's login page, as a browser does before it posts the form: the
    answer sets the login nonce cookie the form's CSRF token is bound to. The token."""
    page = await client.get("/ui/login")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def ui_login(client: AsyncClient, username: str) -> None:
    """Log `client` in to the dashboard through its login form."""
    r = await client.post(
        "/ui/login",
        data={
            "username": username,
            "password": demo_password(username),
            "next": "/ui",
            "csrf": await login_form(client),
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert "duban_session=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def finding_body() -> dict[str, Any]:
    """A valid report in 八大关街道 (市南区) under a new id."""
    observed = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=5)
    return {
        "id": str(uuid.uuid4()),
        "source": "inspection",
        "category": "exposed_garbage",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0571, "lon": 120.3466},
        "unit": "shinan.badaguan",
        "observed_at": observed.isoformat(),
    }


async def bearer(client: AsyncClient, username: str, password: str | None = None) -> dict[str, str]:
    """Authorization headers of a fresh access token from POST /api/v1/auth/token."""
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password or demo_password(username)},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def running_api(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A real API process (`argv`, e.g. what `duban up` runs), ready on /healthz: its URL.
    Always stopped, even when the test fails."""
    port = argv[argv.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-4000:]
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
