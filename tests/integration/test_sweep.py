"""The sweep against the real database, driven with an explicit `now` (no worker, no waiting)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Notification
from services.core.platform.settings import Settings
from tests.helpers import Login, act, escalations, make_overdue, post, sweep
from tests.photos import attach_after_photo


async def test_twelve_working_days_late_fires_l1_to_l4_to_the_right_people(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    result = await sweep(factory, settings, now)
    assert result.claimed == 1
    assert result.escalations == 4
    fired = await escalations(factory, f["id"])
    assert [(e.level, e.target, e.reason) for e in fired] == [
        (1, "unit_head", "overdue"),
        (2, "district_head", "overdue"),
        (3, "city_leader", "overdue"),
        (4, "discipline_commission", "overdue"),
    ]
    assert [e.target_unit_name for e in fired] == ["八大关街道", "市南区", "市南区", "市纪委监委"]
    assert all(e.target_name and e.target_name.startswith("示例·") for e in fired)
    assert [e.target_title for e in fired][1:3] == ["市南区委书记", "联系市南区的市领导"]
    assert {e.district_id for e in fired} == {fired[0].district_id}
    # nothing left to do for this finding; a second sweep finds nothing and fires nothing
    again = await sweep(factory, settings, now + timedelta(days=30))
    assert again.claimed == 0
    assert len(await escalations(factory, f["id"])) == 4
    async with factory() as session:
        inbox = (
            (
                await session.execute(
                    select(Notification).where(
                        Notification.kind == "escalation", Notification.channel == "inbox"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(inbox) == 4
    assert all(n.status == "sent" for n in inbox)


async def test_vacant_post_goes_to_the_campaign_office(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    # laixi.cgj has no head in the demo: a facility in 莱西市 is owned by that bureau
    f = await post(
        client,
        await login("inspector"),
        category="damaged_road",
        unit="laixi",
        location={"lat": 36.88, "lon": 120.52},
    )
    assert f["responsible_unit"]["code"] == "laixi.cgj"
    due = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    await make_overdue(factory, f["id"], due)
    await sweep(factory, settings, due + timedelta(minutes=1))
    (first,) = await escalations(factory, f["id"])
    assert first.reason == "vacant_post"
    assert first.target_unit_name == "市文明办"


async def test_submit_stops_the_ladder_and_rework_resumes_it(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    handler, verifier = await login("handler.shinan.badaguan"), await login("verifier")
    f = await post(client, await login("inspector"))
    await act(client, handler, f["id"], "accept")
    due = datetime.now(UTC) - timedelta(minutes=5)
    await make_overdue(factory, f["id"], due)
    await attach_after_photo(client, handler, f["id"])
    await act(client, handler, f["id"], "submit", note="已整改")
    submitted = (await client.get(f"/api/v1/findings/{f['id']}", headers=handler)).json()
    assert submitted["next_escalation_at"] is None
    assert (await sweep(factory, settings, datetime.now(UTC))).claimed == 0
    r = await act(client, verifier, f["id"], "reject", note="未整改到位")
    assert r.json()["next_escalation_at"] is not None
    assert datetime.fromisoformat(r.json()["next_escalation_at"]) <= datetime.now(UTC)
    result = await sweep(factory, settings, datetime.now(UTC))
    assert result.escalations == 1
    await attach_after_photo(client, handler, f["id"])
    await act(client, handler, f["id"], "submit", note="再次整改")
    r = await act(client, verifier, f["id"], "verify", note="通过")
    assert r.json()["next_escalation_at"] is None
    (l1,) = await escalations(factory, f["id"])
    assert l1.resolved_at is not None


async def test_reminder_before_the_deadline_goes_to_the_handlers(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    f = await post(client, await login("inspector"))
    async with factory() as session:
        row = (
            await session.execute(
                text(
                    "SELECT dispatched_at, due_at, next_escalation_at FROM findings WHERE id = :id"
                ),
                {"id": uuid.UUID(f["id"])},
            )
        ).one()
    dispatched, due, nxt = row
    assert nxt == dispatched + (due - dispatched) * 0.8
    result = await sweep(factory, settings, nxt + timedelta(seconds=1))
    assert result.reminders == 1
    assert result.escalations == 0
    async with factory() as session:
        reminders = (
            (await session.execute(select(Notification).where(Notification.kind == "reminder")))
            .scalars()
            .all()
        )
    assert reminders
    assert all(n.channel == "inbox" for n in reminders)
    # the next look is the deadline itself (L1 at due)
    async with factory() as session:
        after = await session.scalar(
            text("SELECT next_escalation_at FROM findings WHERE id = :id"),
            {"id": uuid.UUID(f["id"])},
        )
    assert after == due
