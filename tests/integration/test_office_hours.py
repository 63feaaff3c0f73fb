"""Working hours: reminders and L1–L2 notices reach people in office hours of working days
(default 08:30–18:00 on the official calendar with 调休 make-up days); L3–L4 and urgent
findings at any hour. A held notice goes out at the next opening, in the order written."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.notify.store import delivery_job_id, release_inbox
from services.core.platform.settings import Settings
from services.worker.delivery import outbox_rescan
from tests.fake_providers import FakeDingTalk, notice_id, texts_of
from tests.helpers import (
    TZ,
    Login,
    Servers,
    add_contact_point,
    deliver_due,
    job_context,
    post,
    sql_rows,
    sweep,
)
from tests.workers import queue_client


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


# --- through the sweep and delivery -------------------------------------------------------

OFFICE_HOURS = {"notify_hours": "08:30-18:00"}


async def schedule(
    factory: async_sessionmaker[AsyncSession],
    fid: str,
    *,
    dispatched: datetime,
    due: datetime,
    next_at: datetime,
    severity: str = "normal",
) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET dispatched_at = :d, due_at = :due, next_escalation_at = :n, "
                "severity = :s WHERE id = :id"
            ),
            {"d": dispatched, "due": due, "n": next_at, "s": severity, "id": uuid.UUID(fid)},
        )


async def inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/inbox", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def reminder_setup(due: datetime, reminder: datetime) -> datetime:
    """The dispatch time that puts the 80 % reminder exactly at `reminder`."""
    return due - (due - reminder) / 0.2


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
@pytest.mark.parametrize(
    ("reminder", "opening"),
    [
        (local(2026, 11, 28, 21, 57), local(2026, 11, 30, 8, 30)),  # Saturday night → Monday
        (local(2026, 10, 9, 21, 0), local(2026, 10, 10, 8, 30)),  # → the make-up Saturday
    ],
)
async def test_a_reminder_falling_at_night_reaches_the_handler_at_the_next_opening(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
    reminder: datetime,
    opening: datetime,
) -> None:
    handler = await login("handler.shinan.badaguan")
    robot = dingtalk.robot()
    await add_contact_point(
        client,
        await login("admin"),
        unit="shinan.badaguan",
        kind="dingtalk",
        url=dingtalk.url(robot),
    )
    f = await post(client, await login("inspector"))
    due = reminder + timedelta(days=3)
    await schedule(
        factory, f["id"], dispatched=reminder_setup(due, reminder), due=due, next_at=reminder
    )
    swept = await sweep(factory, settings, reminder)
    assert swept.reminders == 1
    # written at once (on the trail at 21:57), but in nobody's inbox or group yet
    (remind,) = await sql_rows(
        factory,
        "SELECT at FROM events WHERE action = 'remind' AND finding_id = :f",
        f=uuid.UUID(f["id"]),
    )
    assert remind.at == reminder
    assert await inbox(client, handler) == []
    held = await sql_rows(
        factory,
        "SELECT channel, status, next_attempt_at FROM notifications WHERE kind = 'reminder'",
    )
    assert {(h.channel, h.status, h.next_attempt_at) for h in held} == {
        ("inbox", "pending", opening),
        ("dingtalk", "pending", opening),
    }
    assert await deliver_due(factory, settings, http, opening - timedelta(seconds=1)) == []
    assert robot.messages == []
    await deliver_due(factory, settings, http, opening)
    (item,) = await inbox(client, handler)
    assert item["kind"] == "reminder"
    assert item["subject"].startswith("【整改提醒】八大关街道")
    (message,) = robot.messages
    assert message["markdown"]["title"].startswith("【整改提醒】")
    (sent,) = await sql_rows(factory, "SELECT sent_at FROM notifications WHERE channel = 'inbox'")
    assert sent.sent_at == opening


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
async def test_on_saturday_night_l3_l4_and_urgent_go_at_once_l1_l2_wait_for_monday_in_order(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
) -> None:
    night, monday = local(2026, 11, 28, 21, 57), local(2026, 11, 30, 8, 30)
    robot = dingtalk.robot()
    # The district's group hears L2 and L3 of every finding of 市南区.
    await add_contact_point(
        client, await login("admin"), unit="shinan", kind="dingtalk", url=dingtalk.url(robot)
    )
    inspector = await login("inspector")
    normal, urgent = await post(client, inspector), await post(client, inspector)
    long_ago = local(2026, 11, 2, 17, 30)
    for f, severity in ((normal, "normal"), (urgent, "urgent")):
        await schedule(
            factory,
            f["id"],
            dispatched=long_ago - timedelta(days=2),
            due=long_ago,
            next_at=long_ago,
            severity=severity,
        )
    assert (await sweep(factory, settings, night)).escalations == 8
    leader, city = await login("leader.shinan"), await login("leader.city")
    # the city leader (L3) has both at once; the district head (L2) only the urgent one
    assert {i["finding_id"] for i in await inbox(client, city)} == {normal["id"], urgent["id"]}
    assert [i["finding_id"] for i in await inbox(client, leader)] == [urgent["id"]]
    await deliver_due(factory, settings, http, night)
    at_night = [notice_id(t) for t in texts_of(robot.messages)]
    assert len(at_night) == 3  # L3 of both, L2 of the urgent one
    await deliver_due(factory, settings, http, monday)
    assert {i["finding_id"] for i in await inbox(client, leader)} == {normal["id"], urgent["id"]}
    on_monday = [notice_id(t) for t in texts_of(robot.messages)][3:]
    assert len(on_monday) == 1  # L2 of the normal one
    held = await sql_rows(
        factory,
        "SELECT id FROM notifications WHERE sent_at = :monday ORDER BY id",
        monday=monday,
    )
    # every notice held over the weekend went out at the opening, in the order written
    assert len(held) >= 3
    trail = await sql_rows(
        factory,
        "SELECT payload FROM events WHERE action = 'escalate' AND finding_id = :f ORDER BY id",
        f=uuid.UUID(normal["id"]),
    )
    assert [t.payload["held_until"] is not None for t in trail] == [True, True, False, False]


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
async def test_a_nights_notices_are_not_queued_as_jobs_and_the_inbox_ones_need_none(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    dingtalk: FakeDingTalk,
    servers: Servers,
    redis: Redis,
) -> None:
    """Held notices wait in the outbox, not in the job queue, where the next sweep would
    queue behind them; at the opening the rescan shows the inbox ones in one statement and
    queues a job only for a channel that sends."""
    handler = await login("handler.shinan.badaguan")
    await add_contact_point(
        client,
        await login("admin"),
        unit="shinan.badaguan",
        kind="dingtalk",
        url=dingtalk.url(dingtalk.robot()),
    )
    # A Saturday-night reminder of a finding: held to Monday 08:30, days before today.
    reminder = local(2026, 11, 28, 21, 57)
    f = await post(client, await login("inspector"))
    due = reminder + timedelta(days=3)
    await schedule(
        factory, f["id"], dispatched=reminder_setup(due, reminder), due=due, next_at=reminder
    )
    swept = await sweep(factory, settings, reminder)
    assert (swept.reminders, swept.deliveries) == (1, [])

    pool = await queue_client(servers.redis.url)
    try:
        queued = await outbox_rescan(job_context(sessionmaker=factory, redis=pool))
    finally:
        await pool.aclose()
    (item,) = await inbox(client, handler)
    assert item["kind"] == "reminder"
    (group,) = await sql_rows(
        factory, "SELECT id, status FROM notifications WHERE channel = 'dingtalk'"
    )
    assert (queued, group.status) == (1, "pending")
    assert await redis.zrange("arq:queue", 0, -1) == [delivery_job_id(group.id, 0).encode()]


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
async def test_the_opening_releases_held_inbox_notices_a_bounded_batch_at_a_time(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    reminder, opening = local(2026, 11, 28, 21, 57), local(2026, 11, 30, 8, 30)
    inspector = await login("inspector")
    for _ in range(3):
        f = await post(client, inspector)
        due = reminder + timedelta(days=3)
        await schedule(
            factory, f["id"], dispatched=reminder_setup(due, reminder), due=due, next_at=reminder
        )
    assert (await sweep(factory, settings, reminder)).reminders == 3
    released = []
    for _ in range(3):
        async with factory() as session, session.begin():
            released.append(await release_inbox(session, opening, limit=2))
    assert released == [2, 1, 0]
    assert len(await inbox(client, await login("handler.shinan.badaguan"))) == 3
