"""Coverage and blind spots over a month (November 2026, five working weeks): per district,
street and point type, the tasks due and done, the points due and inspected, the overdue
tasks; the blind-spot list, never-visited points first; every figure in the caller's scope.
And overdue tasks: reminded to the inspector, then escalated to the head of the team's unit
two working days past due, once each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.calendar.store import load_city_clock
from services.core.findings.rules import Clock
from services.core.inspection.overdue import OverdueSwept, sweep_overdue_tasks
from services.core.platform.settings import Settings
from services.worker.inspections import overdue_task_sweep
from tests.fake_providers import FakeDingTalk, texts_of
from tests.helpers import (
    INSPECTIONS,
    PLANS,
    Login,
    Servers,
    add_contact_point,
    deliver_due,
    import_criteria,
    import_points,
    instruments,
    job_context,
    person_of,
    sql_rows,
    ui_login,
    visit,
)
from tests.workers import queue_client

TZ = ZoneInfo("Asia/Shanghai")
COVERAGE = "/api/v1/coverage"
NOVEMBER = {"since": "2026-11-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}
# The Tuesdays of November 2026's five weeks (the 30th is a Monday: its week's only day).
VISITS = [datetime(2026, 11, d, 10, 0, tzinfo=TZ) for d in (3, 10, 17, 24)] + [
    datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
]


async def november(client: AsyncClient, login: Login, **over: Any) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    plan = {
        "code": "t.november", "name": "十一月巡查", "criteria_set": "t-2026",
        "starts_on": "2026-11-01", "ends_on": "2026-11-30", "units": ["shinan"],
        "frequencies": {"farmers_market": "weekly", "back_alley": "weekly"},
        "assignees": ["inspector.shinan"],
    } | over  # fmt: skip
    r = await client.post(PLANS, json=plan, headers=await login("dispatcher"))
    assert r.status_code == 201, r.text


async def test_coverage_and_blind_spots_over_a_month(client: AsyncClient, login: Login) -> None:
    await november(client, login)
    inspector = await login("inspector.shinan")
    # 八大关's market every week, 湛山's once, the alley of 香港中路 never.
    for at in VISITS:
        r = await client.post(INSPECTIONS, json=visit(observed_at=at.isoformat()),
                              headers=inspector)  # fmt: skip
        assert r.status_code == 201, r.text
    once = visit("t.sn.market2", observed_at=VISITS[0].isoformat())
    r = await client.post(INSPECTIONS, headers=inspector, json=once)
    assert r.status_code == 201
    supervisor = await login("supervisor")

    r = await client.get(COVERAGE, params=NOVEMBER, headers=supervisor)
    assert r.status_code == 200, r.text
    [shinan] = [i for i in r.json()["items"] if i["code"] == "shinan"]
    assert (shinan["tasks_due"], shinan["tasks_done"]) == (15, 6)
    assert (shinan["points_due"], shinan["points_inspected"]) == (3, 2)
    assert shinan["coverage"] == 0.4
    assert shinan["overdue"] == 9

    r = await client.get(COVERAGE, params={**NOVEMBER, "by": "street"}, headers=supervisor)
    streets = {i["code"]: (i["tasks_due"], i["tasks_done"]) for i in r.json()["items"]}
    assert streets["shinan.badaguan"] == (5, 5)
    assert streets["shinan.zhanshan"] == (5, 1)
    assert streets["shinan.xiangganglu"] == (5, 0)
    r = await client.get(COVERAGE, params={**NOVEMBER, "by": "point_type"}, headers=supervisor)
    types = {i["code"]: i["coverage"] for i in r.json()["items"]}
    assert types == {"farmers_market": 0.6, "back_alley": 0.0}

    # Blind for more days than since 湛山's visit and fewer than since 八大关's last one.
    days = (datetime.now(TZ).date() - date(2026, 11, 3)).days - 1
    r = await client.get(f"{COVERAGE}/blind-spots", params={"district": "shinan", "days": days},
                         headers=supervisor)  # fmt: skip
    spots = r.json()["items"]
    assert [s["point"] for s in spots] == ["t.sn.alley1", "t.sn.market2"]
    assert spots[0]["last_inspected_at"] is None
    assert spots[1]["days_unvisited"] >= days


async def test_coverage_is_scoped(client: AsyncClient, login: Login) -> None:
    await november(client, login, units=[])
    licang = await login("handler.licang.xiaocun")
    r = await client.get(COVERAGE, params=NOVEMBER, headers=licang)
    assert [(i["code"], i["tasks_due"]) for i in r.json()["items"]] == [("licang", 5)]
    r = await client.get(f"{COVERAGE}/blind-spots", headers=licang)
    assert [s["point"] for s in r.json()["items"]] == ["t.lc.alley1"]
    r = await client.get(COVERAGE, params={"district": "nowhere"}, headers=licang)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "district"


async def one_market_left_undone(client: AsyncClient, login: Login) -> None:
    """The week of 23 November: two market tasks due Friday 27 November 17:30 for
    inspector.shinan; 八大关's is done on time, 湛山's (t.sn.market2) never."""
    await november(client, login, starts_on="2026-11-23", ends_on="2026-11-29",
                   frequencies={"farmers_market": "weekly"})  # fmt: skip
    r = await client.post(INSPECTIONS, headers=await login("inspector.shinan"),
                          json=visit(observed_at=VISITS[3].isoformat()))  # fmt: skip
    assert r.status_code == 201


async def sweep_tasks_at(
    factory: async_sessionmaker[AsyncSession], settings: Settings, at: datetime
) -> OverdueSwept:
    async with factory() as session, session.begin():
        city = await load_city_clock(session, settings)
        return await sweep_overdue_tasks(session, Clock(at, city), escalate_after=2)


async def test_overdue_tasks_are_reminded_then_escalated_once(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await one_market_left_undone(client, login)

    async def sweep_at(at: datetime) -> tuple[int, int]:
        swept = await sweep_tasks_at(factory, settings, at)
        return swept.reminded, swept.escalated

    assert await sweep_at(datetime(2026, 11, 27, 17, 0, tzinfo=TZ)) == (0, 0)
    assert await sweep_at(datetime(2026, 11, 30, 9, 0, tzinfo=TZ)) == (1, 0)
    assert await sweep_at(datetime(2026, 11, 30, 9, 5, tzinfo=TZ)) == (0, 0)
    # Two working days after Friday: the end of Tuesday 1 December.
    assert await sweep_at(datetime(2026, 12, 1, 17, 0, tzinfo=TZ)) == (0, 0)
    assert await sweep_at(datetime(2026, 12, 1, 17, 31, tzinfo=TZ)) == (0, 1)
    assert await sweep_at(datetime(2026, 12, 2, 9, 0, tzinfo=TZ)) == (0, 0)
    inbox = await client.get("/api/v1/inbox", headers=await login("leader.shinan"))
    notices = [n for n in inbox.json()["items"] if n["kind"] == "task_escalation"]
    assert len(notices) == 1
    assert notices[0]["payload"]["point"] == "t.sn.market2"
    assert notices[0]["finding_id"] is None
    task = (await client.get(f"/api/v1/inspection-tasks/{notices[0]['task_id']}",
                             headers=await login("supervisor"))).json()  # fmt: skip
    assert task["status"] == "overdue"
    assert task["reminded_at"] is not None
    assert task["escalated_at"] is not None
    assert timedelta(0) < datetime.fromisoformat(task["escalated_at"]) - datetime.fromisoformat(
        task["reminded_at"]
    )


async def test_the_dashboard_page_shows_coverage_blind_spots_and_the_map(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)
    r = await client.post(INSPECTIONS, json=visit(), headers=await login("inspector.shinan"))
    assert r.status_code == 201
    await ui_login(client, "handler.shinan")
    page = await client.get("/ui/coverage")
    assert page.status_code == 200
    html = page.text
    table = html.split('data-testid="coverage"', 1)[1].split("</table>", 1)[0]
    assert "市南区" in table
    assert "李沧区" not in table
    spots = html.split('data-testid="blind-spots"', 1)[1].split("</table>", 1)[0]
    assert "t.sn.alley1" in spots
    assert "t.sn.market2" in spots
    assert "t.sn.market1" not in spots
    assert "t.lc.alley1" not in html
    svg = html.split('data-testid="coverage-map"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="pt overdue"') == 2  # never inspected
    assert svg.count('class="pt green"') == 1


async def test_the_weekly_briefing_has_a_coverage_section(
    client: AsyncClient, login: Login
) -> None:
    await november(client, login)
    r = await client.post(INSPECTIONS, headers=await login("inspector.shinan"),
                          json=visit(observed_at=VISITS[3].isoformat()))  # fmt: skip
    assert r.status_code == 201
    supervisor = await login("supervisor")
    r = await client.get("/api/v1/briefings/weekly", params={"week": "2026-W48"},
                         headers=supervisor)  # fmt: skip
    assert r.status_code == 200, r.text
    lines = {c["code"]: c for c in r.json()["coverage"]}
    assert (lines["shinan"]["tasks_due"], lines["shinan"]["tasks_done"]) == (3, 1)
    assert lines["shinan"]["overdue"] == 2
    html = await client.get(
        "/api/v1/briefings/weekly", params={"week": "2026-W48", "format": "html"},
        headers=supervisor,
    )  # fmt: skip
    section = html.text.split('id="coverage"', 1)[1]
    assert "测评点位巡查覆盖" in section
    assert "33.3%" in section


async def test_the_worker_job_reminds_the_overdue_tasks_once(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    servers: Servers,
) -> None:
    # November's 15 tasks are all past due now, one done: 14 reminders, then nothing new.
    await november(client, login)
    r = await client.post(INSPECTIONS, headers=await login("inspector.shinan"),
                          json=visit(observed_at=VISITS[0].isoformat()))  # fmt: skip
    assert r.status_code == 201
    pool = await queue_client(servers.redis.url)
    try:
        ctx = job_context(sessionmaker=factory, settings=settings, redis=pool)
        first = await overdue_task_sweep(ctx)
        assert first >= 14  # the reminders, and the escalations of those long past
        assert await overdue_task_sweep(ctx) == 0
    finally:
        await pool.aclose()
    r = await client.get("/api/v1/inspection-tasks", params={"status": "overdue", "limit": 50},
                         headers=await login("supervisor"))  # fmt: skip
    overdue = r.json()["items"]
    assert len(overdue) == 14
    assert all(t["reminded_at"] for t in overdue)


@pytest.mark.parametrize("settings_overrides", [{"notify_hours": "08:30-18:00"}])
async def test_an_overdue_tasks_notices_go_out_on_the_channels_in_office_hours(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: AsyncClient,
    dingtalk: FakeDingTalk,
) -> None:
    """Reminded on a Saturday night, the district's work group hears of the task on Monday at
    the opening (the demo's inspector is an account, not a person with channels of their
    own), and the district's head of the escalation on their own DingTalk, as findings'
    notices do."""
    await one_market_left_undone(client, login)
    admin = await login("admin")
    group, head = dingtalk.robot(), dingtalk.robot()
    await add_contact_point(client, admin, unit="shinan", kind="dingtalk", url=dingtalk.url(group))
    await add_contact_point(client, admin, person_id=await person_of(factory, "shinan", "head"),
                            kind="dingtalk", url=dingtalk.url(head))  # fmt: skip

    saturday = datetime(2026, 11, 28, 22, 0, tzinfo=TZ)
    monday = datetime(2026, 11, 30, 8, 30, tzinfo=TZ)
    swept = await sweep_tasks_at(factory, settings, saturday)
    assert (swept.reminded, swept.escalated, swept.deliveries) == (1, 0, [])
    await deliver_due(factory, settings, http, saturday)
    assert group.messages == []
    await deliver_due(factory, settings, http, monday)
    (reminder,) = texts_of(group.messages)
    assert "巡查任务逾期" in reminder
    assert "t.sn.market2" in reminder
    assert "巡查期限" in reminder

    # Two working days past due, in office hours: the head's own channel and the group's.
    tuesday = datetime(2026, 12, 1, 17, 31, tzinfo=TZ)
    swept = await sweep_tasks_at(factory, settings, tuesday)
    assert (swept.escalated, len(swept.deliveries)) == (1, 2)
    await deliver_due(factory, settings, http, tuesday)
    (escalation,) = texts_of(head.messages)
    assert "督办" in escalation
    assert "t.sn.market2" in escalation
    assert len(group.messages) == 2
    r = await client.get("/api/v1/inbox", headers=await login("leader.shinan"))
    assert [(n["kind"], n["payload"]["point"]) for n in r.json()["items"]] == [
        ("task_escalation", "t.sn.market2")
    ]
    tasks = await sql_rows(
        factory, "SELECT DISTINCT task_id FROM notifications WHERE kind LIKE 'task_%'"
    )
    assert len(tasks) == 1
    assert tasks[0].task_id is not None
    # A second sweep sends nothing again.
    assert await sweep_tasks_at(factory, settings, tuesday) == OverdueSwept()
