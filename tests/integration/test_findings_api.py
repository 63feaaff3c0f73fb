"""Findings intake, idempotency, scope, lifecycle and audit through the real API and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from tests.helpers import TZ, URL, Login, act, assert_problem, body, post
from tests.photos import attach_after_photo


async def test_report_is_routed_to_the_territorial_street_with_a_deadline(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    # committed before the 201 was sent: another connection sees it at once
    conn = await asyncpg.connect(database_url)
    try:
        status = await conn.fetchval(
            "SELECT status FROM findings WHERE id = $1", uuid.UUID(f["id"])
        )
    finally:
        await conn.close()
    assert status == "assigned"
    assert f["status"] == "assigned"
    assert f["responsible_unit"]["code"] == "shinan.badaguan"
    assert f["district"]["code"] == "shinan"
    assert f["version"] == 1
    due = datetime.fromisoformat(f["due_at"])
    assert due.utcoffset() == timedelta(hours=8)
    assert due.strftime("%H:%M") == "17:30"
    assert due > datetime.fromisoformat(f["reported_at"])
    assert f["links"]["self"] == f"{URL}/{f['id']}"


async def test_facility_goes_to_the_owner_department(client: AsyncClient, login: Login) -> None:
    f = await post(client, await login("inspector"), category="damaged_road")
    assert f["responsible_unit"]["code"] == "shinan.cgj"


async def test_continuous_clock_counts_hours_not_working_days(
    client: AsyncClient, login: Login
) -> None:
    f = await post(
        client, await login("inspector"), category="missing_manhole_cover", severity="urgent"
    )
    due = datetime.fromisoformat(f["due_at"])
    reported = datetime.fromisoformat(f["reported_at"])
    assert abs((due - reported) - timedelta(hours=2)) < timedelta(seconds=1)


async def test_no_rule_waits_in_the_dispatch_queue_then_dispatch(
    client: AsyncClient, login: Login
) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    f = await post(client, inspector, category="other")
    assert f["status"] == "reported"
    assert f["responsible_unit"] is None
    assert f["due_at"] is None
    missing = await act(client, dispatcher, f["id"], "dispatch")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "unit"
    r = await act(
        client, dispatcher, f["id"], "dispatch", unit="shinan.xiangganglu", expected_version=1
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned"
    assert r.json()["responsible_unit"]["code"] == "shinan.xiangganglu"
    assert r.json()["due_at"] is not None


async def test_twenty_identical_posts_race_to_one_row(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    payload = body()
    responses = await asyncio.gather(
        *[client.post(URL, json=payload, headers=inspector) for _ in range(20)]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 19 + [201]
    assert len({r.content for r in responses}) == 1
    listed = await client.get(URL, headers=inspector, params={"limit": 500})
    assert [i["id"] for i in listed.json()["items"]].count(payload["id"]) == 1
    events = await client.get(f"{URL}/{payload['id']}/events", headers=inspector)
    assert [e["action"] for e in events.json()["items"]] == ["report", "dispatch"]


async def test_replay_with_a_different_body_is_a_conflict(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    first = body()
    assert (await client.post(URL, json=first, headers=inspector)).status_code == 201
    changed = {**first, "description": "另一处问题"}
    r = await client.post(URL, json=changed, headers=inspector)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "id"
    stored = await client.get(f"{URL}/{first['id']}", headers=inspector)
    assert stored.json()["description"] == first["description"]
    # another reporter reusing the id learns nothing about the stored finding
    other = await client.post(URL, json=first, headers=await login("inspector.shinan"))
    assert other.status_code == 409
    assert "description" not in other.text


async def test_batch_mixes_outcomes_independently(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    existing = body()
    assert (await client.post(URL, json=existing, headers=inspector)).status_code == 201
    new = body()
    conflicting = {**existing, "description": "改过的描述"}
    invalid = body(location={"lat": 123, "lon": 120.3})
    unknown_category = body(category="no_such_category")
    items = [new, existing, conflicting, invalid, unknown_category]
    r = await client.post(f"{URL}/batch", json={"findings": items}, headers=inspector)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == [
        "created",
        "replayed",
        "conflict",
        "invalid",
        "invalid",
    ]
    assert results[0]["finding"]["id"] == new["id"]
    assert results[3]["problem"]["errors"][0]["field"] == "findings[3].location.lat"
    assert results[4]["problem"]["errors"][0]["field"] == "findings[4].category"
    assert results[3]["id"] == invalid["id"]
    for stored_id in (new["id"], existing["id"]):
        assert (await client.get(f"{URL}/{stored_id}", headers=inspector)).status_code == 200
    for missing_id in (invalid["id"], unknown_category["id"]):
        assert (await client.get(f"{URL}/{missing_id}", headers=inspector)).status_code == 404


async def test_batch_limit_is_explicit(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    tiny = {"category": "x"}
    r = await client.post(f"{URL}/batch", json={"findings": [tiny] * 501}, headers=inspector)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "findings"
    ok = await client.post(f"{URL}/batch", json={"findings": [tiny] * 500}, headers=inspector)
    assert ok.status_code == 200
    assert {x["outcome"] for x in ok.json()["results"]} == {"invalid"}


async def test_street_handler_cannot_see_another_district(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    in_licang = await post(
        client, inspector, unit="licang.xiaocun", location={"lat": 36.16, "lon": 120.43}
    )
    in_shinan = await post(client, inspector)
    badaguan = await login("handler.shinan.badaguan")
    assert (await client.get(f"{URL}/{in_licang['id']}", headers=badaguan)).status_code == 404
    events = await client.get(f"{URL}/{in_licang['id']}/events", headers=badaguan)
    assert events.status_code == 404
    moved = await act(client, badaguan, in_licang["id"], "accept")
    assert moved.status_code == 404
    listed = {i["id"] for i in (await client.get(URL, headers=badaguan)).json()["items"]}
    assert listed == {in_shinan["id"]}
    by_district = await client.get(URL, headers=badaguan, params={"district": "licang"})
    assert by_district.json()["items"] == []
    licang = await login("handler.licang.xiaocun")
    assert (await client.get(f"{URL}/{in_licang['id']}", headers=licang)).status_code == 200


async def test_full_lifecycle_with_roles_versions_and_audit(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    handler = await login("handler.shinan.badaguan")
    verifier = await login("verifier")
    f = await post(client, inspector)
    fid = f["id"]
    assert (await act(client, inspector, fid, "accept")).status_code == 403
    r = await act(client, handler, fid, "accept", expected_version=1)
    assert r.json()["status"] == "accepted"
    assert r.json()["version"] == 2
    await attach_after_photo(client, handler, fid)
    stale = await act(client, handler, fid, "submit", expected_version=1, note="已清运")
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "expected_version"
    r = await act(client, handler, fid, "submit", expected_version=2, note="已清运")
    assert r.json()["status"] == "submitted"
    no_note = await act(client, verifier, fid, "reject")
    assert no_note.status_code == 422
    r = await act(client, verifier, fid, "reject", note="仍有垃圾")
    assert r.json()["status"] == "accepted"
    assert r.json()["rework_count"] == 1
    assert r.json()["due_at"] == f["due_at"]
    await attach_after_photo(client, handler, fid)
    await act(client, handler, fid, "submit", note="已彻底清运")
    r = await act(client, verifier, fid, "verify", note="复核通过")
    assert r.json()["status"] == "closed"
    assert r.json()["close_reason"] == "rectified"
    assert (await act(client, handler, fid, "submit")).status_code == 409
    events = (await client.get(f"{URL}/{fid}/events", headers=inspector)).json()["items"]
    assert [(e["action"], e["to_status"], e["actor"]) for e in events] == [
        ("report", "reported", "inspector"),
        ("dispatch", "assigned", None),
        ("accept", "accepted", "handler.shinan.badaguan"),
        ("submit", "submitted", "handler.shinan.badaguan"),
        ("reject", "accepted", "verifier"),
        ("submit", "submitted", "handler.shinan.badaguan"),
        ("verify", "closed", "verifier"),
    ]
    assert events[4]["payload"]["note"] == "仍有垃圾"


async def test_return_extension_and_invalid(client: AsyncClient, login: Login) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    handler = await login("handler.shinan.badaguan")
    f = await post(client, inspector)
    fid = f["id"]
    later = (datetime.fromisoformat(f["due_at"]) + timedelta(days=7)).isoformat()
    r = await act(client, handler, fid, "request_extension", due_at=later, note="需协调产权单位")
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == f["due_at"]
    r = await act(client, dispatcher, fid, "approve_extension")
    assert datetime.fromisoformat(r.json()["due_at"]) == datetime.fromisoformat(later)
    assert r.json()["extension"]["count"] == 1
    r = await act(client, handler, fid, "return", note="不属于本街道")
    # only asked: the unit keeps it (and its clock) until the dispatcher approves
    assert r.json()["status"] == "assigned"
    assert r.json()["return_requested_at"] is not None
    r = await act(client, dispatcher, fid, "approve_return")
    assert r.json()["status"] == "reported"
    assert r.json()["responsible_unit"] is None
    assert r.json()["return_requested_at"] is None
    # once returned, the street no longer holds it and cannot act on it
    assert (await act(client, handler, fid, "accept")).status_code in (403, 404)
    r = await act(client, dispatcher, fid, "close_invalid", note="重复上报的旧照片")
    assert r.json()["close_reason"] == "invalid"


async def test_mark_duplicate_links_the_original(client: AsyncClient, login: Login) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    original = await post(client, inspector)
    dup = await post(client, inspector)
    assert original["id"] in dup["possible_duplicates"]
    r = await act(client, dispatcher, dup["id"], "mark_duplicate", duplicate_of=original["id"])
    assert r.json()["close_reason"] == "duplicate"
    assert r.json()["duplicate_of"] == original["id"]


async def test_list_filters_and_pagination(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    ids = [(await post(client, inspector))["id"] for _ in range(5)]
    other = await post(client, inspector, category="other")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "category": "exposed_garbage"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(URL, headers=inspector, params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    queued = await client.get(URL, headers=inspector, params={"status": "reported"})
    assert [i["id"] for i in queued.json()["items"]] == [other["id"]]
    box = await client.get(URL, headers=inspector, params={"bbox": "120.0,36.0,120.1,36.1"})
    assert box.json()["items"] == []
    bad = await client.get(URL, headers=inspector, params={"cursor": "garbage!"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"
    big = await client.get(URL, headers=inspector, params={"limit": 501})
    assert big.status_code == 422
    assert big.json()["errors"][0]["field"] == "limit"


async def test_invalid_create_names_each_field_and_stores_nothing(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    bad = body(
        location={"lat": 95, "lon": 120.3}, observed_at="2026-05-31T09:12:00", severity="critical"
    )
    r = await client.post(URL, json=bad, headers=inspector)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"location.lat", "observed_at", "severity"}
    assert (await client.get(f"{URL}/{bad['id']}", headers=inspector)).status_code == 404
    future = body(observed_at=(datetime.now(TZ) + timedelta(days=1)).isoformat())
    r = await client.post(URL, json=future, headers=inspector)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "observed_at"
    r = await client.post(
        URL, json=body(unit="licang.xiaocun"), headers=await login("inspector.shinan")
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "unit"


async def test_supervisor_reads_but_cannot_report(client: AsyncClient, login: Login) -> None:
    supervisor = await login("supervisor")
    r = await client.post(URL, json=body(), headers=supervisor)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get(URL, headers=supervisor)).status_code == 200


async def test_moving_a_street_moves_its_findings_to_the_new_district(
    client: AsyncClient, login: Login
) -> None:
    inspector, admin = await login("inspector"), await login("admin")
    f = await post(client, inspector)
    assert f["district"]["code"] == "shinan"
    r = await client.patch(
        "/api/v1/units/shinan.badaguan", json={"parent": "licang"}, headers=admin
    )
    assert r.status_code == 200, r.text
    moved = await client.get(f"{URL}/{f['id']}", headers=inspector)
    assert moved.json()["district"]["code"] == "licang"
    in_licang = await client.get(URL, headers=inspector, params={"district": "licang"})
    assert [i["id"] for i in in_licang.json()["items"]] == [f["id"]]


@pytest.mark.parametrize("settings_overrides", [{"db_pool_size": 3}])
async def test_a_burst_past_the_pool_waits_for_its_connections(
    app: FastAPI, client: AsyncClient, login: Login
) -> None:
    # Every report is stored, and the burst is served by the pool's own connections: none
    # opened for one request and closed after it (each a new backend for PostgreSQL).
    opened: list[object] = []
    pool = app.state.duban.engine.sync_engine.pool
    event.listen(pool, "connect", lambda conn, _record: opened.append(conn))
    inspector = await login("inspector")
    for _ in range(4):
        burst = [client.post(URL, json=body(), headers=inspector) for _ in range(12)]
        assert [r.status_code for r in await asyncio.gather(*burst)] == [201] * 12
    listed = await client.get(URL, headers=inspector, params={"limit": 500})
    assert len(listed.json()["items"]) == 48
    assert len(opened) <= 3


@pytest.mark.parametrize("settings_overrides", [{"db_pool_size": 1}])
async def test_a_report_that_cannot_get_a_connection_in_time_is_a_503(
    app: FastAPI, client: AsyncClient, login: Login
) -> None:
    # Past the pool a request waits (make_engine's pool_timeout, 10 s), then is told to retry;
    # the retry with the same id is stored.
    inspector = await login("inspector")
    report = body()
    async with app.state.duban.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")  # the pool's one connection, held
        refused = await client.post(URL, json=report, headers=inspector)
    assert_problem(refused, 503)
    assert refused.headers["retry-after"] == "5"
    retried = await client.post(URL, json=report, headers=inspector)
    assert retried.status_code == 201, retried.text
