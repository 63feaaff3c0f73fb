"""Suspension (挂账) against the real database: asked by the unit, decided by the campaign
office, the clock and the ladder stopped, resumed by hand or by the worker at the expected
date with a reminder before, and the deadline moved on the working-day calendar."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Event, Notification, Suspension
from services.core.platform.settings import Settings
from services.worker.clock import clock_sweep
from tests.helpers import (
    Login,
    act,
    assert_problem,
    escalations,
    fields,
    job_context,
    make_overdue,
    post,
    set_clock,
    sweep,
    sweep_suspensions,
)
from tests.helpers import suspend as suspend_finding
from tests.photos import attach_after_photo

SHANGHAI = ZoneInfo("Asia/Shanghai")
HANDLER = "handler.shinan.badaguan"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


async def get(client: AsyncClient, headers: dict[str, str], fid: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/findings/{fid}", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_the_unit_asks_the_office_approves_and_clock_and_ladder_stop(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    assert (await act(client, handler, f["id"], "accept")).status_code == 200
    resume_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    no_reason = await act(
        client, handler, f["id"], "request_suspension", note="待拨款", resume_at=resume_at
    )
    assert_problem(no_reason, 422)
    assert fields(no_reason) == {"reason"}
    no_date = await act(
        client, handler, f["id"], "request_suspension", note="待拨款", reason="funding"
    )
    assert fields(no_date) == {"resume_at"}
    past = await act(
        client, handler, f["id"], "request_suspension", note="待拨款", reason="funding",
        resume_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )  # fmt: skip
    assert fields(past) == {"resume_at"}
    # Only the unit asks; the office decides.
    by_office = await act(
        client,
        office,
        f["id"],
        "request_suspension",
        note="x",
        reason="funding",
        resume_at=resume_at,
    )
    assert by_office.status_code == 403

    asked = await act(
        client, handler, f["id"], "request_suspension", note="拆违需财政拨款", reason="funding",
        resume_at=resume_at,
    )  # fmt: skip
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "accepted"
    assert asked.json()["suspension"]["state"] == "requested"
    again = await act(
        client,
        handler,
        f["id"],
        "request_suspension",
        note="再次",
        reason="funding",
        resume_at=resume_at,
    )
    assert again.status_code == 409
    assert (await act(client, handler, f["id"], "approve_suspension")).status_code == 403

    approved = await act(client, office, f["id"], "approve_suspension")
    assert approved.status_code == 200, approved.text
    shown = approved.json()
    assert shown["status"] == "suspended"
    assert shown["light"] is None
    assert shown["overdue"] is False
    assert shown["next_escalation_at"] is None
    assert shown["suspension"]["state"] == "active"
    assert shown["suspension"]["reason"] == "funding"
    listed = await client.get("/api/v1/findings", params={"status": "suspended"}, headers=office)
    assert [x["id"] for x in listed.json()["items"]] == [f["id"]]

    # Past due and armed as if a stale schedule were left: the sweep fires nothing.
    await make_overdue(factory, f["id"], datetime.now(UTC) - timedelta(days=20))
    result = await sweep(factory, settings, datetime.now(UTC))
    assert result.escalations == 0
    assert await escalations(factory, f["id"]) == []
    assert (await get(client, office, f["id"]))["next_escalation_at"] is None

    # No work on it while suspended; another unit's handler does not even see it.
    assert (await act(client, handler, f["id"], "submit", note="x")).status_code == 409
    assert (
        await act(client, handler, f["id"], "request_extension", note="x", due_at=resume_at)
    ).status_code == 409
    other = await act(client, await login("handler.shinan.cgj"), f["id"], "resume")
    assert other.status_code == 404
    far = await act(client, await login("handler.licang.xiaocun"), f["id"], "resume")
    assert far.status_code == 404


async def test_the_office_refuses_and_the_clock_never_stopped(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    resume_at = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    asked = await act(
        client,
        handler,
        f["id"],
        "request_suspension",
        note="季节性",
        reason="seasonal",
        resume_at=resume_at,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "assigned"
    assert fields(await act(client, office, f["id"], "refuse_suspension")) == {"note"}
    refused = await act(client, office, f["id"], "refuse_suspension", note="可先行整改")
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "assigned"
    assert refused.json()["suspension"] is None
    assert refused.json()["due_at"] == f["due_at"]
    assert (await act(client, office, f["id"], "approve_suspension")).status_code == 409
    async with factory() as session:
        (row,) = (
            await session.execute(
                select(Suspension).where(Suspension.finding_id == uuid.UUID(f["id"]))
            )
        ).scalars()
    assert row.state == "refused"


async def test_the_worker_resumes_at_the_expected_date_across_the_holiday(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Due Wed Sep 30, 2026; suspended on Tue Sep 29 until Fri Oct 9: the suspension took Sep
    30, Oct 8 and Oct 9 (the National Day week counts nothing), so the deadline moves three
    working days on from Sep 30: to the make-up Saturday Oct 10."""
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    await act(client, handler, f["id"], "accept")
    await suspend_finding(client, handler, office, f["id"], datetime.now(UTC) + timedelta(days=30))
    fid = uuid.UUID(f["id"])
    async with factory() as session, session.begin():
        row = (
            await session.execute(select(Suspension).where(Suspension.finding_id == fid))
        ).scalar_one()
        row.started_at, row.expected_until = local("2026-09-29 10:00"), local("2026-10-09 10:00")
    await set_clock(
        factory, f["id"], dispatched=local("2026-09-28 10:00"), due=local("2026-09-30 17:30")
    )

    early = await sweep_suspensions(factory, settings, local("2026-10-09 09:59"))
    assert early.resumed == 0
    done = await sweep_suspensions(factory, settings, local("2026-10-09 10:00"))
    assert done.resumed == 1
    shown = await get(client, office, f["id"])
    assert shown["status"] == "accepted"
    assert datetime.fromisoformat(shown["due_at"]) == local("2026-10-10 17:30")
    assert shown["suspension"] is None
    assert shown["next_escalation_at"] is not None
    # Delivered twice (arq is at least once): the second run changes nothing.
    again = await sweep_suspensions(factory, settings, local("2026-10-09 10:05"))
    assert again.resumed == 0
    assert (await get(client, office, f["id"]))["version"] == shown["version"]
    async with factory() as session:
        trail = (
            (await session.execute(select(Event).where(Event.finding_id == fid).order_by(Event.id)))
            .scalars()
            .all()
        )
        row = (
            await session.execute(select(Suspension).where(Suspension.finding_id == fid))
        ).scalar_one()
    resumed = [e for e in trail if e.action == "resume"]
    assert len(resumed) == 1
    assert resumed[0].actor_id is None
    assert resumed[0].payload["automatic"] is True
    assert row.state == "ended"
    assert row.resumed_due_at == local("2026-10-10 17:30")


async def test_the_unit_is_reminded_before_the_expected_date_once(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    until = datetime.now(UTC) + timedelta(days=10)
    await suspend_finding(client, handler, office, f["id"], until)
    far = await sweep_suspensions(factory, settings, until - timedelta(days=4))
    assert far.reminded == 0
    near = await sweep_suspensions(factory, settings, until - timedelta(days=2))
    assert near.reminded == 1
    assert near.resumed == 0
    assert (await sweep_suspensions(factory, settings, until - timedelta(days=1))).reminded == 0
    async with factory() as session:
        notices = (
            (
                await session.execute(
                    select(Notification).where(
                        Notification.finding_id == uuid.UUID(f["id"]),
                        Notification.kind == "suspension",
                    )
                )
            )
            .scalars()
            .all()
        )
    inbox = [n for n in notices if n.channel == "inbox"]
    assert inbox
    assert all("挂账到期提醒" in n.subject for n in inbox)
    r = await client.get("/api/v1/inbox", headers=handler)
    assert any(item["kind"] == "suspension" for item in r.json()["items"]), r.text


async def test_resumed_by_hand_back_where_it_was(client: AsyncClient, login: Login) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    await suspend_finding(client, handler, office, f["id"], datetime.now(UTC) + timedelta(days=30))
    resumed = await act(client, handler, f["id"], "resume", note="资金已到位")
    assert resumed.status_code == 200, resumed.text
    # Suspended from assigned: back to assigned, the sign-for still to do.
    assert resumed.json()["status"] == "assigned"
    assert resumed.json()["suspension"] is None
    assert resumed.json()["due_at"] is not None
    assert (await act(client, handler, f["id"], "accept")).status_code == 200


async def test_closing_a_suspended_finding_ends_its_suspension(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    await suspend_finding(client, handler, office, f["id"], datetime.now(UTC) + timedelta(days=30))
    closed = await act(client, office, f["id"], "close_invalid", note="误报")
    assert closed.status_code == 200, closed.text
    g = await post(client, await login("inspector"), description="另一处")
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    await act(
        client, handler, g["id"], "request_suspension", note="x", reason="other", resume_at=until
    )
    await act(client, handler, g["id"], "return", note="非我单位职责")
    # The return, once the dispatcher approves it, takes the finding from the unit.
    returned = await act(client, office, g["id"], "approve_return", note="同意退回")
    assert returned.status_code == 200, returned.text
    async with factory() as session:
        states = {
            str(s.finding_id): s.state
            for s in (await session.execute(select(Suspension))).scalars()
        }
    assert states == {f["id"]: "ended", g["id"]: "lapsed"}


async def test_a_transfer_lapses_the_request_of_the_unit_it_leaves(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"), description="转办前申请挂账")
    until = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    asked = await act(
        client, handler, f["id"], "request_suspension", note="x", reason="funding", resume_at=until
    )
    assert asked.status_code == 200, asked.text
    moved = await act(client, office, f["id"], "transfer", unit="shinan.cgj", note="属城管局")
    assert moved.status_code == 200, moved.text
    assert moved.json()["suspension"] is None
    async with factory() as session:
        (state,) = (await session.execute(select(Suspension.state))).scalars()
    assert state == "lapsed"
    # The office cannot approve what the unit that now holds it never asked for.
    approve = await act(client, office, f["id"], "approve_suspension")
    assert approve.status_code == 409, approve.text


async def test_a_month_suspended_demolition_is_rectified_on_time_and_reported_per_unit(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    """Due four weeks ago, but suspended (needs funding) a week before it fell due: resumed
    today, it has the working days the five weeks took back (at least the week's before its
    deadline are still ahead of it), so rectifying it now is on time; the report shows the
    unit's five weeks of suspension."""
    handler, office, supervisor = (
        await login(HANDLER),
        await login("dispatcher"),
        await login("supervisor"),
    )
    f = await post(client, await login("inspector"), description="违法建设待拆除")
    await act(client, handler, f["id"], "accept")
    await suspend_finding(client, handler, office, f["id"], datetime.now(UTC) + timedelta(days=3))
    now = datetime.now(UTC)
    fid = uuid.UUID(f["id"])
    async with factory() as session, session.begin():
        row = (
            await session.execute(select(Suspension).where(Suspension.finding_id == fid))
        ).scalar_one()
        row.started_at = now - timedelta(days=35)
    await set_clock(
        factory, f["id"], dispatched=now - timedelta(days=38), due=now - timedelta(days=28)
    )
    resumed = await act(client, office, f["id"], "resume", note="资金已落实")
    assert resumed.status_code == 200, resumed.text
    due = datetime.fromisoformat(resumed.json()["due_at"])
    assert due > datetime.now(UTC)
    assert resumed.json()["overdue"] is False
    await attach_after_photo(client, handler, f["id"])
    assert (await act(client, handler, f["id"], "submit", note="已拆除")).status_code == 200
    closed = await act(client, await login("verifier"), f["id"], "verify", note="复核通过")
    assert closed.json()["close_reason"] == "rectified"
    async with factory() as session:
        submit = (
            await session.execute(
                select(Event).where(Event.finding_id == fid, Event.action == "submit")
            )
        ).scalar_one()
    assert submit.payload["on_time"] is True

    # A second request, refused, and a third, running.
    g = await post(client, await login("inspector"), description="占道施工")
    await act(
        client,
        handler,
        g["id"],
        "request_suspension",
        note="x",
        reason="seasonal",
        resume_at=(now + timedelta(days=9)).isoformat(),
    )
    await act(client, office, g["id"], "refuse_suspension", note="不予挂账")
    h = await post(client, await login("inspector"), description="道路改造")
    await suspend_finding(
        client, handler, office, h["id"], now + timedelta(days=20), reason="planning_approval"
    )

    r = await client.get("/api/v1/stats/suspensions", headers=supervisor)
    assert r.status_code == 200, r.text
    (unit,) = r.json()["items"]
    assert unit["unit"]["code"] == "shinan.badaguan"
    assert unit["district"]["code"] == "shinan"
    assert (
        unit["requested"],
        unit["refused"],
        unit["approved"],
        unit["active"],
        unit["ended"],
    ) == (3, 1, 2, 1, 1)
    assert 35 <= unit["suspended_days"] < 35.1
    assert 35 <= unit["longest_days"] < 35.1
    later = await client.get(
        "/api/v1/stats/suspensions",
        params={"since": (now + timedelta(days=1)).isoformat()},
        headers=supervisor,
    )
    assert later.json()["items"] == []
    assert (await client.get("/api/v1/stats/suspensions", headers=handler)).status_code == 403


async def test_approving_after_the_date_asked_for_needs_a_new_date(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    handler, office = await login(HANDLER), await login("dispatcher")
    f = await post(client, await login("inspector"))
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = await act(
        client,
        handler,
        f["id"],
        "request_suspension",
        note="x",
        reason="legal_process",
        resume_at=soon,
    )
    assert r.status_code == 200, r.text
    async with factory() as session, session.begin():
        row = (
            await session.execute(
                select(Suspension).where(Suspension.finding_id == uuid.UUID(f["id"]))
            )
        ).scalar_one()
        row.expected_until = datetime.now(UTC) - timedelta(hours=1)
    late = await act(client, office, f["id"], "approve_suspension")
    assert_problem(late, 422)
    assert fields(late) == {"resume_at"}
    assert (await get(client, office, f["id"]))["status"] == "assigned"
    later = (datetime.now(UTC) + timedelta(days=60)).replace(microsecond=0)
    approved = await act(client, office, f["id"], "approve_suspension", resume_at=later.isoformat())
    assert approved.status_code == 200, approved.text
    assert datetime.fromisoformat(approved.json()["suspension"]["resume_at"]) == later


async def test_the_worker_job_resumes_and_sweeps_the_sign_for_deadline_once(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The cron job itself: one run resumes what is due and reminds and escalates the late
    sign-for; a second run (arq delivers at least once) does nothing. No channel beyond the
    inbox is configured, so nothing is queued for delivery."""
    admin, handler, office = await login("admin"), await login(HANDLER), await login("dispatcher")
    r = await client.patch(
        "/api/v1/categories/exposed_garbage",
        json={"accept_within": {"duration": "PT1H"}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    suspended = await post(client, await login("inspector"))
    await suspend_finding(
        client, handler, office, suspended["id"], datetime.now(UTC) + timedelta(days=5)
    )
    async with factory() as session, session.begin():
        row = (
            await session.execute(
                select(Suspension).where(Suspension.finding_id == uuid.UUID(suspended["id"]))
            )
        ).scalar_one()
        row.expected_until = datetime.now(UTC) - timedelta(minutes=1)
    late = await post(client, await login("inspector"), description="未签收")
    dispatched = datetime.now(UTC) - timedelta(hours=3)
    await set_clock(factory, late["id"], dispatched=dispatched, due=dispatched + timedelta(days=2))

    ctx = job_context(sessionmaker=factory, settings=settings, redis=None)
    first = await clock_sweep(ctx)
    assert first["resumed"] == 1
    assert (first["sign_for_reminders"], first["sign_for_escalations"]) == (1, 1)
    assert (await get(client, office, suspended["id"]))["status"] == "assigned"
    assert not any((await clock_sweep(ctx)).values())


async def test_a_suspended_finding_is_counted_apart_in_the_ranking(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    """Overdue, it costs its district as red (overdue_open, 2 points each); suspended, it is
    neither red nor yellow and costs nothing, though still a finding reported."""
    handler, office, supervisor = (
        await login(HANDLER),
        await login("dispatcher"),
        await login("supervisor"),
    )
    f = await post(client, await login("inspector"))
    await act(client, handler, f["id"], "accept")
    dispatched = datetime.now(UTC) - timedelta(days=10)
    await set_clock(factory, f["id"], dispatched=dispatched, due=dispatched + timedelta(days=3))

    async def shinan() -> dict[str, Any]:
        r = await client.get("/api/v1/stats/units", headers=supervisor)
        assert r.status_code == 200, r.text
        (item,) = [i for i in r.json()["items"] if i["unit"]["code"] == "shinan"]
        return dict(item)

    overdue = await shinan()
    assert (overdue["total"], overdue["overdue_open"], overdue["yellow_open"]) == (1, 1, 0)
    await suspend_finding(client, handler, office, f["id"], datetime.now(UTC) + timedelta(days=30))
    suspended = await shinan()
    assert (suspended["total"], suspended["overdue_open"], suspended["yellow_open"]) == (1, 0, 0)
    assert suspended["score"] == overdue["score"] + 2
