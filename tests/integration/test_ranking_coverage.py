"""The ranking counts coverage (README "Supervision and ranking"): 100 points off a unit in
proportion to the inspection tasks it left undone, and a unit nobody inspected ranks below
every unit inspected at all, whatever its findings; while the city uses no inspection plan
the score is as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import (
    INSPECTIONS,
    PLANS,
    TEST_POINTS,
    Login,
    import_criteria,
    import_points,
    make_overdue,
    post,
    visit,
)

NOVEMBER = {"since": "2026-11-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}
STATS = "/api/v1/stats/units"


async def test_a_district_nobody_inspected_cannot_rank_first(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    supervisor = await login("supervisor")
    # Before any plan: nobody has findings, everybody shares rank 1 with 100, as before.
    before = (await client.get(STATS, params=NOVEMBER, headers=supervisor)).json()
    assert {(i["rank"], i["score"], i["coverage"]) for i in before["items"]} == {(1, 100, None)}

    plan = {
        "code": "t.city", "name": "全市周巡查", "criteria_set": "t-2026",
        "starts_on": "2026-11-01", "ends_on": "2026-11-30", "units": [],
        "frequencies": {"farmers_market": "weekly", "back_alley": "weekly"},
        "assignees": ["inspector"],
    }  # fmt: skip
    assert (await client.post(PLANS, json=plan, headers=await login("dispatcher"))).is_success
    # 八大关's market inspected every week of November; nothing anywhere else.
    for day in ("03", "10", "17", "24", "30"):
        at = f"2026-11-{day}T10:00:00+08:00"
        r = await client.post(INSPECTIONS, json=visit(observed_at=at),
                              headers=await login("inspector"))  # fmt: skip
        assert r.status_code == 201, r.text

    after = (await client.get(STATS, params=NOVEMBER, headers=supervisor)).json()
    assert "coverage" in after["formula"]
    by_code = {i["unit"]["code"]: i for i in after["items"]}
    shinan, licang = by_code["shinan"], by_code["licang"]
    assert (shinan["tasks_due"], shinan["tasks_done"]) == (15, 5)
    assert shinan["coverage"] == 0.3333
    assert shinan["score"] == 33.33
    assert shinan["rank"] == 1
    # 李沧区's alley was due and never visited; 市北区 has no point at all: both score 0 and
    # share the rank after 市南区.
    assert (licang["tasks_due"], licang["coverage"], licang["score"]) == (5, 0, 0)
    assert (by_code["shibei"]["tasks_due"], by_code["shibei"]["coverage"]) == (0, 0)
    assert {i["rank"] for c, i in by_code.items() if c != "shinan"} == {2}
    assert after["items"][0]["unit"]["code"] == "shinan"


async def test_an_inspected_district_with_a_worse_score_still_ranks_above_an_uninspected_one(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    admin = await login("admin")
    await import_points(client, admin, points=TEST_POINTS[:1] + TEST_POINTS[3:])
    await import_criteria(client, admin)
    plan = {
        "code": "t.city", "name": "全市巡查", "criteria_set": "t-2026",
        "starts_on": "2026-11-23", "ends_on": "2026-11-29", "units": [],
        "frequencies": {"farmers_market": "weekly", "back_alley": "weekly"},
        "assignees": ["inspector"],
    }  # fmt: skip
    assert (await client.post(PLANS, json=plan, headers=await login("dispatcher"))).is_success
    r = await client.post(INSPECTIONS, headers=await login("inspector"),
                          json=visit(observed_at="2026-11-24T10:00:00+08:00"))  # fmt: skip
    assert r.status_code == 201
    # 市南区 (fully covered) carries 51 overdue findings: 100 − 2 × 51 = −2 points.
    inspector = await login("inspector")
    now = datetime.now(UTC)
    for i in range(51):
        f = await post(client, inspector, location={"lat": 36.0571 + i * 0.001, "lon": 120.3466})
        await make_overdue(factory, f["id"], now - timedelta(days=1))
    window = {"since": "2026-11-01T00:00:00+08:00", "until": (now + timedelta(days=1)).isoformat()}
    items = (await client.get(STATS, params=window, headers=await login("supervisor"))).json()
    by_code = {i["unit"]["code"]: i for i in items["items"]}
    assert by_code["shinan"]["coverage"] == 1
    assert by_code["shinan"]["score"] == -2
    assert by_code["licang"]["score"] == 0  # its alley was due and never visited
    assert by_code["shinan"]["rank"] == 1
    assert by_code["licang"]["rank"] == 2


async def test_with_no_since_coverage_counts_the_last_90_days(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    plan = {
        "code": "t.july", "name": "七月巡查", "criteria_set": "t-2026",
        "starts_on": "2026-07-06", "ends_on": "2026-07-10", "units": [],
        "frequencies": {"farmers_market": "weekly"}, "assignees": ["inspector"],
    }  # fmt: skip
    assert (await client.post(PLANS, json=plan, headers=await login("dispatcher"))).is_success
    supervisor = await login("supervisor")
    july = {"since": "2026-07-01T00:00:00+08:00", "until": "2026-08-01T00:00:00+08:00"}
    counted = (await client.get(STATS, params=july, headers=supervisor)).json()["items"]
    assert {i["unit"]["code"]: i["tasks_due"] for i in counted}["shinan"] == 2
    # July lies more than 90 days back: with no window its tasks are not counted at all.
    recent = (await client.get(STATS, headers=supervisor)).json()["items"]
    assert {(i["coverage"], i["tasks_due"]) for i in recent} == {(None, 0)}
