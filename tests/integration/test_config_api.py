"""Configuration API for admins: units, people, posts, categories and routing rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from tests.helpers import Login, fields, query

API = "/api/v1"
TZ = ZoneInfo("Asia/Shanghai")


async def paths(database_url: str, *codes: str) -> dict[str, str]:
    rows = await query(
        database_url, "SELECT code, path FROM units WHERE code = ANY(:codes)", codes=list(codes)
    )
    return {row[0]: row[1] for row in rows}


@pytest.fixture
async def admin(login: Login) -> dict[str, str]:
    return await login("admin")


# ---- access ----


@pytest.mark.parametrize(
    "path", ["/units", "/people", "/posts", "/categories", "/routing-rules", "/units/shinan"]
)
async def test_reads_need_a_token(client: AsyncClient, path: str) -> None:
    r = await client.get(API + path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("user", ["supervisor", "dispatcher", "handler.shinan", "leader.city"])
async def test_only_admins_configure(client: AsyncClient, login: Login, user: str) -> None:
    headers = await login(user)
    assert (await client.get(f"{API}/units", headers=headers)).status_code == 403
    r = await client.post(
        f"{API}/units",
        json={"code": "x.y", "name": "测试", "kind": "street", "parent": "shinan"},
        headers=headers,
    )
    assert r.status_code == 403
    assert (await client.delete(f"{API}/categories/other", headers=headers)).status_code == 403


# ---- units ----


async def test_unit_round_trip(
    client: AsyncClient, admin: dict[str, str], database_url: str
) -> None:
    body = {
        "code": "shinan.badaguan.juyongguan",
        "name": "居庸关社区",
        "kind": "community",
        "parent": "shinan.badaguan",
        "lat": 36.0561,
        "lon": 120.3541,
    }
    r = await client.post(f"{API}/units", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body
    datetime.fromisoformat(created["created_at"])

    r = await client.get(f"{API}/units/shinan.badaguan.juyongguan", headers=admin)
    assert r.json() == created
    p = await paths(database_url, "shinan.badaguan", "shinan.badaguan.juyongguan")
    assert p["shinan.badaguan.juyongguan"] == f"{p['shinan.badaguan']}{created['id']}/"

    r = await client.get(f"{API}/units", params={"parent": "shinan.badaguan"}, headers=admin)
    assert {u["code"] for u in r.json()["items"]} == {
        "shinan.badaguan.taiping",
        "shinan.badaguan.juyongguan",
    }

    r = await client.patch(
        f"{API}/units/shinan.badaguan.juyongguan",
        json={"name": "居庸关路社区", "lat": None},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "居庸关路社区"
    assert r.json()["lat"] is None
    assert r.json()["parent"] == "shinan.badaguan"

    r = await client.delete(f"{API}/units/shinan.badaguan.juyongguan", headers=admin)
    assert r.status_code == 204
    r = await client.get(f"{API}/units/shinan.badaguan.juyongguan", headers=admin)
    assert r.status_code == 404


async def test_unit_validation(client: AsyncClient, admin: dict[str, str]) -> None:
    base = {"code": "shinan.new", "name": "新街道", "kind": "street", "parent": "shinan"}
    r = await client.post(f"{API}/units", json={**base, "code": "shinan"}, headers=admin)
    assert r.status_code == 409
    r = await client.post(f"{API}/units", json={**base, "parent": "nowhere"}, headers=admin)
    assert r.status_code == 422
    assert fields(r) == {"parent"}
    r = await client.post(f"{API}/units", json={**base, "code": "bad code!"}, headers=admin)
    assert r.status_code == 422
    assert fields(r) == {"code"}
    r = await client.post(f"{API}/units", json={**base, "kind": "village"}, headers=admin)
    assert fields(r) == {"kind"}
    r = await client.post(f"{API}/units", json={**base, "lat": 91}, headers=admin)
    assert fields(r) == {"lat"}
    r = await client.post(f"{API}/units", json={**base, "name": "a\x00b"}, headers=admin)
    assert fields(r) == {"name"}
    # Codes are stable: PATCH cannot change them.
    r = await client.patch(f"{API}/units/shinan", json={"code": "sn"}, headers=admin)
    assert fields(r) == {"code"}
    r = await client.patch(f"{API}/units/shinan", json={"name": None}, headers=admin)
    assert fields(r) == {"name"}
    r = await client.patch(f"{API}/units/nowhere", json={"name": "x"}, headers=admin)
    assert r.status_code == 404
    # Junk in the path is a named 422, never a database error.
    r = await client.get(f"{API}/units/a%00b", headers=admin)
    assert r.status_code == 422
    assert fields(r) == {"code"}


async def test_referenced_units_are_not_deleted(
    client: AsyncClient, login: Login, admin: dict[str, str]
) -> None:
    r = await client.delete(f"{API}/units/shinan", headers=admin)
    assert r.status_code == 409
    assert "child units" in r.json()["detail"]
    # laixi.cgj has no head, but still a handler post and routing rules.
    r = await client.delete(f"{API}/units/laixi.cgj", headers=admin)
    assert r.status_code == 409
    assert "posts" in r.json()["detail"]
    assert "routing rules" in r.json()["detail"]

    community = {"code": "licang.xiaocun.a", "name": "A社区", "kind": "community"}
    r = await client.post(
        f"{API}/units", json={**community, "parent": "licang.xiaocun"}, headers=admin
    )
    assert r.status_code == 201
    r = await client.post(
        f"{API}/findings",
        json={
            "category": "exposed_garbage",
            "description": "垃圾未清运",
            "location": {"lat": 36.147, "lon": 120.432},
            "unit": "licang.xiaocun.a",
            "observed_at": (datetime.now(TZ) - timedelta(minutes=1)).isoformat(),
        },
        headers=await login("inspector"),
    )
    assert r.status_code == 201, r.text
    r = await client.delete(f"{API}/units/licang.xiaocun.a", headers=admin)
    assert r.status_code == 409
    assert "findings" in r.json()["detail"]


async def test_moving_a_unit_moves_its_subtree(
    client: AsyncClient, admin: dict[str, str], database_url: str
) -> None:
    before = await paths(database_url, "shinan.badaguan", "shinan.badaguan.taiping", "shibei")
    r = await client.patch(f"{API}/units/shinan.badaguan", json={"parent": "shibei"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["parent"] == "shibei"

    after = await paths(database_url, "shinan.badaguan", "shinan.badaguan.taiping", "shibei")
    street_id = before["shinan.badaguan"].rstrip("/").rsplit("/", 1)[1]
    community_id = before["shinan.badaguan.taiping"].rstrip("/").rsplit("/", 1)[1]
    assert after["shinan.badaguan"] == f"{before['shibei']}{street_id}/"
    assert after["shinan.badaguan.taiping"] == f"{after['shinan.badaguan']}{community_id}/"
    r = await client.get(f"{API}/units", params={"parent": "shibei"}, headers=admin)
    assert "shinan.badaguan" in {u["code"] for u in r.json()["items"]}

    # Never under itself or its own descendants.
    for parent in ("shinan.badaguan", "shinan.badaguan.taiping"):
        r = await client.patch(
            f"{API}/units/shinan.badaguan", json={"parent": parent}, headers=admin
        )
        assert r.status_code == 422
        assert fields(r) == {"parent"}
    assert await paths(database_url, "shinan.badaguan.taiping") == {
        "shinan.badaguan.taiping": after["shinan.badaguan.taiping"]
    }


# ---- pagination ----


async def test_pages_cover_every_unit_once(
    client: AsyncClient, admin: dict[str, str], database_url: str
) -> None:
    ((total,),) = await query(database_url, "SELECT count(*) FROM units")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(f"{API}/units", params=params, headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 7
        seen += [u["code"] for u in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 7)

    r = await client.get(f"{API}/units", headers=admin)
    assert len(r.json()["items"]) == min(50, total)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4Il0"}, "cursor"),  # ["x"]: well-formed, but not an id
        ({"cursor": "Wzk5OTk5OTk5OTk5XQ"}, "cursor"),  # [99999999999]: beyond any id
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
async def test_bad_page_parameters(
    client: AsyncClient, admin: dict[str, str], params: dict[str, Any], field: str
) -> None:
    r = await client.get(f"{API}/people", params=params, headers=admin)
    assert r.status_code == 422
    assert fields(r) == {field}


# ---- people and posts ----


async def test_people_and_posts(client: AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(
        f"{API}/people", json={"name": "示例·新任区长", "title": "市南区区长"}, headers=admin
    )
    assert r.status_code == 201, r.text
    person = r.json()
    assert (await client.get(f"{API}/people/{person['id']}", headers=admin)).json() == person

    post_body = {
        "unit": "shinan",
        "role": "deputy",
        "person": person["id"],
        "valid_from": "2026-03-01T00:00:00+08:00",
    }
    r = await client.post(f"{API}/posts", json=post_body, headers=admin)
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["unit"] == "shinan"
    assert post["person"] == person["id"]
    assert post["valid_to"] is None
    assert datetime.fromisoformat(post["valid_from"]) == datetime(2026, 3, 1, tzinfo=TZ)

    r = await client.patch(
        f"{API}/posts/{post['id']}", json={"valid_to": "2026-02-01T00:00:00+08:00"}, headers=admin
    )
    assert r.status_code == 422
    assert fields(r) == {"valid_to"}
    r = await client.patch(
        f"{API}/posts/{post['id']}", json={"valid_to": "2026-06-30T18:00:00+08:00"}, headers=admin
    )
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["valid_to"]) == datetime(2026, 6, 30, 18, tzinfo=TZ)

    r = await client.get(f"{API}/posts", params={"unit": "shinan"}, headers=admin)
    assert {p["role"] for p in r.json()["items"]} >= {"head", "city_leader", "deputy"}

    # The person holds a post: not deletable until the post is gone.
    r = await client.delete(f"{API}/people/{person['id']}", headers=admin)
    assert r.status_code == 409
    assert (await client.delete(f"{API}/posts/{post['id']}", headers=admin)).status_code == 204
    assert (await client.delete(f"{API}/people/{person['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{API}/people/{person['id']}", headers=admin)).status_code == 404


async def test_post_validation(client: AsyncClient, admin: dict[str, str]) -> None:
    base = {"unit": "shinan", "role": "head", "person": 1, "valid_from": "2026-03-01T00:00:00Z"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"unit": "nowhere"}, "unit"),
        ({"person": 2**31 - 1}, "person"),
        ({"person": 2**40}, "person"),
        ({"role": "mayor"}, "role"),
        ({"valid_from": "2026-03-01T00:00:00"}, "valid_from"),  # no offset
        ({"valid_to": "2026-03-01T00:00:00Z"}, "valid_to"),
    ]
    for over, field in cases:
        r = await client.post(f"{API}/posts", json={**base, **over}, headers=admin)
        assert r.status_code == 422, (over, r.text)
        assert fields(r) == {field}, over
    assert (await client.get(f"{API}/posts/{2**40}", headers=admin)).status_code == 422
    assert (await client.get(f"{API}/posts/999999", headers=admin)).status_code == 404


# ---- categories ----


async def test_category_round_trip(client: AsyncClient, admin: dict[str, str]) -> None:
    body = {
        "code": "fallen_tree",
        "name": "倒伏树木",
        "group": "greening",
        "kind": "facility",
        "time_limit": {"duration": "pt4h"},
        "duplicate_radius_m": 40,
    }
    r = await client.post(f"{API}/categories", json=body, headers=admin)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["clock"] == "continuous"
    assert c["time_limit"] == {"duration": "PT4H"}
    assert c["policy_code"] == "default"
    assert c["active"] is True
    assert (await client.get(f"{API}/categories/fallen_tree", headers=admin)).json() == c

    # A working-day limit brings the working-day clock with it.
    r = await client.patch(
        f"{API}/categories/fallen_tree",
        json={"time_limit": {"working_days": 1}, "active": False},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["clock"] == "working_days"
    assert r.json()["time_limit"] == {"working_days": 1}
    assert r.json()["active"] is False

    r = await client.post(f"{API}/categories", json=body, headers=admin)
    assert r.status_code == 409
    assert (await client.delete(f"{API}/categories/fallen_tree", headers=admin)).status_code == 204
    assert (await client.get(f"{API}/categories/fallen_tree", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"time_limit": {"working_days": 0}}, "time_limit.working_days"),
        ({"time_limit": {"working_days": 366}}, "time_limit.working_days"),
        ({"time_limit": {"working_days": True}}, "time_limit.working_days"),
        ({"time_limit": {"working_days": "2"}}, "time_limit.working_days"),
        ({"time_limit": {"duration": "P1M"}}, "time_limit.duration"),
        ({"time_limit": {"duration": "PT0S"}}, "time_limit.duration"),
        ({"time_limit": {"duration": "two hours"}}, "time_limit.duration"),
        ({"time_limit": {"duration": 7200}}, "time_limit.duration"),
        ({"time_limit": {}}, "time_limit"),
        ({"time_limit": {"working_days": 2, "duration": "PT2H"}}, "time_limit"),
        ({"time_limit": {"days": 2}}, "time_limit"),
        ({"clock": "continuous"}, "clock"),
        ({"clock": "hourly"}, "clock"),
        ({"kind": "thing"}, "kind"),
        ({"group": "Not A Group"}, "group"),
        ({"duplicate_radius_m": 0}, "duplicate_radius_m"),
    ],
)
async def test_category_validation(
    client: AsyncClient, admin: dict[str, str], over: dict[str, Any], field: str
) -> None:
    body = {
        "code": "new_cat",
        "name": "新类别",
        "group": "city_appearance",
        "kind": "event",
        "clock": "working_days",
        "time_limit": {"working_days": 2},
    }
    r = await client.post(f"{API}/categories", json={**body, **over}, headers=admin)
    assert r.status_code == 422, r.text
    assert fields(r) == {field}


async def test_category_clock_mismatch_on_update(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.patch(
        f"{API}/categories/missing_manhole_cover", json={"clock": "working_days"}, headers=admin
    )
    assert r.status_code == 422
    assert fields(r) == {"clock"}
    r = await client.get(f"{API}/categories/missing_manhole_cover", headers=admin)
    assert r.json()["time_limit"] == {"duration": "PT2H"}


# ---- routing rules ----


async def test_routing_rules(client: AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(
        f"{API}/categories",
        json={
            "code": "shared_bike_pileup",
            "name": "共享单车堆积",
            "group": "traffic_order",
            "kind": "event",
            "time_limit": {"working_days": 1},
        },
        headers=admin,
    )
    assert r.status_code == 201

    rule_body = {"category": "shared_bike_pileup", "area_unit": "shinan", "responsible_unit": None}
    r = await client.post(f"{API}/routing-rules", json=rule_body, headers=admin)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule == {**rule_body, "id": rule["id"], "group": None}
    assert (await client.get(f"{API}/routing-rules/{rule['id']}", headers=admin)).json() == rule

    # One rule per (category or group, area).
    r = await client.post(f"{API}/routing-rules", json=rule_body, headers=admin)
    assert r.status_code == 409
    r = await client.post(
        f"{API}/routing-rules",
        json={"group": "city_appearance", "area_unit": "laixi"},
        headers=admin,
    )
    assert r.status_code == 409

    r = await client.patch(
        f"{API}/routing-rules/{rule['id']}", json={"responsible_unit": "shinan.cgj"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["responsible_unit"] == "shinan.cgj"

    # The category is used by a rule.
    r = await client.delete(f"{API}/categories/shared_bike_pileup", headers=admin)
    assert r.status_code == 409
    assert "routing rules" in r.json()["detail"]

    r = await client.delete(f"{API}/routing-rules/{rule['id']}", headers=admin)
    assert r.status_code == 204
    assert (await client.get(f"{API}/routing-rules/{rule['id']}", headers=admin)).status_code == 404
    r = await client.delete(f"{API}/categories/shared_bike_pileup", headers=admin)
    assert r.status_code == 204


async def test_routing_rule_validation(client: AsyncClient, admin: dict[str, str]) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"category": "other", "group": "other", "area_unit": "shinan"}, {"category", "group"}),
        ({"area_unit": "shinan"}, {"category", "group"}),
        ({"group": "other", "area_unit": "nowhere"}, {"area_unit"}),
        ({"group": "other", "area_unit": "shinan", "responsible_unit": "x"}, {"responsible_unit"}),
        ({"category": "no_such", "area_unit": "shinan"}, {"category"}),
    ]
    for body, expected in cases:
        r = await client.post(f"{API}/routing-rules", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert fields(r) == expected, body


async def test_list_routing_rules_names_units_by_code(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    rules: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{API}/routing-rules", params=params, headers=admin)
        rules += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    infra = {r["area_unit"]: r["responsible_unit"] for r in rules if r["group"] == "infrastructure"}
    assert infra["shinan"] == "shinan.cgj"
    assert len(infra) == 7


async def test_one_head_at_a_time_and_handover(client: AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(f"{API}/people", json={"name": "示例·继任书记"}, headers=admin)
    successor = r.json()["id"]
    current = (await client.get(f"{API}/posts", params={"unit": "shinan"}, headers=admin)).json()
    head = next(p for p in current["items"] if p["role"] == "head")
    appoint = {
        "unit": "shinan",
        "role": "head",
        "person": successor,
        "valid_from": "2026-12-01T00:00:00+08:00",
    }
    r = await client.post(f"{API}/posts", json=appoint, headers=admin)
    assert r.status_code == 409, r.text
    assert str(head["id"]) in r.json()["detail"]
    r = await client.patch(
        f"{API}/posts/{head['id']}", json={"valid_to": "2026-12-01T00:00:00+08:00"}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/posts", json=appoint, headers=admin)
    assert r.status_code == 201, r.text
    # deputies are not single-holder posts
    deputy = {**appoint, "role": "deputy"}
    assert (await client.post(f"{API}/posts", json=deputy, headers=admin)).status_code == 201
    assert (await client.post(f"{API}/posts", json=deputy, headers=admin)).status_code == 201


async def test_webhook_urls_of_units_and_people(client: AsyncClient, admin: dict[str, str]) -> None:
    url = "https://hooks.example.org/duban?token=abc"
    r = await client.patch(f"{API}/units/shinan", json={"webhook_url": url}, headers=admin)
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/units/shinan", headers=admin)).json()["webhook_url"] == url
    r = await client.post(
        f"{API}/people", json={"name": "示例·值班员", "webhook_url": url}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["webhook_url"] == url
    bad = await client.post(
        f"{API}/people", json={"name": "x", "webhook_url": "ftp://x"}, headers=admin
    )
    assert bad.status_code == 422
    assert fields(bad) == {"webhook_url"}
    cleared = await client.patch(f"{API}/units/shinan", json={"webhook_url": None}, headers=admin)
    assert cleared.json()["webhook_url"] is None
