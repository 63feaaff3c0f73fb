"""Helpers shared by test modules (a test module never imports another one)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.demo import DISTRICTS
from tests.conftest import demo_password

TZ = ZoneInfo("Asia/Shanghai")


async def ui_login(client: AsyncClient, username: str) -> None:
    """Log in to the dashboard with the demo account: the client then holds the cookie."""
    r = await client.post(
        "/ui/login",
        data={"username": username, "password": demo_password(username), "next": "/ui"},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert "duban_session=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


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
