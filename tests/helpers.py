"""Helpers shared by the test files: reports and transitions through the API, places at exact
distances, rows changed behind the API's back where a test is about what happens after, the
sweep run with an explicit `now`, accounts beyond the demo's."""

from __future__ import annotations

import io
import math
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.cli.accounts import add_user
from services.core.calendar_store import load_city_clock
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
