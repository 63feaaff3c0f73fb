"""Escalation policies: admin CRUD by code, ladder validation, references, plan snapshots."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from tests.helpers import Login, fields, post, query

URL = "/api/v1/escalation-policies"


def ladder(*offsets: str) -> list[dict[str, Any]]:
    targets = ("unit_head", "district_head", "city_leader", "discipline_commission")
    return [
        {"level": i + 1, "target": targets[i], "after": {"duration": d}, "channels": ["inbox"]}
        for i, d in enumerate(offsets)
    ]


@pytest.fixture
async def admin(login: Login) -> dict[str, str]:
    return await login("admin")


async def test_policy_round_trip(client: AsyncClient, admin: dict[str, str]) -> None:
    body = {
        "code": "fast",
        "name": "快速督办",
        "reminder_at": None,
        # out of order and lower-case: stored sorted, durations upper-case
        "levels": [
            {"level": 2, "target": "district_head", "after": {"duration": "pt2s"}},
            {
                "level": 1,
                "target": "unit_head",
                "after": {"working_days": 0},
                "channels": ["inbox", "webhook"],
            },
        ],
    }
    r = await client.post(URL, json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["reminder_at"] is None
    assert created["levels"] == [
        {
            "level": 1,
            "target": "unit_head",
            "after": {"working_days": 0},
            "channels": ["inbox", "webhook"],
        },
        {
            "level": 2,
            "target": "district_head",
            "after": {"duration": "PT2S"},
            "channels": ["inbox"],
        },
    ]
    assert (await client.get(f"{URL}/fast", headers=admin)).json() == created
    assert (await client.post(URL, json=body, headers=admin)).status_code == 409

    listed = (await client.get(URL, params={"limit": 2}, headers=admin)).json()
    assert [p["code"] for p in listed["items"]] == ["default", "exposure_video"]
    rest = (await client.get(URL, params={"cursor": listed["next_cursor"]}, headers=admin)).json()
    assert [p["code"] for p in rest["items"]] == ["fast"]
    assert rest["next_cursor"] is None

    r = await client.patch(
        f"{URL}/fast", json={"reminder_at": 0.5, "levels": ladder("PT1S")}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["reminder_at"] == 0.5
    assert r.json()["name"] == "快速督办"
    assert [lv["level"] for lv in r.json()["levels"]] == [1]
    assert r.json()["updated_at"] > created["updated_at"]

    assert (await client.delete(f"{URL}/fast", headers=admin)).status_code == 204
    assert (await client.get(f"{URL}/fast", headers=admin)).status_code == 404
    assert (await client.delete(f"{URL}/fast", headers=admin)).status_code == 404


async def test_ladder_validation_names_the_field(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    bad_levels = [
        {"level": 1, "target": "mayor", "after": {"working_days": 0}, "channels": ["fax"]},
        {"level": 1, "target": "district_head", "after": {"duration": "P1M"}},
        {"level": 3, "target": "city_leader", "after": {"weeks": 1}, "extra": True},
        {"level": 4, "target": "city_leader", "after": {"working_days": -1}, "channels": []},
    ]
    r = await client.post(
        URL, json={"code": "bad", "name": "坏", "levels": bad_levels}, headers=admin
    )
    assert r.status_code == 422
    assert fields(r) == {
        "levels[0].target",
        "levels[0].channels",
        "levels[1].level",
        "levels[1].after.duration",
        "levels[2].after",
        "levels[2]",
        "levels[3].after.working_days",
        "levels[3].channels",
    }
    for body, field in [
        ({"code": "x", "name": "x", "levels": []}, "levels"),
        ({"code": "x", "name": "x", "levels": ladder("PT0S"), "reminder_at": 1}, "reminder_at"),
        ({"code": "bad code", "name": "x", "levels": ladder("PT0S")}, "code"),
        ({"code": "x", "name": "x", "levels": "PT2S"}, "levels"),
        (
            {"code": "x", "name": "x", "levels": [{**ladder("PT0S")[0], "level": True}]},
            "levels[0].level",
        ),
    ]:
        r = await client.post(URL, json=body, headers=admin)
        assert r.status_code == 422, body
        assert field in fields(r), r.json()
    r = await client.patch(f"{URL}/default", json={"levels": None}, headers=admin)
    assert (r.status_code, fields(r)) == (422, {"levels"})
    r = await client.patch(f"{URL}/default", json={"levels": [{"level": 1}]}, headers=admin)
    assert r.status_code == 422
    assert {"levels[0].target", "levels[0].after"} <= fields(r)


async def test_only_admins_configure_policies(client: AsyncClient, login: Login) -> None:
    assert (await client.get(URL)).status_code == 401
    for user in ("supervisor", "dispatcher", "leader.shinan"):
        headers = await login(user)
        assert (await client.get(URL, headers=headers)).status_code == 403
        r = await client.post(
            URL, json={"code": "x", "name": "x", "levels": ladder("PT0S")}, headers=headers
        )
        assert r.status_code == 403


async def test_a_policy_a_category_names_is_not_deleted(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.delete(f"{URL}/default", headers=admin)
    assert r.status_code == 409
    await client.post(
        URL, json={"code": "p2", "name": "p2", "levels": ladder("PT0S")}, headers=admin
    )
    r = await client.patch("/api/v1/categories/graffiti", json={"policy_code": "p2"}, headers=admin)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{URL}/p2", headers=admin)
    assert r.status_code == 409
    assert "graffiti" in r.json()["detail"]
    await client.patch(
        "/api/v1/categories/graffiti", json={"policy_code": "default"}, headers=admin
    )
    assert (await client.delete(f"{URL}/p2", headers=admin)).status_code == 204


async def test_categories_name_only_existing_policies(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.patch(
        "/api/v1/categories/graffiti", json={"policy_code": "nope"}, headers=admin
    )
    assert (r.status_code, fields(r)) == (422, {"policy_code"})
    r = await client.post(
        "/api/v1/categories",
        json={
            "code": "new_cat",
            "name": "新类别",
            "group": "city_appearance",
            "kind": "event",
            "time_limit": {"working_days": 2},
            "policy_code": "nope",
        },
        headers=admin,
    )
    assert (r.status_code, fields(r)) == (422, {"policy_code"})
    r = await client.get("/api/v1/categories/graffiti", headers=admin)
    assert r.json()["policy_code"] == "default"


async def test_editing_a_policy_leaves_dispatched_findings_alone(
    client: AsyncClient, login: Login, admin: dict[str, str], database_url: str
) -> None:
    before = await post(client, await login("inspector"))
    r = await client.patch(
        f"{URL}/default",
        json={"levels": ladder("PT1S", "PT2S"), "reminder_at": None},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    after = await post(client, await login("inspector"))

    async def plan(fid: str) -> Any:
        rows = await query(
            database_url, "SELECT escalation_plan FROM findings WHERE id = :id", id=uuid.UUID(fid)
        )
        return rows[0][0]

    old, new = await plan(before["id"]), await plan(after["id"])
    assert [lv["after"] for lv in old["levels"]] == [
        {"working_days": 0},
        {"working_days": 2},
        {"working_days": 5},
        {"working_days": 10},
    ]
    assert old["reminder_at"] == 0.8
    assert [lv["after"] for lv in new["levels"]] == [{"duration": "PT1S"}, {"duration": "PT2S"}]
    assert new["reminder_at"] is None
    # the old finding is still scheduled for its 80% reminder, the new one for its first level
    assert before["next_escalation_at"] < before["due_at"]
    assert after["next_escalation_at"] > after["due_at"]
    again = await client.get(f"/api/v1/findings/{before['id']}", headers=admin)
    assert again.json()["next_escalation_at"] == before["next_escalation_at"]
