"""The traffic light (红黄绿灯): green, yellow from the reminder fraction of the time given,
red past due, and none while the clock does not run. One rule in Python and in SQL: at each
boundary, through the lifecycle and an extension, in the lists' filters, the unit
statistics, the exports and the dashboard."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.calendar.deadlines import CityClock, due_at
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation.rules import (
    Level,
    Light,
    Plan,
    light,
    reminder_due,
    reminder_time,
    yellow_time,
)
from services.core.findings.queries import FindingFilters, list_findings
from services.core.platform.settings import Settings
from services.core.stats.queries import unit_stats
from tests.conftest import Login
from tests.helpers import (
    TZ,
    URL,
    act,
    make_overdue,
    post,
    principal_of,
    reclock,
    sweep,
    ui_login,
    xlsx_text,
)
from tests.photos import make_jpeg, upload

MICRO = timedelta(microseconds=1)
CLOCK = CityClock(WorkingCalendar(), TZ, time(17, 30))
PLAN = Plan("default", (Level(1, "unit_head", {"working_days": 0}),), reminder_at=0.8)
# Monday 09:00, two working days: due Wednesday 17:30; 80 % of the 56.5 hours is 45.2 hours.
DISPATCHED = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
DUE = datetime(2026, 11, 25, 17, 30, tzinfo=TZ)
YELLOW = datetime(2026, 11, 25, 6, 12, tzinfo=TZ)
BADAGUAN = "shinan.badaguan"
XIAOCUN = "licang.xiaocun"
LICANG = {"lat": 36.1468, "lon": 120.4322, "address": "李沧区李村 京口路"}
# Outside every imported boundary: no unit is found from the position, so the report waits
# for the dispatcher.
AT_SEA = {"lat": 37.0, "lon": 121.0, "address": "黄海"}


# --- the rule -----------------------------------------------------------------------------


def test_yellow_is_the_reminder_fraction_of_the_time_given() -> None:
    assert yellow_time(0.8, DISPATCHED, DUE) == YELLOW
    assert yellow_time(0.5, DISPATCHED, DUE) == DISPATCHED + (DUE - DISPATCHED) / 2
    # A plan without a reminder, or with a fraction outside (0, 1), gets the default 80 %.
    for none_or_bad in (None, 0, 1, 1.5, -0.2, True, "0.8"):
        assert yellow_time(none_or_bad, DISPATCHED, DUE) == YELLOW, none_or_bad
    # No time was given: yellow from the deadline on (red right after it).
    assert yellow_time(0.8, None, DUE) == DUE
    assert yellow_time(0.8, DUE, DISPATCHED) == DISPATCHED
    assert yellow_time(0.8, DISPATCHED, None) is None
    # The instant the pre-due reminder is due.
    assert reminder_time(PLAN, DISPATCHED, DUE) == YELLOW


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DISPATCHED, Light.GREEN),
        (YELLOW - MICRO, Light.GREEN),
        (YELLOW, Light.YELLOW),
        (DUE - MICRO, Light.YELLOW),
        (DUE, Light.YELLOW),  # due, not yet overdue: red is past due, as `overdue` is
        (DUE + MICRO, Light.RED),
    ],
)
def test_the_light_at_each_boundary(now: datetime, expected: Light) -> None:
    for status in ("assigned", "accepted"):
        assert light(status, DUE, YELLOW, now) is expected
    # No light while the clock does not run: not dispatched, submitted, closed.
    for status in ("reported", "submitted", "closed"):
        assert light(status, DUE, YELLOW, now) is None
    assert light("assigned", None, None, now) is None


def test_continuous_clock() -> None:
    """A two-hour limit runs through a Saturday night: yellow after 96 minutes."""
    dispatched = datetime(2026, 11, 28, 22, 0, tzinfo=TZ)
    due = due_at(dispatched, {"duration": "PT2H"}, CLOCK.calendar, tz=TZ, end_of_day=time(17, 30))
    yellow = yellow_time(0.8, dispatched, due)
    assert yellow == datetime(2026, 11, 28, 23, 36, tzinfo=TZ)
    assert light("assigned", due, yellow, yellow - MICRO) is Light.GREEN
    assert light("assigned", due, yellow, yellow) is Light.YELLOW
    assert light("assigned", due, yellow, due) is Light.YELLOW
    assert light("assigned", due, yellow, due + MICRO) is Light.RED


def test_working_day_clock_across_a_holiday() -> None:
    """Dispatched on the last working day before National Day: the deadline skips the seven
    days off, and the fraction counts the whole time given, as the reminder does: the light
    turns yellow on the holiday's last evening, with the reminder, and is green until then."""
    dispatched = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)
    due = due_at(dispatched, {"working_days": 2}, CLOCK.calendar, tz=TZ, end_of_day=time(17, 30))
    assert due == datetime(2026, 10, 9, 17, 30, tzinfo=TZ)
    yellow = yellow_time(0.8, dispatched, due)
    assert yellow == datetime(2026, 10, 7, 20, 48, tzinfo=TZ)
    assert reminder_time(PLAN, dispatched, due) == yellow
    for now, expected in [
        (datetime(2026, 9, 30, 17, 30, tzinfo=TZ), Light.GREEN),
        (datetime(2026, 10, 4, 12, 0, tzinfo=TZ), Light.GREEN),
        (yellow - MICRO, Light.GREEN),
        (yellow, Light.YELLOW),
        (datetime(2026, 10, 8, 9, 0, tzinfo=TZ), Light.YELLOW),
        (due, Light.YELLOW),
        (due + MICRO, Light.RED),
    ]:
        assert light("accepted", due, yellow, now) is expected, now
        due_reminder = reminder_due(
            PLAN, due_at=due, dispatched_at=dispatched, reminded=False, fired=(), now=now
        )
        assert due_reminder == (expected is Light.YELLOW and now < due), now


# --- the column the database generates ----------------------------------------------------


def _cases() -> list[tuple[datetime | None, datetime | None, Any]]:
    rng = random.Random(20)
    fractions: list[Any] = [0.8, 0.5, 0.75, 0.9, 1 / 3, 0.123456, 0.0004, 0.9996]
    fractions += [None, 0, 1, 2, True, "0.8", "missing"]
    cases: list[tuple[datetime | None, datetime | None, Any]] = []
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(400):
        dispatched = base + timedelta(microseconds=rng.randrange(10**14))
        span = timedelta(microseconds=rng.choice([1, 2, 3, 999_999, rng.randrange(4 * 10**13)]))
        cases.append((dispatched, dispatched + span, fractions[i % len(fractions)]))
    cases += [(None, base, 0.8), (base, base, 0.8), (base, base - MICRO, 0.8), (base, None, 0.8)]
    return cases


async def test_the_database_generates_the_same_instant(server_side: asyncpg.Connection) -> None:
    """`findings.yellow_at` is generated by `finding_yellow_at`; Python's `yellow_time` gives
    the intake's answer and the rules: the two agree to the microsecond."""
    for dispatched, due, fraction in _cases():
        plan = None if fraction == "missing" else {"policy": "default", "reminder_at": fraction}
        stored = await server_side.fetchval(
            "SELECT finding_yellow_at($1, $2, $3::jsonb)",
            dispatched,
            due,
            json.dumps(plan) if plan is not None else None,
        )
        assert stored == yellow_time(fraction, dispatched, due), (dispatched, due, fraction)


# --- through the API ----------------------------------------------------------------------


async def test_a_report_answers_its_light_as_the_row_holds_it(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    assert f["status"] == "assigned"
    assert f["light"] == "green"
    read = (await client.get(f"{URL}/{f['id']}", headers=inspector)).json()
    assert read["yellow_at"] == f["yellow_at"] is not None
    dispatched = datetime.fromisoformat(f["dispatched_at"])
    due = datetime.fromisoformat(f["due_at"])
    assert datetime.fromisoformat(f["yellow_at"]) == yellow_time(0.8, dispatched, due)
    # Not dispatched yet: no deadline, no light.
    queued = await post(client, inspector, unit=None, location=AT_SEA)
    assert queued["status"] == "reported"
    assert (queued["light"], queued["yellow_at"]) == (None, None)


async def _check_light(
    client: AsyncClient, headers: dict[str, str], fid: str, expected: str | None
) -> dict[str, Any]:
    r = await client.get(f"{URL}/{fid}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["light"] == expected, body
    return body


async def test_the_light_follows_the_clock_through_the_lifecycle(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    """Yellow while accepted, none while submitted, back (with the same deadline) when the
    verifier rejects, red past due, and green again once an extension is approved."""
    inspector, handler = await login("inspector"), await login("handler.shinan.badaguan")
    fid = (await post(client, inspector))["id"]
    now = datetime.now(UTC)
    await reclock(factory, fid, now - timedelta(hours=8), now + timedelta(hours=1))
    await _check_light(client, inspector, fid, "yellow")
    accepted = await act(client, handler, fid, "accept")
    assert accepted.json()["light"] == "yellow"
    photo = make_jpeg(taken_at=datetime.now(TZ), gps=(36.0571, 120.3466))
    assert (await upload(client, handler, fid, photo)).status_code == 201
    submitted = await act(client, handler, fid, "submit", note="已清运")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["light"] is None
    rejected = await act(client, await login("verifier"), fid, "reject", note="仍有残留")
    assert rejected.json()["light"] == "yellow"

    await reclock(factory, fid, now - timedelta(days=3), now - timedelta(hours=1))
    red = await _check_light(client, inspector, fid, "red")
    assert red["overdue"] is True
    later = (datetime.now(TZ) + timedelta(days=5)).replace(microsecond=0)
    asked = await act(
        client, handler, fid, "request_extension", due_at=later.isoformat(), note="需协调"
    )
    assert asked.status_code == 200, asked.text
    approved = await act(client, await login("dispatcher"), fid, "approve_extension")
    assert approved.status_code == 200, approved.text
    moved = approved.json()
    assert moved["light"] == "green"
    assert datetime.fromisoformat(moved["yellow_at"]) == yellow_time(
        0.8, now - timedelta(days=3), later
    )
    assert (await _check_light(client, inspector, fid, "green"))["yellow_at"] == moved["yellow_at"]


async def _ids(client: AsyncClient, headers: dict[str, str], **params: str) -> set[str]:
    r = await client.get(URL, params={"limit": "500", **params}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return {f["id"] for f in r.json()["items"]}


async def _arranged(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> dict[str, set[str]]:
    """Findings of every light in 八大关街道 (市南区) and 李村街道 (李沧区), and one queued
    and one submitted past due, which have none: their ids by light."""
    inspector = await login("inspector")
    now = datetime.now(UTC)
    clocks = {
        "green": (now - timedelta(hours=1), now + timedelta(days=2)),
        "yellow": (now - timedelta(hours=8), now + timedelta(hours=1)),
        "red": (now - timedelta(days=3), now - timedelta(hours=1)),
    }
    lights: dict[str, set[str]] = {"green": set(), "yellow": set(), "red": set(), "none": set()}
    for colour, count in (("green", 2), ("yellow", 3), ("red", 2)):
        for i in range(count):
            place = {} if i else {"unit": XIAOCUN, "location": LICANG}
            fid = (await post(client, inspector, **place))["id"]
            await reclock(factory, fid, *clocks[colour], arm=colour == "red")
            lights[colour].add(fid)
    lights["none"].add((await post(client, inspector, unit=None, location=AT_SEA))["id"])
    submitted = (await post(client, inspector))["id"]
    await reclock(factory, submitted, *clocks["red"])
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET status = 'submitted' WHERE id = :id"),
            {"id": uuid.UUID(submitted)},
        )
    lights["none"].add(submitted)
    return lights


async def test_the_findings_list_filters_by_light_and_the_statistics_count_the_same(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    lights = await _arranged(client, login, factory)
    supervisor = await login("supervisor")
    for colour in ("green", "yellow", "red"):
        assert await _ids(client, supervisor, light=colour) == lights[colour], colour
    assert await _ids(client, supervisor, light="red") == await _ids(
        client, supervisor, overdue="true"
    )
    bad = await client.get(URL, params={"light": "amber"}, headers=supervisor)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["light"]
    # A unit's scope: 市南区's handler sees only its own.
    handler = await login("handler.shinan")
    shinan = await _ids(client, supervisor, district="shinan")
    assert await _ids(client, handler, light="yellow") == lights["yellow"] & shinan

    stats = await client.get("/api/v1/stats/units", headers=supervisor)
    assert stats.status_code == 200, stats.text
    by_code = {s["unit"]["code"]: s for s in stats.json()["items"]}
    for code in ("shinan", "licang"):
        yellow = await _ids(client, supervisor, light="yellow", district=code)
        red = await _ids(client, supervisor, light="red", district=code)
        assert (by_code[code]["yellow_open"], by_code[code]["overdue_open"]) == (
            len(yellow),
            len(red),
        ), code
    assert (by_code["shinan"]["yellow_open"], by_code["shinan"]["overdue_open"]) == (2, 1)
    assert sum(s["yellow_open"] for s in by_code.values()) == 3
    streets = await client.get(
        "/api/v1/stats/units", params={"level": "street"}, headers=supervisor
    )
    badaguan = next(s for s in streets.json()["items"] if s["unit"]["code"] == BADAGUAN)
    assert badaguan["yellow_open"] == 2

    export = await client.get(URL, params={"format": "xlsx", "light": "yellow"}, headers=supervisor)
    assert export.status_code == 200
    assert export.headers["x-export-rows"] == "3"
    assert "红黄绿灯" in xlsx_text(export.content)
    assert xlsx_text(export.content).count("黄灯(即将超期)") == 3


async def test_the_sql_switches_at_the_same_instants_as_the_rule(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The list's filter and the statistics, read at each boundary (±1 µs) of one finding."""
    fid = (await post(client, await login("inspector")))["id"]
    assert await reclock(factory, fid, DISPATCHED, DUE) == YELLOW
    async with factory() as session:
        supervisor = await principal_of(session, "supervisor")
        for now in (YELLOW - MICRO, YELLOW, DUE, DUE + MICRO):
            expected = light("assigned", DUE, YELLOW, now)
            for colour in Light:
                rows = await list_findings(
                    session, supervisor, FindingFilters(light=colour), now=now, limit=50, after=None
                )
                listed = uuid.UUID(fid) in {f.id for f in rows}
                assert listed == (colour is expected), (now, colour)
            stats = await unit_stats(session, "district", since=None, until=None, now=now)
            shinan = next(s for s in stats if s.code == "shinan")
            assert shinan.counts.yellow_open == int(expected is Light.YELLOW), now
            assert shinan.counts.overdue_open == int(expected is Light.RED), now


async def test_escalations_filter_and_export_by_their_findings_light(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Two findings escalated past due; one then gets an extension: its escalations stay,
    its light goes back to green."""
    inspector = await login("inspector")
    overdue, extended = (await post(client, inspector))["id"], (await post(client, inspector))["id"]
    for fid in (overdue, extended):
        await make_overdue(factory, fid, datetime.now(UTC) - timedelta(days=6))
    await sweep(factory, settings, datetime.now(UTC))
    handler = await login("handler.shinan.badaguan")
    later = (datetime.now(TZ) + timedelta(days=20)).replace(microsecond=0).isoformat()
    asked = await act(client, handler, extended, "request_extension", due_at=later, note="需协调")
    assert asked.status_code == 200, asked.text
    approved = await act(client, await login("dispatcher"), extended, "approve_extension")
    assert approved.json()["light"] == "green"

    supervisor = await login("supervisor")

    async def escalated(colour: str) -> list[dict[str, Any]]:
        r = await client.get("/api/v1/escalations", params={"light": colour}, headers=supervisor)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        assert all(e["finding"]["light"] == colour for e in items)
        return items

    red, green = await escalated("red"), await escalated("green")
    assert {e["finding"]["id"] for e in red} == {overdue}
    assert {e["finding"]["id"] for e in green} == {extended}
    assert len(red) == len(green) >= 2
    assert await escalated("yellow") == []

    r = await client.get(
        "/api/v1/escalations", params={"format": "csv", "light": "red"}, headers=supervisor
    )
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert {row["问题编号"] for row in rows} == {overdue}
    assert {row["红黄绿灯"] for row in rows} == {"红灯(已超期)"}
    book = await client.get(
        "/api/v1/escalations", params={"format": "xlsx", "light": "green"}, headers=supervisor
    )
    assert book.headers["x-export-rows"] == str(len(green))
    assert "绿灯" in xlsx_text(book.content)
    assert overdue not in xlsx_text(book.content)


async def test_the_dashboard_shows_each_light_in_colour_and_in_words(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lights = await _arranged(client, login, factory)
    await sweep(factory, settings, datetime.now(UTC))  # the reds escalate
    await ui_login(client, "supervisor")

    overview = await client.get("/ui")
    assert overview.status_code == 200
    row = next(r for r in overview.text.split("<tr") if ">市南区</a>" in r)
    assert re.search(r'data-light="yellow">2<', row), row
    assert re.search(r'data-light="red">1<', row), row
    assert "即将超期（黄灯）" in overview.text

    words_of = {"green": "绿灯·正常", "yellow": "黄灯·即将超期", "red": "红灯·已超期"}
    for colour, words in words_of.items():
        fid = sorted(lights[colour])[0]
        page = await client.get(f"/ui/findings/{fid}")
        assert f'class="light light-{colour}" data-light="{colour}"' in page.text
        assert words in page.text
    queued = await client.get(f"/ui/findings/{sorted(lights['none'])[0]}")
    assert "data-light=" not in queued.text

    reds = await client.get("/ui/escalations", params={"light": "red"})
    assert reds.status_code == 200
    listed = reds.text.split('data-testid="escalations"')[1]
    assert "红灯·已超期" in listed
    assert 'data-light="yellow"' not in listed
    assert 'data-light="green"' not in listed
    assert {fid for fid in lights["red"] if fid in listed} == lights["red"]
    none = await client.get("/ui/escalations", params={"light": "yellow"})
    assert "没有记录" in none.text
    assert (await client.get("/ui/escalations", params={"light": "amber"})).status_code == 422

    map_page = await client.get("/ui/map")
    for cls, colour in (("overdue", "red"), ("yellow", "yellow"), ("green", "green")):
        assert map_page.text.count(f'class="pt {cls}"') == len(lights[colour]), cls
    assert "<title>黄灯·即将超期 · " in map_page.text
    english = await client.get("/ui/map", params={"lang": "en"})
    assert "yellow · due soon" in english.text
