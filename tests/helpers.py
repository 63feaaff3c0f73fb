"""Helpers shared by test modules (no test module imports another): reports and lifecycle
actions through the API, overdue findings swept by the real sweep, logins and accounts,
response bodies as searchable text, and a real uvicorn for tests that need one."""

from __future__ import annotations

import io
import math
import re
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.xlsx import XLSX_MEDIA_TYPE
from services.cli.accounts import add_user
from services.core.calendar_store import load_city_clock
from services.core.demo import DISTRICTS
from services.core.settings import Settings
from services.core.sweep import sweep_batch
from tests.conftest import demo_password

TZ = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/findings"
VIDEOS = "/api/v1/exposure-videos"
M_PER_DEG = 111_195
LAT, LON = 36.0571, 120.3466  # 市南区八大关, where the default test finding is


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": "inspection",
        "category": "exposed_garbage",
        "severity": "normal",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0571, "lon": 120.3466, "address": "市南区八大关 居庸关路"},
        "unit": "shinan.badaguan",
        "point_type": "back_alley",
        "observed_at": (datetime.now(TZ) - timedelta(minutes=5)).isoformat(),
    }
    b.update(over)
    return b


async def post(client: AsyncClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    r = await client.post(URL, json=body(**over), headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def act(
    client: AsyncClient, headers: dict[str, str], fid: str, action: str, **extra: Any
) -> Any:
    return await client.post(
        f"{URL}/{fid}/transitions", json={"action": action, **extra}, headers=headers
    )


def at(north_m: float = 0, east_m: float = 0, lat: float = LAT, lon: float = LON) -> Any:
    """A point `north_m` north and `east_m` east of (lat, lon)."""
    return {
        "lat": lat + north_m / M_PER_DEG,
        "lon": lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))),
    }


async def close(
    factory: async_sessionmaker[AsyncSession],
    fid: str,
    *,
    days_ago: float,
    reason: str = "rectified",
) -> None:
    """Closed `days_ago` (the evidence flow that leads there is tested on its own)."""
    closed = datetime.now(UTC) - timedelta(days=days_ago)
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET status = 'closed', close_reason = :reason, "
                "submitted_at = :at, closed_at = :at, next_escalation_at = NULL WHERE id = :id"
            ),
            {"reason": reason, "at": closed, "id": uuid.UUID(fid)},
        )


async def sweep(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Any:
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_batch(session, clock, now, 500)


async def make_overdue(factory: async_sessionmaker[AsyncSession], fid: str, due: datetime) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET due_at = CAST(:due AS timestamptz), "
                "dispatched_at = CAST(:due AS timestamptz) - interval '2 days', "
                "next_escalation_at = CAST(:due AS timestamptz) WHERE id = :id"
            ),
            {"due": due, "id": uuid.UUID(fid)},
        )


async def add_account(
    factory: async_sessionmaker[AsyncSession], username: str, role: str, unit_code: str
) -> None:
    """An account beyond the demo's, with the password the `login` fixture uses."""
    async with factory() as session, session.begin():
        await add_user(
            session,
            username=username,
            role=role,
            unit_code=unit_code,
            password=demo_password(username),
        )


async def exposure_finding(
    client: AsyncClient,
    headers: dict[str, str],
    *,
    policy: str = "exposure_video",
    **segment: Any,
) -> dict[str, Any]:
    """The finding of a one-segment exposure video registered by `headers` (a dispatcher or an
    admin): the one way in for an exposure-video finding. `segment` overrides the segment."""
    one = {
        "offset": "01:00",
        "category": "exposed_garbage",
        "description": "曝光问题",
        "location": {"lat": LAT, "lon": LON},
        "unit": "shinan.badaguan",
        **segment,
    }
    video = {
        "id": str(uuid.uuid4()),
        "title": "创城曝光台",
        "aired_on": (datetime.now(TZ).date() - timedelta(days=1)).isoformat(),
        "rectify_within": {"working_days": 5},
        "policy": policy,
        "segments": [one],
    }
    r = await client.post(VIDEOS, json=video, headers=headers)
    assert r.status_code == 201, r.text
    fid = r.json()["segments"][0]["id"]
    read = await client.get(f"{URL}/{fid}", headers=headers)
    assert read.status_code == 200, read.text
    finding: dict[str, Any] = read.json()
    return finding


def xlsx_text(workbook: bytes) -> str:
    """Every XML part of a workbook as one text: what a search of the file would find."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as z:
        return "\n".join(z.read(name).decode() for name in z.namelist() if name.endswith(".xml"))


def readable(response: Response) -> str:
    """The body as text to search: a workbook's XML parts, nothing for an image."""
    kind = response.headers.get("content-type", "")
    if kind.startswith(XLSX_MEDIA_TYPE):
        with zipfile.ZipFile(io.BytesIO(response.content)) as book:
            return "\n".join(
                book.read(name).decode() for name in book.namelist() if name.endswith(".xml")
            )
    if kind.startswith("image/"):
        return ""
    return response.text


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


async def overdue_in_districts(
    client: AsyncClient,
    headers: dict[str, str],
    factory: async_sessionmaker[AsyncSession],
    counts: Mapping[str, int],
) -> None:
    """Report `counts[code]` findings now in the first street of each demo district, through
    the API, then move their deadlines to yesterday: each costs its district 2 points."""
    streets = {d.code: d.streets[0] for d in DISTRICTS}
    ids: list[uuid.UUID] = []
    for code, n in counts.items():
        street = streets[code]
        for _ in range(n):
            r = await client.post(
                "/api/v1/findings",
                headers=headers,
                json={
                    "id": str(uuid.uuid4()),
                    "source": "inspection",
                    "category": "exposed_garbage",
                    "description": "路边垃圾堆放未清运",
                    "location": {"lat": street.lat, "lon": street.lon},
                    "unit": f"{code}.{street.slug}",
                    "observed_at": (datetime.now(TZ) - timedelta(minutes=5)).isoformat(),
                },
            )
            assert r.status_code == 201, r.text
            assert r.json()["district"]["code"] == code
            ids.append(uuid.UUID(r.json()["id"]))
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET due_at = now() - interval '1 day' WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
