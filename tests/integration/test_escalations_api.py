"""Supervision queries: the escalation list (filters, scope, pages, CSV) and acknowledgements.

Escalations are made the way production makes them: findings reported through the API, made
overdue in the database, and swept by the real sweep with an explicit `now`.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.escalation_csv import HEADERS
from services.api.routes import escalations as escalation_routes
from services.core.platform.settings import Settings
from tests.helpers import (
    T2,
    Login,
    Scenario,
    act,
    build,
    fields,
    make_overdue,
    post,
    query,
    sweep,
)

URL = "/api/v1/escalations"


@pytest.fixture
async def scenario(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Scenario:
    return await build(client, login, factory, settings)


async def listing(client: AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every page of the list, followed through next_cursor."""
    items: list[Any] = []
    cursor = None
    while True:
        r = await client.get(
            URL, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def levels_of(items: list[Any], fid: str) -> list[int]:
    return sorted(e["level"] for e in items if e["finding"]["id"] == fid)


async def person_of(database_url: str, username: str) -> int:
    rows = await query(database_url, "SELECT person_id FROM users WHERE username = :u", u=username)
    person: int = rows[0][0]
    return person


async def test_supervisor_lists_every_escalation_newest_first(
    client: AsyncClient, login: Login, scenario: Scenario
) -> None:
    supervisor = await login("supervisor")
    items = await listing(client, supervisor, limit=3)
    assert len(items) == 8
    assert len({e["id"] for e in items}) == 8
    keys = [(datetime.fromisoformat(e["fired_at"]), e["id"]) for e in items]
    assert keys == sorted(keys, reverse=True)
    assert levels_of(items, scenario.badaguan) == [1, 2, 3, 4]
    assert levels_of(items, scenario.xiaocun) == [1, 2]
    # the earlier sweep's escalations come last
    assert {e["finding"]["id"] for e in items[-2:]} == {scenario.xiaocun}

    l2 = next(e for e in items if e["finding"]["id"] == scenario.badaguan and e["level"] == 2)
    assert l2["target"]["kind"] == "district_head"
    assert l2["target"]["name"] == "示例·市南区委书记"
    assert l2["target"]["title"] == "市南区委书记"
    assert l2["target"]["unit"] == {"code": "shinan", "name": "市南区"}
    assert l2["district"] == {"code": "shinan", "name": "市南区"}
    assert l2["finding"]["responsible_unit"] == {"code": "shinan.badaguan", "name": "八大关街道"}
    assert l2["finding"]["category"] == {"code": "exposed_garbage", "name": "暴露垃圾"}
    assert l2["finding"]["status"] == "assigned"
    assert l2["finding"]["due_at"] == "2026-11-02T17:30:00+08:00"
    assert l2["reason"] == "overdue"
    assert l2["status"] == "open"
    assert l2["fired_at"] == "2026-11-20T11:00:00+08:00"
    assert l2["due_for"] == "2026-11-04T17:30:00+08:00"
    fired, due = datetime.fromisoformat(l2["fired_at"]), datetime.fromisoformat(l2["due_for"])
    assert l2["lag_seconds"] == (fired - due).total_seconds()
    assert l2["acknowledged_at"] is None
    vacant = next(e for e in items if e["finding"]["id"] == scenario.laixi)
    assert vacant["reason"] == "vacant_post"
    assert vacant["target"]["unit"]["code"] == "wenmingban"


async def test_every_filter(
    client: AsyncClient, login: Login, scenario: Scenario, database_url: str
) -> None:
    supervisor = await login("supervisor")

    async def fids(**params: Any) -> list[tuple[str, int]]:
        items = await listing(client, supervisor, **params)
        return sorted((e["finding"]["id"], e["level"]) for e in items)

    s = scenario
    assert {f for f, _ in await fids(district="shinan")} == {s.badaguan, s.video}
    assert await fids(district="licang") == [(s.xiaocun, 1), (s.xiaocun, 2)]
    assert {f for f, _ in await fids(unit="shinan")} == {s.badaguan, s.video}
    assert {f for f, _ in await fids(unit="shinan.zhanshan")} == {s.video}
    assert {f for f, _ in await fids(unit="laixi")} == {s.laixi}
    assert sorted(f for f, _ in await fids(level=2)) == sorted([s.badaguan, s.xiaocun])
    assert await fids(source="exposure_video") == [(s.video, 1)]
    leader = await person_of(database_url, "leader.shinan")
    assert await fids(target_person=leader) == [(s.badaguan, 2)]
    assert {f for f, _ in await fids(until=T2.isoformat())} == {s.xiaocun}
    assert {f for f, _ in await fids(since=T2.isoformat())} == {s.badaguan, s.laixi, s.video}
    assert await fids(since="2026-11-19T11:00:00+08:00", until="2026-11-19T11:00:01+08:00") == [
        (s.xiaocun, 1),
        (s.xiaocun, 2),
    ]
    # status: close one finding (resolves its escalations), acknowledge one escalation
    r = await act(client, await login("dispatcher"), s.xiaocun, "close_invalid", note="误报")
    assert r.status_code == 200, r.text
    l2 = (await listing(client, supervisor, target_person=leader))[0]
    ack = await client.post(
        f"{URL}/{l2['id']}/acknowledge",
        json={"instruction": "限期整改"},
        headers=await login("leader.shinan"),
    )
    assert ack.status_code == 200, ack.text
    assert await fids(status="resolved") == [(s.xiaocun, 1), (s.xiaocun, 2)]
    assert await fids(status="acknowledged") == [(s.badaguan, 2)]
    assert len(await fids(status="open")) == 5
    assert len(await fids(status="open", district="shinan", level=1)) == 2


async def test_bad_filters_are_422(client: AsyncClient, login: Login, scenario: Scenario) -> None:
    supervisor = await login("supervisor")
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"district": "atlantis"}, "district"),
        ({"unit": "atlantis"}, "unit"),
        ({"level": 0}, "level"),
        ({"status": "pending"}, "status"),
        ({"source": "tv"}, "source"),
        ({"target_person": "x"}, "target_person"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": 501}, "limit"),
        ({"format": "pdf"}, "format"),
    ]
    for params, field in cases:
        r = await client.get(URL, params=params, headers=supervisor)
        assert r.status_code == 422, params
        assert field in fields(r), r.json()
    assert (await client.get(URL)).status_code == 401


async def test_scope_leaders_see_their_own_units_their_subtree(
    client: AsyncClient, login: Login, scenario: Scenario
) -> None:
    s = scenario

    async def seen(user: str) -> list[tuple[str, int]]:
        items = await listing(client, await login(user))
        return sorted((e["finding"]["id"], e["level"]) for e in items)

    assert await seen("leader.shinan") == [(s.badaguan, 2)]
    assert await seen("leader.city") == [(s.badaguan, 3)]
    assert {f for f, _ in await seen("handler.shinan")} == {s.badaguan, s.video}
    assert {f for f, _ in await seen("handler.shinan.badaguan")} == {s.badaguan}
    assert await seen("handler.licang.xiaocun") == [(s.xiaocun, 1), (s.xiaocun, 2)]
    assert await seen("handler.shinan.cgj") == []
    assert await seen("inspector.shinan") == await seen("handler.shinan")
    assert len(await seen("dispatcher")) == 8
    assert len(await seen("admin")) == 8
    # a filter never widens the scope
    r = await client.get(URL, params={"district": "licang"}, headers=await login("handler.shinan"))
    assert r.json()["items"] == []


async def test_acknowledge_by_the_target_only_once_and_audited(
    client: AsyncClient, login: Login, scenario: Scenario, database_url: str
) -> None:
    supervisor = await login("supervisor")
    items = await listing(client, supervisor, district="shinan")
    by_level = {e["level"]: e for e in items if e["finding"]["id"] == scenario.badaguan}
    l1, l2 = by_level[1]["id"], by_level[2]["id"]
    leader = await login("leader.shinan")
    instruction = "请八大关街道立即组织清运，三日内整改到位并报区创城办。\n——批示"

    assert (
        await client.post(f"{URL}/{l2}/acknowledge", json={}, headers=leader)
    ).status_code == 422
    for bad in ("", "   ", "x" * 2001, "a\x00b"):
        r = await client.post(f"{URL}/{l2}/acknowledge", json={"instruction": bad}, headers=leader)
        assert (r.status_code, fields(r)) == (422, {"instruction"}), bad
    # in scope but not the target: 403; out of scope: 404, as if it did not exist
    r = await client.post(
        f"{URL}/{l2}/acknowledge", json={"instruction": "阅"}, headers=await login("handler.shinan")
    )
    assert r.status_code == 403
    for user in ("supervisor", "admin"):
        r = await client.post(
            f"{URL}/{l2}/acknowledge", json={"instruction": "阅"}, headers=await login(user)
        )
        assert r.status_code == 403
    r = await client.post(f"{URL}/{l1}/acknowledge", json={"instruction": "阅"}, headers=leader)
    assert r.status_code == 404
    r = await client.post(
        f"{URL}/{l2}/acknowledge",
        json={"instruction": "阅"},
        headers=await login("handler.licang.xiaocun"),
    )
    assert r.status_code == 404
    assert (
        await client.post(f"{URL}/999999/acknowledge", json={"instruction": "阅"}, headers=leader)
    ).status_code == 404

    r = await client.post(
        f"{URL}/{l2}/acknowledge", json={"instruction": instruction}, headers=leader
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "acknowledged"
    assert done["instruction"] == instruction.strip()
    assert done["acknowledged_by"] == "leader.shinan"
    assert done["acknowledged_at"].endswith("+08:00")
    again = await client.post(
        f"{URL}/{l2}/acknowledge", json={"instruction": "再阅"}, headers=leader
    )
    assert again.status_code == 409
    seen = (await listing(client, supervisor, district="shinan", level=2))[0]
    assert seen["instruction"] == instruction.strip()
    assert seen["status"] == "acknowledged"

    events = (
        await client.get(f"/api/v1/findings/{scenario.badaguan}/events", headers=supervisor)
    ).json()
    acks = [e for e in events["items"] if e["action"] == "acknowledge"]
    assert len(acks) == 1
    assert acks[0]["actor"] == "leader.shinan"
    assert acks[0]["payload"]["level"] == 2
    assert acks[0]["payload"]["instruction"] == instruction.strip()
    assert acks[0]["from_status"] == acks[0]["to_status"] == "assigned"
    rows = await query(
        database_url,
        "SELECT acknowledged_by_id, instruction FROM escalations WHERE id = :id",
        id=l2,
    )
    assert rows[0][1] == instruction.strip()


async def test_vacant_post_escalations_are_acknowledged_by_the_campaign_office(
    client: AsyncClient, login: Login, scenario: Scenario
) -> None:
    items = await listing(client, await login("supervisor"), unit="laixi")
    (vacant,) = items
    r = await client.post(
        f"{URL}/{vacant['id']}/acknowledge",
        json={"instruction": "阅"},
        headers=await login("supervisor"),
    )
    assert r.status_code == 403
    r = await client.post(
        f"{URL}/{vacant['id']}/acknowledge",
        json={"instruction": "请莱西市尽快明确城管局负责人"},
        headers=await login("dispatcher"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "dispatcher"
    # an ordinary escalation stays the target's own, even for the office
    l2 = (await listing(client, await login("supervisor"), district="shinan", level=2))[0]
    r = await client.post(
        f"{URL}/{l2['id']}/acknowledge",
        json={"instruction": "阅"},
        headers=await login("dispatcher"),
    )
    assert r.status_code == 403


async def test_acknowledging_does_not_stop_later_levels(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    # due Mon 11-02 17:30: L2 at Wed 11-04 17:30, L3 at Mon 11-09 17:30
    await sweep(factory, settings, datetime(2026, 11, 5, 3, 0, tzinfo=UTC))
    leader = await login("leader.shinan")
    (l2,) = await listing(client, leader)
    assert l2["level"] == 2
    r = await client.post(
        f"{URL}/{l2['id']}/acknowledge", json={"instruction": "立即整改"}, headers=leader
    )
    assert r.status_code == 200
    await sweep(factory, settings, datetime(2026, 11, 10, 3, 0, tzinfo=UTC))
    items = await listing(client, await login("supervisor"))
    assert levels_of(items, f["id"]) == [1, 2, 3]
    (l3,) = await listing(client, await login("leader.city"))
    assert l3["status"] == "open"


def read_csv(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


async def test_csv_export_opens_with_chinese_intact(
    client: AsyncClient, login: Login, scenario: Scenario
) -> None:
    supervisor = await login("supervisor")
    r = await client.get(URL, params={"format": "csv"}, headers=supervisor)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="escalations-')
    assert ".csv" in disposition
    assert "filename*=UTF-8''%E7%9D%A3%E5%8A%9E" in disposition  # 督办清单-…
    assert r.headers["x-export-truncated"] == "false"
    assert r.headers["x-export-rows"] == "8"

    text_rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert tuple(text_rows[0]) == HEADERS
    assert {
        "督办编号",
        "问题编号",
        "区市",
        "责任单位",
        "级别",
        "督办对象",
        "职务",
        "原因",
        "督办时间",
        "状态",
        "批示",
    } <= set(HEADERS)
    rows = read_csv(r.content)
    as_json = await listing(client, supervisor)
    assert [int(row["督办编号"]) for row in rows] == [e["id"] for e in as_json]
    l2 = next(row for row in rows if row["问题编号"] == scenario.badaguan and row["级别"] == "2")
    assert l2["区市"] == "市南区"
    assert l2["责任单位"] == "八大关街道"
    assert l2["督办对象"] == "示例·市南区委书记"
    assert l2["职务"] == "市南区委书记"
    assert l2["原因"] == "逾期未整改"
    assert l2["督办时间"] == "2026-11-20 11:00:00"
    assert l2["应督办时间"] == "2026-11-04 17:30:00"
    assert l2["状态"] == "待批示"
    assert l2["问题描述"] == "路边垃圾堆放未清运"
    vacant = next(row for row in rows if row["问题编号"] == scenario.laixi)
    assert vacant["原因"].startswith("岗位空缺")
    # what a reporter typed is never a formula in Excel
    video = next(row for row in rows if row["问题编号"] == scenario.video)
    assert video["问题描述"].startswith("'=HYPERLINK")

    # filters and scope apply to the export as they do to the list
    r = await client.get(URL, params={"format": "csv", "district": "licang"}, headers=supervisor)
    assert {row["问题编号"] for row in read_csv(r.content)} == {scenario.xiaocun}
    r = await client.get(URL, params={"format": "csv"}, headers=await login("leader.shinan"))
    assert [(row["问题编号"], row["级别"]) for row in read_csv(r.content)] == [
        (scenario.badaguan, "2")
    ]
    r = await client.get(URL, params={"format": "csv"}, headers=await login("handler.shinan.cgj"))
    assert read_csv(r.content) == []


async def test_csv_export_is_capped(
    client: AsyncClient, login: Login, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = await login("supervisor")
    monkeypatch.setattr(escalation_routes, "CSV_CHUNK", 2)
    monkeypatch.setattr(escalation_routes, "CSV_MAX_ROWS", 5)
    r = await client.get(URL, params={"format": "csv"}, headers=supervisor)
    rows = read_csv(r.content)
    assert len(rows) == 5
    assert r.headers["x-export-truncated"] == "true"
    newest = [e["id"] for e in await listing(client, supervisor)][:5]
    assert [int(row["督办编号"]) for row in rows] == newest
    monkeypatch.setattr(escalation_routes, "CSV_MAX_ROWS", 8)
    r = await client.get(URL, params={"format": "csv"}, headers=supervisor)
    assert (len(read_csv(r.content)), r.headers["x-export-truncated"]) == (8, "false")
    assert escalation_routes.CSV_MAX_ROWS == 8
    monkeypatch.undo()
    assert escalation_routes.CSV_MAX_ROWS == 50_000
