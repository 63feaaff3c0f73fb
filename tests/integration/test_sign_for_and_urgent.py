"""The category's urgent time limit and sign-for deadline (签收时限) against the real database:
configured through the admin API, applied at intake and dispatch, and the sign-for sweep's
reminder, escalation to the unit head and light; urgent notices go out at any hour."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Event, Notification, Person
from services.core.platform.settings import Settings
from tests.helpers import Login, act, fields, post, set_clock, sweep_sign_for_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
HANDLER = "handler.shinan.badaguan"
CATEGORY = "/api/v1/categories/exposed_garbage"


async def configure(client: AsyncClient, login: Login, **changes: Any) -> dict[str, Any]:
    r = await client.patch(CATEGORY, json=changes, headers=await login("admin"))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def notices(
    factory: async_sessionmaker[AsyncSession], fid: str, kind: str = "sign_for"
) -> list[Notification]:
    async with factory() as session:
        found = await session.execute(
            select(Notification)
            .where(Notification.finding_id == uuid.UUID(fid), Notification.kind == kind)
            .order_by(Notification.id)
        )
        return list(found.scalars())


async def test_the_category_takes_both_limits_and_names_a_bad_one(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    shown = await configure(
        client, login, urgent_time_limit={"duration": "pt4h"}, accept_within={"working_hours": 2}
    )
    assert shown["urgent_time_limit"] == {"duration": "PT4H"}
    assert shown["accept_within"] == {"working_hours": 2}
    for bad, field in [
        ({"urgent_time_limit": {"duration": "soon"}}, "urgent_time_limit.duration"),
        ({"urgent_time_limit": {"hours": 4}}, "urgent_time_limit"),
        ({"accept_within": {"working_hours": 0}}, "accept_within.working_hours"),
        ({"accept_within": {"days": 1}}, "accept_within"),
    ]:
        r = await client.patch(CATEGORY, json=bad, headers=admin)
        assert r.status_code == 422, r.text
        assert fields(r) == {field}
    # Nothing of a refused change was stored; null removes a limit.
    assert (await client.get(CATEGORY, headers=admin)).json() == shown
    cleared = await configure(client, login, urgent_time_limit=None, accept_within=None)
    assert cleared["urgent_time_limit"] is None
    assert cleared["accept_within"] is None


async def test_an_urgent_finding_gets_the_urgent_limit_at_intake_and_dispatch(
    client: AsyncClient, login: Login
) -> None:
    await configure(client, login, urgent_time_limit={"duration": "PT4H"})
    inspector, handler, office = (
        await login("inspector"),
        await login(HANDLER),
        await login("dispatcher"),
    )
    urgent = await post(client, inspector, severity="urgent")
    normal = await post(client, inspector, description="另一处垃圾")
    dispatched = datetime.fromisoformat(urgent["dispatched_at"])
    assert datetime.fromisoformat(urgent["due_at"]) == dispatched + timedelta(hours=4)
    # The normal one keeps the category's 2 working days: the end of a working day.
    due = datetime.fromisoformat(normal["due_at"]).astimezone(SHANGHAI)
    assert (due.hour, due.minute) == (17, 30)
    # Dispatched again by hand: the urgent limit again, from the new dispatch.
    await act(client, handler, urgent["id"], "return", note="非本单位")
    await act(client, office, urgent["id"], "approve_return", note="同意退回")
    again = await act(client, office, urgent["id"], "dispatch", unit="shinan.badaguan")
    assert again.status_code == 200, again.text
    redispatched = datetime.fromisoformat(again.json()["dispatched_at"])
    assert datetime.fromisoformat(again.json()["due_at"]) == redispatched + timedelta(hours=4)


async def test_not_signed_for_in_time_turns_red_reminds_then_escalates_to_the_head(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await configure(client, login, accept_within={"duration": "PT2H"})
    handler = await login(HANDLER)
    f = await post(client, await login("inspector"))
    fresh = (await client.get(f"/api/v1/findings/{f['id']}", headers=handler)).json()
    assert fresh["accept_light"] == "green"
    dispatched = datetime.now(UTC) - timedelta(hours=3)
    await set_clock(factory, f["id"], dispatched=dispatched, due=dispatched + timedelta(days=2))
    late = (await client.get(f"/api/v1/findings/{f['id']}", headers=handler)).json()
    assert late["accept_light"] == "red"
    assert datetime.fromisoformat(late["accept_due_at"]) == dispatched + timedelta(hours=2)
    # The rectification clock's own light is untouched by the sign-for track.
    assert late["light"] == "green"

    early = await sweep_sign_for_at(factory, settings, dispatched + timedelta(minutes=119))
    assert (early.reminded, early.escalated) == (0, 0)
    first = await sweep_sign_for_at(factory, settings, dispatched + timedelta(hours=2))
    assert (first.reminded, first.escalated) == (1, 0)
    reminded = await notices(factory, f["id"])
    assert reminded
    assert all("签收超时" in n.subject and n.payload["step"] == "remind" for n in reminded)
    assert (
        await sweep_sign_for_at(factory, settings, dispatched + timedelta(hours=3))
    ).reminded == 0

    second = await sweep_sign_for_at(factory, settings, dispatched + timedelta(hours=4))
    assert (second.reminded, second.escalated) == (0, 1)
    escalated = [n for n in await notices(factory, f["id"]) if n.payload["step"] == "escalate"]
    async with factory() as session:
        heads = {
            p.id
            for p in (
                await session.execute(
                    select(Person).where(Person.code == "demo.shinan.badaguan.head")
                )
            ).scalars()
        }
        trail = [
            e.action
            for e in (
                await session.execute(
                    select(Event).where(Event.finding_id == uuid.UUID(f["id"])).order_by(Event.id)
                )
            ).scalars()
        ]
    assert {n.recipient_person_id for n in escalated if n.channel == "inbox"} == heads
    assert trail[-2:] == ["sign_for_remind", "sign_for_escalate"]
    # Delivered twice (arq is at least once): nothing more.
    again = await sweep_sign_for_at(factory, settings, dispatched + timedelta(hours=9))
    assert (again.reminded, again.escalated) == (0, 0)

    accepted = await act(client, handler, f["id"], "accept")
    assert accepted.json()["accept_light"] is None


@pytest.mark.parametrize("settings_overrides", [{"notify_hours": "08:30-18:00"}])
async def test_an_urgent_findings_notice_goes_out_at_night_a_normal_one_waits(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await configure(client, login, accept_within={"duration": "PT1H"})
    inspector = await login("inspector")
    urgent = await post(client, inspector, severity="urgent")
    normal = await post(client, inspector, description="另一处垃圾")
    # Saturday 2026-11-21, 22:00 in the city: outside the office hours.
    night = datetime(2026, 11, 21, 22, 0, tzinfo=SHANGHAI)
    for f in (urgent, normal):
        await set_clock(
            factory, f["id"], dispatched=night - timedelta(hours=1), due=night + timedelta(days=3)
        )
    swept = await sweep_sign_for_at(factory, settings, night)
    assert swept.reminded == 2
    (urgent_inbox,) = [n for n in await notices(factory, urgent["id"]) if n.channel == "inbox"]
    normal_inbox = [n for n in await notices(factory, normal["id"]) if n.channel == "inbox"]
    assert urgent_inbox.status == "sent"
    assert normal_inbox
    assert all(n.status == "pending" for n in normal_inbox)
    # Held for Monday's opening.
    monday = datetime(2026, 11, 23, 8, 30, tzinfo=SHANGHAI)
    assert all(n.next_attempt_at == monday for n in normal_inbox)
