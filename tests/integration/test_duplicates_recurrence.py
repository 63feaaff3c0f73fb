"""Duplicates and recurrences (反弹) at the radius and window boundaries, through the real API.

The demo's exposed_garbage has a 30 m duplicate radius. Points are placed due north, south,
east or west of an original at exact distances (1° of latitude = 111,195 m; a degree of
longitude is that times the cosine of the latitude). Closing is done in SQL where the test is
about what happens after it (the evidence flow that leads there is tested on its own).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from tests.helpers import (
    VIDEOS,
    Login,
    act,
    at,
    close,
    escalations,
    make_overdue,
    post,
    query,
    register,
    segment,
    sweep,
    video,
)


async def test_possible_duplicates_at_the_radius_boundary(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    original = await post(client, inspector, location=at())
    north_29 = await post(client, inspector, location=at(north_m=29))
    assert north_29["possible_duplicates"] == [original["id"]]
    south_31 = await post(client, inspector, location=at(north_m=-31))
    assert south_31["possible_duplicates"] == []
    east_29 = await post(client, inspector, location=at(east_m=29))
    assert original["id"] in east_29["possible_duplicates"]
    west_31 = await post(client, inspector, location=at(east_m=-31))
    assert west_31["possible_duplicates"] == []
    # inside the bounding box the index serves (25 m each way) but 35 m away: not a duplicate
    lone = await post(client, inspector, location=at(lat=36.07))
    corner = await post(client, inspector, location=at(north_m=25, east_m=25, lat=36.07))
    assert corner["possible_duplicates"] == []
    inner = await post(client, inspector, location=at(north_m=20, east_m=20, lat=36.07))
    assert lone["id"] in inner["possible_duplicates"]  # 28 m
    # nearest first
    near = await post(client, inspector, location=at(north_m=28))
    assert near["possible_duplicates"][:2] == [north_29["id"], original["id"]]
    other_category = await post(client, inspector, category="illegal_ads", location=at(east_m=1))
    assert other_category["possible_duplicates"] == []


async def test_closed_findings_are_not_duplicates(client: AsyncClient, login: Login) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    original = await post(client, inspector, location=at(lat=36.06))
    r = await act(client, dispatcher, original["id"], "close_invalid", note="误报")
    assert r.status_code == 200, r.text
    again = await post(client, inspector, location=at(north_m=5, lat=36.06))
    assert again["possible_duplicates"] == []
    assert again["recurrence_of"] is None  # closed as invalid: nothing came back


async def test_mark_duplicate_counts_for_the_original_reporter(
    client: AsyncClient, login: Login
) -> None:
    original = await post(client, await login("inspector"), location=at())
    dup = await post(client, await login("inspector.shinan"), location=at(north_m=3))
    assert dup["possible_duplicates"] == [original["id"]]
    dispatcher = await login("dispatcher")
    r = await act(client, dispatcher, dup["id"], "mark_duplicate", duplicate_of=original["id"])
    assert r.status_code == 200, r.text
    assert r.json()["close_reason"] == "duplicate"
    assert r.json()["duplicate_of"] == original["id"]
    trail = await client.get(
        f"/api/v1/findings/{original['id']}/events", headers=await login("supervisor")
    )
    credited = [e for e in trail.json()["items"] if e["action"] == "duplicate_reported"]
    assert len(credited) == 1
    assert credited[0]["actor"] == "dispatcher"
    assert credited[0]["payload"]["duplicate"] == dup["id"]
    assert credited[0]["payload"]["duplicate_reporter"] == "inspector.shinan"
    # the original itself is untouched
    still = await client.get(f"/api/v1/findings/{original['id']}", headers=dispatcher)
    assert still.json()["status"] == "assigned"
    assert still.json()["version"] == original["version"]


async def test_recurrence_at_the_radius_and_window_boundaries(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector = await login("inspector")
    # Four closed originals, each far enough from the others (0.01° ≈ 1.1 km).
    spots = [36.05, 36.06, 36.07, 36.08]
    originals = [await post(client, inspector, location=at(lat=lat)) for lat in spots]
    await close(factory, originals[0]["id"], days_ago=10)
    await close(factory, originals[1]["id"], days_ago=89)
    await close(factory, originals[2]["id"], days_ago=91)
    await close(factory, originals[3]["id"], days_ago=5, reason="invalid")

    inside = await post(client, inspector, location=at(north_m=29, lat=spots[0]))
    assert inside["recurrence_of"] == originals[0]["id"]
    assert inside["possible_duplicates"] == []  # the original is closed
    outside = await post(client, inspector, location=at(north_m=-31, lat=spots[0]))
    assert outside["recurrence_of"] is None
    east = await post(client, inspector, location=at(east_m=29, lat=spots[0]))
    assert east["recurrence_of"] == originals[0]["id"]
    other_category = await post(
        client, inspector, category="illegal_ads", location=at(north_m=2, lat=spots[0])
    )
    assert other_category["recurrence_of"] is None

    day_89 = await post(client, inspector, location=at(north_m=5, lat=spots[1]))
    assert day_89["recurrence_of"] == originals[1]["id"]
    day_91 = await post(client, inspector, location=at(north_m=5, lat=spots[2]))
    assert day_91["recurrence_of"] is None
    invalid = await post(client, inspector, location=at(north_m=5, lat=spots[3]))
    assert invalid["recurrence_of"] is None

    # the report event says so in the audit trail
    trail = await client.get(f"/api/v1/findings/{inside['id']}/events", headers=inspector)
    assert trail.json()["items"][0]["payload"]["recurrence_of"] == originals[0]["id"]


async def test_the_most_recent_rectified_original_is_the_one(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector = await login("inspector")
    older = await post(client, inspector, location=at())
    newer = await post(client, inspector, location=at(north_m=10))
    await close(factory, older["id"], days_ago=30)
    await close(factory, newer["id"], days_ago=3)
    again = await post(client, inspector, location=at(north_m=-10))
    assert again["recurrence_of"] == newer["id"]


async def test_a_recurrence_counts_against_the_responsible_unit(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector = await login("inspector")
    original = await post(client, inspector, location=at())
    await close(factory, original["id"], days_ago=20)
    came_back = await post(client, inspector, location=at(north_m=4))
    assert came_back["recurrence_of"] == original["id"]
    r = await client.get(
        "/api/v1/stats/units", params={"level": "street"}, headers=await login("supervisor")
    )
    items = {i["unit"]["code"]: i for i in r.json()["items"]}
    assert items["shinan.badaguan"]["recurrences"] == 1
    assert items["shinan.badaguan"]["total"] == 2
    # the penalty the README states: 5 points per recurrence
    assert all(i["recurrences"] == 0 for c, i in items.items() if c != "shinan.badaguan")


async def test_a_recurring_exposure_problem_starts_at_level_three(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    body = video(1)
    body["segments"] = [{**segment(0), "location": at(lat=36.09)}]
    v = await register(client, await login("dispatcher"), body)
    exposed = v["segments"][0]["id"]
    await close(factory, exposed, days_ago=15)

    inspector = await login("inspector")
    came_back = await post(client, inspector, location=at(north_m=6, lat=36.09))
    assert came_back["recurrence_of"] == exposed
    assert came_back["source"] == "inspection"
    plan = await query(
        settings.database_url or "",
        "SELECT escalation_plan FROM findings WHERE id = :id",
        id=uuid.UUID(came_back["id"]),
    )
    assert plan[0][0]["start_level"] == 3
    assert plan[0][0]["policy"] == "exposure_video"
    # an ordinary finding for comparison, on the same deadline
    plain = await post(client, inspector, location=at(lat=36.2))
    assert plain["recurrence_of"] is None

    due = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # Monday 17:30 local
    await make_overdue(factory, came_back["id"], due)
    await make_overdue(factory, plain["id"], due)
    # At the deadline the plain finding gets L1; the recurrence nothing yet: no L1, no L2.
    await sweep(factory, settings, due + timedelta(minutes=1))
    assert [e.level for e in await escalations(factory, came_back["id"])] == []
    assert [e.level for e in await escalations(factory, plain["id"])] == [1]
    # Two working days later (the exposure ladder's L3): L3 to the city leader in charge.
    await sweep(factory, settings, due + timedelta(days=2, minutes=1))
    fired = await escalations(factory, came_back["id"])
    assert [(e.level, e.target) for e in fired] == [(3, "city_leader")]
    # And much later L4; L1 and L2 never.
    await sweep(factory, settings, due + timedelta(days=30))
    assert [e.level for e in await escalations(factory, came_back["id"])] == [3, 4]

    video_now = (await client.get(f"{VIDEOS}/{v['id']}", headers=inspector)).json()
    assert video_now["progress"]["rectified"] == 1


async def test_the_answer_to_a_report_is_the_finding_as_stored(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    # The answer is built from what the intake wrote, not read back: it must say what a
    # read of the finding says, for each way a report is written.
    inspector = await login("inspector")
    closed = await post(client, inspector, location=at(lat=36.04))
    await close(factory, closed["id"], days_ago=3)
    body = video(1)
    body["segments"] = [{**segment(0), "location": at(lat=36.03)}]
    exposed = (await register(client, await login("dispatcher"), body))["segments"][0]["id"]
    await close(factory, exposed, days_ago=3)
    # Its recurrence takes the exposure-video ladder from L3, whose reminder comes earlier
    # than the category's: the answer's yellow_at and next_escalation_at show which plan.
    r = await client.patch(
        "/api/v1/escalation-policies/exposure_video",
        json={"reminder_at": 0.5},
        headers=await login("admin"),
    )
    assert r.status_code == 200, r.text
    routed = await post(client, inspector, location=at(lat=36.2))
    answers = {
        "routed, with a deadline and a plan": routed,
        "near a finding still open": await post(
            client, inspector, location=at(north_m=3, lat=36.2)
        ),
        "left in the dispatch queue": await post(client, inspector, category="other"),
        "a recurrence, written by a statement of its own": await post(
            client, inspector, location=at(north_m=4, lat=36.04)
        ),
        # Its ladder goes on from L3 (DESIGN §6): the row is built again for it.
        "a recurrence of an exposure-video problem": await post(
            client, inspector, location=at(north_m=4, lat=36.03)
        ),
    }
    assert answers["a recurrence of an exposure-video problem"]["recurrence_of"] == exposed
    assert answers["near a finding still open"]["possible_duplicates"] == [routed["id"]]
    assert answers["left in the dispatch queue"]["status"] == "reported"
    recurrence = answers["a recurrence, written by a statement of its own"]
    assert recurrence["recurrence_of"] == closed["id"]
    for name, answer in answers.items():
        read = await client.get(f"/api/v1/findings/{answer['id']}", headers=inspector)
        assert read.status_code == 200, name
        # A read does not look around for duplicates.
        assert answer == {**read.json(), "possible_duplicates": answer["possible_duplicates"]}, name
