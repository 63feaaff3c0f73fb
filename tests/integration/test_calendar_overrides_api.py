"""Calendar overrides: admin CRUD by date, and every deadline computed afterwards obeys them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from tests.helpers import Login, fields, post

URL = "/api/v1/calendar-overrides"
DUE = "/api/v1/calendar/due"
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def admin(login: Login) -> dict[str, str]:
    return await login("admin")


async def test_override_round_trip(client: AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(
        URL, json={"date": "2026-11-28", "kind": "workday", "note": "调休补班"}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["date"] == "2026-11-28"
    assert r.json()["kind"] == "workday"
    r = await client.post(URL, json={"date": "2026-11-28", "kind": "holiday"}, headers=admin)
    assert r.status_code == 409
    for day in ("2026-12-01", "2026-06-01", "2027-01-04"):
        r = await client.post(URL, json={"date": day, "kind": "holiday"}, headers=admin)
        assert r.status_code == 201

    first = (await client.get(URL, params={"limit": 2}, headers=admin)).json()
    assert [o["date"] for o in first["items"]] == ["2026-06-01", "2026-11-28"]
    rest = (await client.get(URL, params={"cursor": first["next_cursor"]}, headers=admin)).json()
    assert [o["date"] for o in rest["items"]] == ["2026-12-01", "2027-01-04"]
    assert rest["next_cursor"] is None
    in_2027 = (await client.get(URL, params={"year": 2027}, headers=admin)).json()
    assert [o["date"] for o in in_2027["items"]] == ["2027-01-04"]

    r = await client.patch(
        f"{URL}/2026-11-28", json={"kind": "holiday", "note": None}, headers=admin
    )
    assert r.status_code == 200
    assert (r.json()["kind"], r.json()["note"]) == ("holiday", None)
    assert (await client.get(f"{URL}/2026-11-28", headers=admin)).json()["kind"] == "holiday"
    # the year view of the calendar shows it as an override
    year = (await client.get("/api/v1/calendar/2026", headers=admin)).json()
    assert {"date": "2026-12-01", "source": "override"}.items() <= next(
        d for d in year["days"] if d["date"] == "2026-12-01"
    ).items()

    assert (await client.delete(f"{URL}/2026-11-28", headers=admin)).status_code == 204
    assert (await client.get(f"{URL}/2026-11-28", headers=admin)).status_code == 404
    assert (await client.delete(f"{URL}/2026-11-28", headers=admin)).status_code == 404
    assert (await client.patch(f"{URL}/2026-11-28", json={}, headers=admin)).status_code == 404


async def test_override_validation(client: AsyncClient, admin: dict[str, str]) -> None:
    for body, field in [
        ({"date": "2026-13-01", "kind": "holiday"}, "date"),
        ({"date": "1999-10-01", "kind": "holiday"}, "date"),
        ({"date": "2026-10-01T00:00:00", "kind": "holiday"}, "date"),
        ({"date": "2026-10-01", "kind": "weekend"}, "kind"),
        ({"date": "2026-10-01", "kind": "holiday", "note": "x" * 201}, "note"),
        ({"date": "2026-10-01", "kind": "holiday", "note": "a\x00b"}, "note"),
        # a control character is refused as sent, not trimmed away into an empty note
        ({"date": "2026-10-01", "kind": "holiday", "note": "\n"}, "note"),
        ({"date": "2026-10-01", "kind": "holiday", "color": "red"}, "color"),
    ]:
        r = await client.post(URL, json=body, headers=admin)
        assert r.status_code == 422, body
        assert field in fields(r), r.json()
    assert (await client.get(f"{URL}/2026-02-30", headers=admin)).status_code == 422
    assert (await client.get(f"{URL}/tomorrow", headers=admin)).status_code == 422
    await client.post(URL, json={"date": "2026-10-01", "kind": "holiday"}, headers=admin)
    r = await client.patch(f"{URL}/2026-10-01", json={"kind": None}, headers=admin)
    assert (r.status_code, fields(r)) == (422, {"kind"})
    r = await client.patch(f"{URL}/2026-10-01", json={"note": "  国庆  "}, headers=admin)
    assert (r.status_code, r.json()["note"]) == (200, "国庆")


async def test_only_admins_change_the_calendar(client: AsyncClient, login: Login) -> None:
    assert (await client.get(URL)).status_code == 401
    for user in ("supervisor", "dispatcher", "handler.shinan"):
        headers = await login(user)
        r = await client.post(URL, json={"date": "2026-10-01", "kind": "holiday"}, headers=headers)
        assert r.status_code == 403


async def _due(client: AsyncClient, headers: dict[str, str], start: str, days: int) -> str:
    r = await client.get(DUE, params={"start": start, "working_days": days}, headers=headers)
    assert r.status_code == 200, r.text
    due: str = r.json()["due_at"]
    return due


async def test_a_workday_override_moves_a_deadline(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    friday = "2026-11-27T10:00:00+08:00"
    assert await _due(client, admin, friday, 1) == "2026-11-30T17:30:00+08:00"
    await client.post(URL, json={"date": "2026-11-28", "kind": "workday"}, headers=admin)
    assert await _due(client, admin, friday, 1) == "2026-11-28T17:30:00+08:00"
    await client.delete(f"{URL}/2026-11-28", headers=admin)
    assert await _due(client, admin, friday, 1) == "2026-11-30T17:30:00+08:00"


async def test_a_holiday_override_moves_new_findings_deadlines_not_old_ones(
    client: AsyncClient, login: Login, admin: dict[str, str]
) -> None:
    inspector = await login("inspector")
    start = datetime.now(TZ).isoformat()
    next_working = datetime.fromisoformat(await _due(client, admin, start, 1)).date()
    two_days = await _due(client, admin, start, 2)
    three_days = await _due(client, admin, start, 3)
    before = await post(client, inspector)  # exposed_garbage: 2 working days
    assert before["due_at"] == two_days

    r = await client.post(
        URL,
        json={"date": next_working.isoformat(), "kind": "holiday", "note": "临时放假"},
        headers=admin,
    )
    assert r.status_code == 201
    # the day no longer counts: two working days now end where three did
    assert await _due(client, admin, start, 2) == three_days
    after = await post(client, inspector)
    assert after["due_at"] == three_days
    # a deadline already given stays
    again = await client.get(f"/api/v1/findings/{before['id']}", headers=inspector)
    assert again.json()["due_at"] == two_days
    assert next_working > date.today() - timedelta(days=1)
