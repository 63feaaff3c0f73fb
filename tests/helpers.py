"""Helpers shared by test modules: reports and lifecycle actions through the API, overdue
findings swept by the real sweep, and response bodies as searchable text."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.xlsx import XLSX_MEDIA_TYPE
from services.core.calendar_store import load_city_clock
from services.core.settings import Settings
from services.core.sweep import sweep_batch

TZ = ZoneInfo("Asia/Shanghai")
FINDINGS = "/api/v1/findings"


def finding_body(**over: Any) -> dict[str, Any]:
    """A valid report in 八大关街道 (市南区); keyword arguments replace fields."""
    body: dict[str, Any] = {
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
    body.update(over)
    return body


async def report(client: AsyncClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    """Report a finding (201) and return it."""
    r = await client.post(FINDINGS, json=finding_body(**over), headers=headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def act(
    client: AsyncClient, headers: dict[str, str], fid: str, action: str, **extra: Any
) -> Response:
    return await client.post(
        f"{FINDINGS}/{fid}/transitions", json={"action": action, **extra}, headers=headers
    )


async def make_overdue(factory: async_sessionmaker[AsyncSession], fid: str, due: datetime) -> None:
    """Pretend the finding was dispatched two days before `due` and its ladder starts then."""
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET due_at = CAST(:due AS timestamptz), "
                "dispatched_at = CAST(:due AS timestamptz) - interval '2 days', "
                "next_escalation_at = CAST(:due AS timestamptz) WHERE id = :id"
            ),
            {"due": due, "id": uuid.UUID(fid)},
        )


async def sweep(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Any:
    """One escalation sweep as the worker runs it, at an explicit `now`."""
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_batch(session, clock, now, 500)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


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
