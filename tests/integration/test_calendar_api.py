"""The calendar API: deadlines and each year's days, on the real database with overrides."""

from __future__ import annotations

from datetime import date
from typing import Any

import chinese_calendar
import pytest
from httpx import AsyncClient

from services.core.models import CalendarOverride
from services.core.platform.db import make_engine, make_sessionmaker
from tests.helpers import Login

DUE = "/api/v1/calendar/due"


async def add_overrides(database_url: str, *rows: tuple[date, str, str]) -> None:
    engine = make_engine(database_url, pool_size=1)
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add_all(CalendarOverride(day=d, kind=k, note=n) for d, k, n in rows)
    await engine.dispose()


async def get_due(client: AsyncClient, login: Login, **params: Any) -> dict[str, Any]:
    r = await client.get(DUE, params=params, headers=await login("inspector"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def field_errors(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


@pytest.mark.parametrize(
    ("start", "working_days", "expected", "fallback"),
    [
        ("2026-09-30T10:00:00+08:00", 1, "2026-10-08T17:30:00+08:00", False),
        ("2026-09-30T10:00:00+08:00", 3, "2026-10-10T17:30:00+08:00", False),
        ("2026-02-12T10:00:00+08:00", 2, "2026-02-14T17:30:00+08:00", False),
        ("2026-02-12T10:00:00+08:00", 3, "2026-02-24T17:30:00+08:00", False),
        ("2026-12-29T10:00:00+08:00", 3, "2027-01-04T17:30:00+08:00", True),
        # 23:00 local on Sep 29, given in UTC: still counts from Sep 29.
        ("2026-09-29T15:00:00Z", 1, "2026-09-30T17:30:00+08:00", False),
        # 00:30 local on Sep 30, given in UTC: counts from Sep 30.
        ("2026-09-29T16:30:00Z", 1, "2026-10-08T17:30:00+08:00", False),
        ("2026-09-29t16:30:00.123456789z", 1, "2026-10-08T17:30:00+08:00", False),
    ],
)
async def test_due_in_working_days(
    client: AsyncClient, login: Login, start: str, working_days: int, expected: str, fallback: bool
) -> None:
    body = await get_due(client, login, start=start, working_days=working_days)
    assert body["due_at"] == expected
    assert body["working_days"] == working_days
    assert body["fallback_used"] is fallback
    assert body["start"].upper().startswith(start[:16].upper())


async def test_due_on_the_continuous_clock(client: AsyncClient, login: Login) -> None:
    body = await get_due(client, login, start="2026-09-30T22:30:00+08:00", duration="PT2H")
    assert body["due_at"] == "2026-10-01T00:30:00+08:00"
    assert body["duration"] == "PT2H"
    assert body["fallback_used"] is False


async def test_unencoded_plus_in_the_offset_is_understood(
    client: AsyncClient, login: Login
) -> None:
    # Typed by hand, "+08:00" arrives as " 08:00" once the query string is decoded.
    r = await client.get(
        DUE + "?start=2026-09-30T10:00:00+08:00&working_days=1", headers=await login("admin")
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == "2026-10-08T17:30:00+08:00"


async def test_database_overrides_change_deadlines(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    before = await get_due(client, login, start="2026-09-30T10:00:00+08:00", working_days=1)
    assert before["due_at"] == "2026-10-08T17:30:00+08:00"
    await add_overrides(
        database_url,
        # A holiday made a working day …
        (date(2026, 10, 2), "workday", "全市集中整治日"),
        # … and a working day made a day off.
        (date(2026, 10, 9), "holiday", "台风停工"),
    )
    pulled = await get_due(client, login, start="2026-09-30T10:00:00+08:00", working_days=1)
    assert pulled["due_at"] == "2026-10-02T17:30:00+08:00"
    pushed = await get_due(client, login, start="2026-10-08T10:00:00+08:00", working_days=1)
    assert pushed["due_at"] == "2026-10-10T17:30:00+08:00"

    year = (await client.get("/api/v1/calendar/2026", headers=await login("admin"))).json()
    days = {d["date"]: d for d in year["days"]}
    assert days["2026-10-02"] == {
        "date": "2026-10-02",
        "kind": "makeup_workday",
        "working": True,
        "name": "National Day",
        "name_zh": "国庆节",
        "source": "override",
        "note": "全市集中整治日",
    }
    assert days["2026-10-09"]["kind"] == "holiday"
    assert days["2026-10-09"]["source"] == "override"
    assert days["2026-10-09"]["note"] == "台风停工"


async def test_override_in_a_fallback_year(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    await add_overrides(database_url, (date(2027, 1, 4), "holiday", "元旦调休（本地通知）"))
    body = await get_due(client, login, start="2026-12-29T10:00:00+08:00", working_days=3)
    assert body["due_at"] == "2027-01-05T17:30:00+08:00"
    assert body["fallback_used"] is True


async def test_year_2026_is_official(client: AsyncClient, login: Login) -> None:
    r = await client.get("/api/v1/calendar/2026", headers=await login("dispatcher"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2026
    assert body["official"] is True
    days = {d["date"]: d for d in body["days"]}
    assert days["2026-10-01"]["kind"] == "holiday"
    assert days["2026-10-01"]["name"] == "National Day"
    assert days["2026-10-01"]["name_zh"] == "国庆节"
    assert days["2026-10-01"]["source"] == "official"
    for makeup in ("2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"):
        assert days[makeup]["kind"] == "makeup_workday"
        assert days[makeup]["working"] is True
    # Plain weekdays and weekends are left out.
    assert "2026-10-08" not in days
    assert "2026-10-11" not in days
    # The package's own count, independently of how the service walks the year.
    assert body["working_days"] == len(
        chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31))
    )


async def test_year_2027_is_on_the_fallback(client: AsyncClient, login: Login) -> None:
    r = await client.get("/api/v1/calendar/2027", headers=await login("supervisor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["official"] is False
    assert body["working_days"] == 259
    days = {d["date"]: (d["kind"], d["source"]) for d in body["days"]}
    assert days == {
        "2027-01-01": ("holiday", "fallback"),
        "2027-05-01": ("holiday", "fallback"),
        "2027-05-02": ("holiday", "fallback"),
        "2027-10-01": ("holiday", "fallback"),
        "2027-10-02": ("holiday", "fallback"),
        "2027-10-03": ("holiday", "fallback"),
    }


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"start": "2026-09-30T10:00:00+08:00"}, {"working_days", "duration"}),
        (
            {"start": "2026-09-30T10:00:00+08:00", "working_days": 1, "duration": "PT2H"},
            {"working_days", "duration"},
        ),
        ({"start": "2026-09-30T10:00:00", "working_days": 1}, {"start"}),
        ({"start": "2026-09-30", "working_days": 1}, {"start"}),
        ({"start": "yesterday", "working_days": 1}, {"start"}),
        ({"start": "2026-02-30T10:00:00+08:00", "working_days": 1}, {"start"}),
        ({"start": "1700000000", "working_days": 1}, {"start"}),
        ({"working_days": 1}, {"start"}),
        ({"start": "2026-09-30T10:00:00"}, {"start", "working_days", "duration"}),
        ({"start": "noon", "duration": "soon"}, {"start", "duration"}),
        ({"start": "9999-12-31T23:00:00+08:00", "working_days": 365}, {"start"}),
        ({"start": "0001-01-01T00:00:00+14:00", "working_days": 1}, {"start"}),
        ({"start": "2026-09-30T10:00:00+25:00", "working_days": 1}, {"start"}),
        ({"start": "2026-09-30T10:00:00+08:00", "working_days": 0}, {"working_days"}),
        ({"start": "2026-09-30T10:00:00+08:00", "working_days": 366}, {"working_days"}),
        ({"start": "2026-09-30T10:00:00+08:00", "working_days": "two"}, {"working_days"}),
        ({"start": "2026-09-30T10:00:00+08:00", "duration": "P1M"}, {"duration"}),
        ({"start": "2026-09-30T10:00:00+08:00", "duration": "PT0S"}, {"duration"}),
        ({"start": "2026-09-30T10:00:00+08:00", "duration": "two hours"}, {"duration"}),
        ({"start": "2026-09-30T10:00:00+08:00", "duration": "P9999999999D"}, {"duration"}),
    ],
)
async def test_due_rejects_bad_input(
    client: AsyncClient, login: Login, params: dict[str, Any], fields: set[str]
) -> None:
    r = await client.get(DUE, params=params, headers=await login("inspector"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 422
    assert field_errors(body) == fields


@pytest.mark.parametrize("year", ["1999", "2101", "twenty", "-1"])
async def test_year_out_of_range(client: AsyncClient, login: Login, year: str) -> None:
    r = await client.get(f"/api/v1/calendar/{year}", headers=await login("inspector"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field_errors(r.json()) == {"year"}


@pytest.mark.parametrize(
    "path", [DUE + "?start=2026-09-30T10:00:00%2B08:00&working_days=1", "/api/v1/calendar/2026"]
)
async def test_login_required(client: AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
