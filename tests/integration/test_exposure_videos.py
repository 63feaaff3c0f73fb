"""Exposure videos through the real API: one finding per segment on the batch deadline and the
exposure ladder, idempotent registration, progress as segments move, scope, and the double
weight of a video's findings in the unit ranking."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from tests.helpers import (
    Login,
    act,
    escalations,
    fields,
    make_overdue,
    query,
    register,
    segment,
    sweep,
    video,
)

TZ = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/exposure-videos"


async def finding(client: AsyncClient, headers: dict[str, str], fid: str) -> Any:
    r = await client.get(f"/api/v1/findings/{fid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def close_rectified(
    factory: async_sessionmaker[AsyncSession], fid: str, *, submitted: datetime
) -> None:
    """Closed as rectified, submitted at `submitted` (the evidence flow is tested elsewhere)."""
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET status = 'closed', close_reason = 'rectified', "
                "submitted_at = :at, closed_at = :at, next_escalation_at = NULL WHERE id = :id"
            ),
            {"at": submitted, "id": uuid.UUID(fid)},
        )


async def test_twelve_segments_make_twelve_findings_on_the_batch_deadline(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    dispatcher, supervisor = await login("dispatcher"), await login("supervisor")
    body = video(12)
    v = await register(client, dispatcher, body)
    assert v["id"] == body["id"]
    assert v["policy"] == "exposure_video"
    assert len(v["segments"]) == 12
    assert [s["offset"] for s in v["segments"]] == [s["offset"] for s in body["segments"]]
    assert v["progress"]["segments"] == 12
    assert v["progress"]["by_status"]["assigned"] == 12

    # The batch deadline: 5 working days from registration, whatever the category's limit
    # (2 working days for garbage, 3 for ads, 5 for roads) — the same moment for all twelve.
    created = datetime.fromisoformat(v["created_at"])
    r = await client.get(
        "/api/v1/calendar/due",
        params={"start": created.isoformat(), "working_days": 5},
        headers=dispatcher,
    )
    assert datetime.fromisoformat(v["due_at"]) == datetime.fromisoformat(r.json()["due_at"])
    assert {s["due_at"] for s in v["segments"]} == {v["due_at"]}

    routed = {s["id"]: s["responsible_unit"]["code"] for s in v["segments"]}
    expected_units = ["shinan.badaguan", "shinan.badaguan", "shinan.cgj", "licang.xiaocun"]
    assert list(routed.values()) == [expected_units[i % 4] for i in range(12)]
    f = await finding(client, supervisor, v["segments"][2]["id"])
    assert f["source"] == "exposure_video"
    assert f["category"]["code"] == "damaged_road"
    assert f["due_at"] == v["due_at"]
    assert f["observed_at"].startswith(body["aired_on"] + "T00:00:00")
    rows = await query(
        settings.database_url or "",
        "SELECT video_offset, escalation_plan FROM findings WHERE exposure_video_id = :v "
        "ORDER BY video_offset",
        v=uuid.UUID(v["id"]),
    )
    assert [r.video_offset for r in rows][:3] == ["00:00", "00:01", "00:02"]
    assert {r.escalation_plan["policy"] for r in rows} == {"exposure_video"}
    assert all(min(lv["level"] for lv in r.escalation_plan["levels"]) == 2 for r in rows)

    # Progress as the segments move.
    ids = [s["id"] for s in v["segments"]]
    handler = await login("handler.shinan.badaguan")
    assert (await act(client, handler, ids[0], "accept")).status_code == 200
    due = datetime.fromisoformat(v["due_at"])
    await close_rectified(factory, ids[1], submitted=due - timedelta(hours=1))  # on time
    await close_rectified(factory, ids[5], submitted=due + timedelta(hours=1))  # late
    late_due = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    await make_overdue(factory, ids[4], late_due)
    await sweep(factory, settings, late_due + timedelta(minutes=1))
    # the exposure ladder starts at L2, at the deadline
    assert [e.level for e in await escalations(factory, ids[4])] == [2]

    p = (await client.get(f"{URL}/{v['id']}", headers=supervisor)).json()["progress"]
    assert p == {
        "segments": 12,
        "by_status": {
            "reported": 0,
            "assigned": 9,
            "accepted": 1,
            "suspended": 0,
            "submitted": 0,
            "closed": 2,
        },
        "overdue": 1,
        "escalated": 1,
        "rectified": 2,
        "rectified_on_time": 1,
    }
    listed = (await client.get(URL, headers=supervisor)).json()
    assert [item["id"] for item in listed["items"]] == [v["id"]]
    assert listed["items"][0]["progress"] == p
    assert listed["items"][0]["segments"] is None
    detail = (await client.get(f"{URL}/{v['id']}", headers=supervisor)).json()
    by_id = {s["id"]: s for s in detail["segments"]}
    assert by_id[ids[0]]["status"] == "accepted"
    assert by_id[ids[4]]["overdue"] is True
    assert by_id[ids[4]]["escalation_level"] == 2
    assert by_id[ids[1]]["close_reason"] == "rectified"


async def test_registration_is_idempotent_on_the_video_id(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    dispatcher = await login("dispatcher")
    body = video(3)
    first = await client.post(URL, json=body, headers=dispatcher)
    assert first.status_code == 201
    again = await client.post(URL, json=body, headers=dispatcher)
    assert again.status_code == 200
    assert again.json() == first.json()
    # segment ids are derived from the video id and position: the replay made nothing new
    count = await query(
        settings.database_url or "",
        "SELECT count(*) FROM findings WHERE exposure_video_id = :v",
        v=uuid.UUID(body["id"]),
    )
    assert count[0][0] == 3

    changed = await client.post(URL, json={**body, "title": "另一期"}, headers=dispatcher)
    assert changed.status_code == 409
    assert changed.json()["type"].endswith("idempotency-conflict")
    assert fields(changed) == {"id"}

    # ten identical registrations racing: one row, one 201, nine identical replays
    racing = video(4)
    responses = await asyncio.gather(
        *[client.post(URL, json=racing, headers=dispatcher) for _ in range(10)]
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.content for r in responses}) == 1
    total = await query(settings.database_url or "", "SELECT count(*) FROM findings")
    assert total[0][0] == 7


async def test_a_segment_id_of_another_finding_refuses_the_whole_video(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    dispatcher = await login("dispatcher")
    taken = await register(client, dispatcher, video(1))
    body = video(2)
    body["segments"][1]["id"] = taken["segments"][0]["id"]
    r = await client.post(URL, json=body, headers=dispatcher)
    assert r.status_code == 409
    assert fields(r) == {"segments[1].id"}
    assert (await client.get(f"{URL}/{body['id']}", headers=dispatcher)).status_code == 404
    count = await query(settings.database_url or "", "SELECT count(*) FROM findings")
    assert count[0][0] == 1


async def test_bad_videos_are_refused_naming_the_field_and_nothing_is_stored(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    dispatcher = await login("dispatcher")
    tomorrow = (datetime.now(TZ).date() + timedelta(days=1)).isoformat()
    same = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"segments": [{**segment(0), "offset": "3:75"}]}, "segments[0].offset"),
        ({"segments": [{**segment(0), "offset": "soon"}]}, "segments[0].offset"),
        ({"segments": [segment(i) for i in range(201)]}, "segments"),
        ({"segments": []}, "segments"),
        ({"segments": [segment(0), segment(1, "no_such_category")]}, "segments[1].category"),
        ({"segments": [segment(0), segment(1, unit="nowhere")]}, "segments[1].unit"),
        ({"segments": [{**segment(0), "id": same}, {**segment(1), "id": same}]}, "segments[1].id"),
        ({"policy": "no_such_policy"}, "policy"),
        ({"aired_on": tomorrow}, "aired_on"),
        ({"aired_on": "0001-01-01"}, "aired_on"),
        ({"rectify_within": {"working_days": 0}}, "rectify_within.working_days"),
        ({"rectify_within": {"duration": "PT2H"}}, "rectify_within.working_days"),
        ({"url": "javascript:alert(1)"}, "url"),
    ]
    for over, field in cases:
        r = await client.post(URL, json=video(1, **over), headers=dispatcher)
        assert r.status_code == 422, (over, r.text)
        assert field in fields(r), (over, r.text)
    count = await query(settings.database_url or "", "SELECT count(*) FROM exposure_videos")
    assert count[0][0] == 0
    count = await query(settings.database_url or "", "SELECT count(*) FROM findings")
    assert count[0][0] == 0

    inspector = await login("inspector")
    assert (await client.post(URL, json=video(1), headers=inspector)).status_code == 403
    supervisor = await login("supervisor")
    assert (await client.post(URL, json=video(1), headers=supervisor)).status_code == 403


async def test_hh_mm_ss_offsets_are_kept_and_segments_listed_in_video_order(
    client: AsyncClient, login: Login
) -> None:
    body = video(3)
    body["segments"][0]["offset"] = "1:02:03"
    body["segments"][1]["offset"] = "9:05"
    body["segments"][2]["offset"] = "00:45"
    v = await register(client, await login("dispatcher"), body)
    assert [s["offset"] for s in v["segments"]] == ["00:45", "09:05", "01:02:03"]


async def test_a_unit_sees_only_videos_and_segments_in_its_scope(
    client: AsyncClient, login: Login
) -> None:
    dispatcher = await login("dispatcher")
    mixed = await register(client, dispatcher, video(4))  # 3 in 市南区, 1 in 李沧区
    shinan_only = await register(client, dispatcher, video(1))
    licang = await login("handler.licang.xiaocun")
    r = await client.get(f"{URL}/{mixed['id']}", headers=licang)
    assert r.status_code == 200
    assert [s["responsible_unit"]["code"] for s in r.json()["segments"]] == ["licang.xiaocun"]
    assert r.json()["progress"]["segments"] == 1
    assert (await client.get(f"{URL}/{shinan_only['id']}", headers=licang)).status_code == 404
    listed = (await client.get(URL, headers=licang)).json()
    assert [v["id"] for v in listed["items"]] == [mixed["id"]]

    badaguan = await login("handler.shinan.badaguan")
    r = await client.get(f"{URL}/{mixed['id']}", headers=badaguan)
    # the bureau's road lies in the street: a unit sees what is in its area too
    assert r.json()["progress"]["segments"] == 3

    supervisor = await login("supervisor")
    page = (await client.get(URL, params={"limit": 1}, headers=supervisor)).json()
    assert [v["id"] for v in page["items"]] == [shinan_only["id"]]
    nxt = await client.get(
        URL, params={"limit": 1, "cursor": page["next_cursor"]}, headers=supervisor
    )
    assert [v["id"] for v in nxt.json()["items"]] == [mixed["id"]]
    assert nxt.json()["next_cursor"] is None
    bad = await client.get(URL, params={"cursor": "bm9wZQ"}, headers=supervisor)
    assert bad.status_code == 422
    missing = await client.get(f"{URL}/{uuid.uuid4()}", headers=supervisor)
    assert missing.status_code == 404


async def test_a_queued_segment_dispatched_by_hand_keeps_the_batch_deadline(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    dispatcher = await login("dispatcher")
    body = video(2)
    body["segments"][1]["category"] = "other"  # no routing rule: the dispatch queue
    v = await register(client, dispatcher, body)
    queued = v["segments"][1]
    assert queued["status"] == "reported"
    assert queued["due_at"] is None
    r = await act(client, dispatcher, queued["id"], "dispatch", unit="shinan.badaguan")
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == v["due_at"]
    plan = await query(
        settings.database_url or "",
        "SELECT escalation_plan->>'policy' FROM findings WHERE id = :id",
        id=uuid.UUID(queued["id"]),
    )
    assert plan[0][0] == "exposure_video"


async def test_a_videos_findings_count_double_in_the_ranking(
    client: AsyncClient, login: Login
) -> None:
    dispatcher = await login("dispatcher")
    body = video(2)
    body["segments"] = [segment(0), segment(1, "illegal_ads")]  # both 八大关, 市南区
    await register(client, dispatcher, body)
    r = await client.get(
        "/api/v1/stats/units", params={"level": "district"}, headers=await login("supervisor")
    )
    assert r.status_code == 200, r.text
    shinan = next(i for i in r.json()["items"] if i["unit"]["code"] == "shinan")
    assert shinan["total"] == 2
    assert shinan["weighted"]["total"] == 4
