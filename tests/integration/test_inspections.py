"""Inspections: a visit that finds nothing is a complete record and fulfils its task; every
applicable field check must be answered; an offline phone's replay changes nothing; a fail
becomes a finding at the point under the check's category, routed, and escalated when
overdue like any other; the position is checked against the point; another district's
point is a 404; the criteria a visit was scored under are frozen."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from tests.helpers import (
    INSPECTIONS,
    TEST_CRITERIA,
    Login,
    import_criteria,
    instruments,
    make_overdue,
    sweep,
    visit,
    wait_for,
)
from tests.photos import make_jpeg


async def test_nothing_found_is_a_complete_record_that_fulfils_the_task(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    r = await client.post(INSPECTIONS, json=visit(), headers=inspector)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["nothing_found"] is True
    assert body["passed"] == 2
    assert body["flags"] == []
    assert [(x["criterion"], x["outcome"]) for x in body["results"]] == [
        ("A.1", "pass"), ("A.2", "pass"),
    ]  # fmt: skip
    assert body["task"] is not None
    task = (await client.get(f"/api/v1/inspection-tasks/{body['task']}", headers=inspector)).json()
    assert task["status"] == "done"
    assert task["inspection"] == body["id"]
    point = (await client.get("/api/v1/points/t.sn.market1", headers=inspector)).json()
    assert point["last_inspected_at"] is not None
    listed = await client.get(INSPECTIONS, params={"point": "t.sn.market1"}, headers=inspector)
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]


async def test_every_applicable_check_is_answered(client: AsyncClient, login: Login) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    partial = visit(items=[{"criterion": "A.1", "outcome": "pass"},
                           {"criterion": "A.3", "outcome": "pass"}])  # fmt: skip
    r = await client.post(INSPECTIONS, json=partial, headers=inspector)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"items[1].criterion", "items"}
    assert (await client.get(INSPECTIONS, headers=inspector)).json()["items"] == []


async def test_an_offline_inspection_replayed_changes_nothing(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    body = visit(items=[{"criterion": "A.1", "outcome": "fail", "note": "垃圾"},
                        {"criterion": "A.2", "outcome": "pass"}])  # fmt: skip
    first = await client.post(INSPECTIONS, json=body, headers=inspector)
    assert first.status_code == 201, first.text
    again = await client.post(INSPECTIONS, json=body, headers=inspector)
    assert again.status_code == 200
    assert again.json()["results"] == first.json()["results"]
    listed = await client.get(INSPECTIONS, headers=inspector)
    assert len(listed.json()["items"]) == 1
    findings = await client.get("/api/v1/findings", params={"source": "inspection"},
                                headers=await login("supervisor"))  # fmt: skip
    fid = first.json()["results"][0]["finding"]
    assert [f["id"] for f in findings.json()["items"]].count(fid) == 1
    other = await client.post(INSPECTIONS, json=body | {"note": "改了"}, headers=inspector)
    assert other.status_code == 409


async def test_a_copy_that_takes_the_id_while_the_visit_is_written_wins_and_nothing_doubles(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    earlier = visit()
    assert (await client.post(INSPECTIONS, json=earlier, headers=inspector)).status_code == 201
    # The same visit under another id (the id is not part of what a replay must match): its
    # copy is written by a transaction still open when the API looks, so the API does not see
    # it, and committed while the API's insert waits on it.
    body = earlier | {"id": str(uuid.uuid4())}
    rival = server_side.transaction()
    await rival.start()
    await server_side.execute(
        """
        INSERT INTO inspections (id, point_id, criteria_set_id, inspector_id, observed_at,
                                 recorded_at, lat, lon, distance_m, passed, failed,
                                 not_applicable, request_hash)
        SELECT $1, point_id, criteria_set_id, inspector_id, observed_at, now(), lat, lon, 0,
               2, 0, 0, request_hash
        FROM inspections WHERE id = $2
        """,
        uuid.UUID(body["id"]),
        uuid.UUID(earlier["id"]),
    )
    posting = asyncio.create_task(client.post(INSPECTIONS, json=body, headers=inspector))
    await wait_for(
        lambda: server_side.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ),
        lambda waiting: waiting > 0,
        within=30,
    )
    await rival.commit()
    r = await posting
    assert r.status_code == 200, r.text  # the replay of the copy that won
    # The loser wrote nothing of its own: no results, no second task done.
    results = await server_side.fetchval(
        "SELECT count(*) FROM inspection_results WHERE inspection_id = $1", uuid.UUID(body["id"])
    )
    done_tasks = await server_side.fetchval(
        "SELECT count(*) FROM inspection_tasks t JOIN evaluation_points p ON p.id = t.point_id "
        "WHERE p.code = 't.sn.market1' AND t.done_at IS NOT NULL"
    )
    assert (results, done_tasks) == (0, 1)


async def test_a_fail_becomes_a_finding_that_escalates(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await instruments(client, login)
    body = visit(items=[{"criterion": "A.1", "outcome": "fail"},
                        {"criterion": "A.2", "outcome": "pass"}])  # fmt: skip
    r = await client.post(INSPECTIONS, json=body, headers=await login("inspector.shinan"))
    assert r.json()["nothing_found"] is False
    fid = r.json()["results"][0]["finding"]
    supervisor = await login("supervisor")
    finding = (await client.get(f"/api/v1/findings/{fid}", headers=supervisor)).json()
    assert finding["category"]["code"] == "exposed_garbage"
    assert finding["point_type"] == "farmers_market"
    assert finding["status"] == "assigned"
    assert finding["responsible_unit"]["code"] == "shinan.badaguan"
    assert "t.sn.market1" in finding["description"]
    now = datetime.now(UTC)
    await make_overdue(factory, fid, now - timedelta(hours=1))
    await sweep(factory, settings, now)
    r = await client.get("/api/v1/escalations", headers=supervisor)
    assert [(e["finding"]["id"], e["level"]) for e in r.json()["items"]] == [(fid, 1)]


async def test_the_position_is_checked_and_scope_holds(client: AsyncClient, login: Login) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    far = visit(location={"lat": 36.0646, "lon": 120.3560})  # about 1.1 km north
    r = await client.post(INSPECTIONS, json=far, headers=inspector)
    assert r.status_code == 201
    assert r.json()["flags"] == ["far"]
    assert r.json()["distance_m"] > 1000
    r = await client.post(INSPECTIONS, json=visit("t.lc.alley1"), headers=inspector)
    assert r.status_code == 404
    r = await client.post(INSPECTIONS, json=visit(), headers=await login("handler.shinan"))
    assert r.status_code == 403
    mine = (await client.get(INSPECTIONS, headers=inspector)).json()["items"][0]["id"]
    r = await client.get(f"{INSPECTIONS}/{mine}", headers=await login("handler.licang.xiaocun"))
    assert r.status_code == 404


async def test_the_criteria_a_visit_was_scored_under_are_frozen(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)
    r = await client.post(INSPECTIONS, json=visit(), headers=await login("inspector.shinan"))
    assert r.status_code == 201
    changed = [list(row) for row in TEST_CRITERIA]
    changed[1][5] = "20"
    r = await import_criteria(client, await login("admin"), changed)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["line 3: set"]
    r = await import_criteria(client, await login("admin"))
    assert r.status_code == 200


async def test_a_visit_answers_the_version_named_else_its_plans_else_the_newest(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)  # 市南区's plan scores under t-2026
    newer = [["t-2027", row[1] and "测试标准 2027", *row[2:]] for row in TEST_CRITERIA]
    assert (await import_criteria(client, await login("admin"), newer)).status_code == 200
    shinan = await login("inspector.shinan")
    planned = await client.post(INSPECTIONS, json=visit(), headers=shinan)
    named = await client.post(INSPECTIONS, json=visit(criteria_set="t-2027"), headers=shinan)
    # 李沧区's alley is in no plan
    unplanned = await client.post(
        INSPECTIONS, json=visit("t.lc.alley1"), headers=await login("inspector")
    )
    answered = [r.json().get("criteria_set", r.text) for r in (planned, named, unplanned)]
    assert answered == ["t-2026", "t-2027", "t-2027"]
    missing = await client.post(INSPECTIONS, json=visit(criteria_set="t-1999"), headers=shinan)
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["criteria_set"]


async def test_photos_of_an_inspection_are_kept_checked_and_replayed(
    client: AsyncClient, login: Login
) -> None:
    await instruments(client, login)
    inspector = await login("inspector.shinan")
    visited = (await client.post(INSPECTIONS, json=visit(), headers=inspector)).json()
    url = f"{INSPECTIONS}/{visited['id']}/photos"
    taken = datetime.now(UTC) - timedelta(minutes=2)
    here = make_jpeg(taken_at=taken, gps=(36.0546, 120.3560))
    away = make_jpeg(taken_at=taken, gps=(36.0646, 120.3560))  # about 1.1 km north
    r = await client.post(url, files={"file": ("a.jpg", here, "image/jpeg")}, headers=inspector)
    assert r.status_code == 201, r.text
    assert r.json()["flags"] == []
    again = await client.post(url, files={"file": ("a.jpg", here, "image/jpeg")},
                              headers=inspector)  # fmt: skip
    assert again.status_code == 200
    assert again.json()["id"] == r.json()["id"]
    r = await client.post(url, files={"file": ("b.jpg", away, "image/jpeg")}, headers=inspector)
    assert r.json()["flags"] == ["far"]
    r = await client.post(url, files={"file": ("c.txt", b"not a photo", "text/plain")},
                          headers=inspector)  # fmt: skip
    assert r.status_code == 415
    # The capture time comes from the EXIF alone, as for a finding's evidence: nothing stored.
    claimed = await client.post(url, files={"file": ("e.jpg", make_jpeg(), "image/jpeg")},
                                data={"taken_at": "2026-11-26T09:00:00+08:00"},
                                headers=inspector)  # fmt: skip
    assert claimed.status_code == 422
    assert [e["field"] for e in claimed.json()["errors"]] == ["taken_at"]
    listed = await client.get(url, headers=await login("handler.shinan"))
    assert len(listed.json()["items"]) == 2
    other = await client.get(url, headers=await login("handler.licang.xiaocun"))
    assert other.status_code == 404
    stranger = await client.post(url, files={"file": ("d.jpg", make_jpeg(), "image/jpeg")},
                                 headers=await login("inspector"))  # fmt: skip
    assert stranger.status_code == 404
