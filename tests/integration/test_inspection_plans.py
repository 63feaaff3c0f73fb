"""Inspection plans generate inspection tasks on the working-day calendar: one per point and
week (or month, or once), opening on the period's first working day, due at the end of its
last; across the 2026 Mid-Autumn and National Day holidays a week ends early, on its make-up
Saturday, or has no working day and no task. Plans are idempotent by code, checked field by
field, and tasks are read in the caller's scope."""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from tests.helpers import Login, import_criteria, import_points

TZ = ZoneInfo("Asia/Shanghai")
END = time(17, 30)
PLANS = "/api/v1/inspection-plans"
TASKS = "/api/v1/inspection-tasks"


def plan_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "t.autumn",
        "name": "国庆前后市场巡查",
        "criteria_set": "t-2026",
        "starts_on": "2026-09-21",
        "ends_on": "2026-10-11",
        "units": ["shinan"],
        "frequencies": {"farmers_market": "weekly", "back_alley": "monthly"},
        "assignees": ["inspector.shinan"],
    }
    return body | over


async def test_a_plan_generates_tasks_across_the_national_day_holiday(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    dispatcher = await login("dispatcher")
    r = await client.post(PLANS, json=plan_body(), headers=dispatcher)
    assert r.status_code == 201, r.text
    # Two markets × three weeks, one alley × two months; the alley in 李沧区 is out of scope.
    assert r.json()["tasks"] == 2 * 3 + 1 * 2
    r = await client.get(
        TASKS, params={"plan": "t.autumn", "limit": 50}, headers=await login("inspector.shinan")
    )
    market = [t for t in r.json()["items"] if t["point"] == "t.sn.market1"]
    assert [(t["opens_at"], t["due_at"]) for t in market] == [
        # 25 Sep is the Mid-Autumn Festival: the week ends on Thursday.
        ("2026-09-21T00:00:00+08:00", "2026-09-24T17:30:00+08:00"),
        # 1–7 Oct is the National Day holiday: the week ends on Wednesday the 30th.
        ("2026-09-28T00:00:00+08:00", "2026-09-30T17:30:00+08:00"),
        # ... and the next opens on the 8th and ends on Saturday the 10th, a make-up day.
        ("2026-10-08T00:00:00+08:00", "2026-10-10T17:30:00+08:00"),
    ]
    assert {t["assignee"] for t in r.json()["items"]} == {"inspector.shinan"}
    alley = [t for t in r.json()["items"] if t["point"] == "t.sn.alley1"]
    assert [t["due_at"] for t in alley] == [
        "2026-09-30T17:30:00+08:00",
        "2026-10-10T17:30:00+08:00",
    ]


async def test_the_same_plan_again_changes_nothing_and_another_under_its_code_is_refused(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    dispatcher = await login("dispatcher")
    assert (await client.post(PLANS, json=plan_body(), headers=dispatcher)).status_code == 201
    again = await client.post(PLANS, json=plan_body(), headers=dispatcher)
    assert again.status_code == 200
    assert again.json()["tasks"] == 8
    other = await client.post(PLANS, json=plan_body(ends_on="2026-10-31"), headers=dispatcher)
    assert other.status_code == 409


async def test_a_survey_round_is_one_window_over_its_period(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    body = plan_body(code="t.survey", kind="survey", units=[], starts_on="2026-09-21",
                     ends_on="2026-10-11")  # fmt: skip
    r = await client.post(PLANS, json=body, headers=await login("dispatcher"))
    assert r.json()["tasks"] == 4  # every market and alley of the city, once
    r = await client.get(TASKS, params={"plan": "t.survey"}, headers=admin)
    assert {t["due_at"] for t in r.json()["items"]} == {"2026-10-10T17:30:00+08:00"}


async def test_bad_plans_name_their_fields_and_tasks_are_scoped(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    dispatcher = await login("dispatcher")
    bad = plan_body(
        criteria_set="nope", units=["nowhere"], frequencies={"castles": "weekly"},
        assignees=["handler.shinan"], ends_on="2026-09-01",
    )  # fmt: skip
    r = await client.post(PLANS, json=bad, headers=dispatcher)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {
        "criteria_set", "ends_on", "units[0]", "frequencies.castles", "assignees[0]",
    }  # fmt: skip
    r = await client.post(PLANS, json=plan_body(), headers=await login("inspector"))
    assert r.status_code == 403
    await client.post(PLANS, json=plan_body(units=[]), headers=dispatcher)
    r = await client.get(
        TASKS, params={"limit": 100}, headers=await login("handler.licang.xiaocun")
    )
    assert {t["point"] for t in r.json()["items"]} == {"t.lc.alley1"}
    r = await client.get(TASKS, params={"limit": 100}, headers=admin)
    other = next(t for t in r.json()["items"] if t["point"] == "t.sn.market1")
    r = await client.get(f"{TASKS}/{other['id']}", headers=await login("handler.licang.xiaocun"))
    assert r.status_code == 404
