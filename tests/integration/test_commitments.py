"""The commitments ledger (整改承诺台账) end to end through the API on the real database: a
meeting and a district's commitment, progress reports and the office's review (done only
when it accepts 100 %), bad input, scope, and an overdue commitment escalating on its own
ladder exactly once per level, to the leader in personal charge as well."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.calendar.store import load_city_clock
from services.core.commitments.sweep import sweep_commitments
from services.core.platform.settings import Settings
from tests.helpers import (
    COMMITMENTS,
    MEETINGS,
    TZ,
    Login,
    csrf_of,
    fields,
    meeting_with,
    overdue_commitment,
    person_of,
    pledge,
    post,
    register,
    segment,
    sql_rows,
    sweep_pledges,
    ui_login,
    video,
)
from tests.photos import make_jpeg

BRIEFING = "/api/v1/briefings/weekly"
VIDEOS = "/api/v1/exposure-videos"


async def test_progress_is_reviewed_and_only_the_office_makes_it_done(
    client: AsyncClient, login: Login
) -> None:
    office, handler = await login("dispatcher"), await login("handler.shinan")
    finding = await post(client, await login("inspector"), description="承诺关联问题")
    _, (c,) = await meeting_with(client, office, pledge(findings=[finding["id"]]))
    assert c["unit"]["code"] == "shinan"
    assert c["district"] == "shinan"
    assert c["leader"]["name"] == "示例·市南区委书记"
    assert c["findings"] == [finding["id"]]
    assert (c["status"], c["percent"], c["escalations"]) == ("on_track", 0, [])
    url = f"{COMMITMENTS}/{c['id']}"

    # the unit reports; its own figure counts only once the office accepted it
    r = await client.post(
        f"{url}/progress", json={"text": "已清运", "percent": 50}, headers=handler
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["review"] == "pending"
    assert (await client.get(url, headers=handler)).json()["percent"] == 0
    review = f"{url}/progress/{first['id']}/review"
    r = await client.post(review, json={"decision": "accept"}, headers=handler)
    assert r.status_code == 403, r.text
    r = await client.post(review, json={"decision": "accept"}, headers=office)
    assert r.status_code == 200, r.text
    assert r.json()["review"] == "accepted"
    assert (await client.get(url, headers=handler)).json()["percent"] == 50
    r = await client.post(review, json={"decision": "return", "note": "x"}, headers=office)
    assert r.status_code == 409, r.text

    # 100 % returned: not done; a return must say why
    r = await client.post(f"{url}/progress", json={"text": "完成", "percent": 100}, headers=handler)
    second = r.json()["id"]
    review = f"{url}/progress/{second}/review"
    r = await client.post(review, json={"decision": "return"}, headers=office)
    assert r.status_code == 422, r.text
    assert fields(r) == {"note"}
    r = await client.post(review, json={"decision": "return", "note": "照片不清"}, headers=office)
    assert r.json()["review"] == "returned"
    assert (await client.get(url, headers=handler)).json()["status"] != "done"

    r = await client.post(f"{url}/progress", json={"text": "补充", "percent": 100}, headers=handler)
    third = r.json()["id"]
    r = await client.post(
        f"{url}/progress/{third}/review", json={"decision": "accept"}, headers=office
    )
    assert r.status_code == 200, r.text
    done = (await client.get(url, headers=handler)).json()
    assert (done["status"], done["percent"]) == ("done", 100)
    assert done["accepted_at"] is not None
    r = await client.post(f"{url}/progress", json={"text": "再报", "percent": 100}, headers=handler)
    assert r.status_code == 409, r.text
    listed = (await client.get(f"{url}/progress", headers=handler)).json()["items"]
    assert [p["review"] for p in listed] == ["accepted", "returned", "accepted"]
    r = await client.get(COMMITMENTS, params={"status": "done"}, headers=office)
    assert c["id"] in [i["id"] for i in r.json()["items"]]


async def test_bad_input_names_the_field_and_stores_nothing(
    client: AsyncClient, login: Login
) -> None:
    office = await login("dispatcher")
    mid, _ = await meeting_with(client, office)
    url = f"{MEETINGS}/{mid}/commitments"
    foreign = await post(
        client,
        await login("inspector"),
        unit="licang.xiaocun",
        location={"lat": 36.1468, "lon": 120.4322, "address": "李沧区"},
    )
    cases = [
        (pledge(deadline={"date": "2026-12-31", "working_days": 3}), 422, "deadline"),
        (pledge(deadline={"working_days": 0}), 422, "deadline.working_days"),
        (pledge(unit="nosuch"), 422, "unit"),
        (pledge(findings=[foreign["id"]]), 422, "findings"),
        (pledge(status_quo=""), 422, "status_quo"),
    ]
    for body, status, field in cases:
        r = await client.post(url, json=body, headers=office)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert any(f.endswith(field) or f.startswith(field) for f in fields(r)), (field, r.text)
    r = await client.post(url, json=pledge(), headers=await login("handler.shinan"))
    assert r.status_code == 403, r.text
    r = await client.post(f"{MEETINGS}/{2_000_000_000}/commitments", json=pledge(), headers=office)
    assert r.status_code == 404, r.text
    r = await client.get(COMMITMENTS, params={"meeting": mid}, headers=office)
    assert r.json()["items"] == []
    r = await client.post(MEETINGS, json={"held_on": "2026-12-03", "title": "会", "kind": "x"},
                          headers=office)  # fmt: skip
    assert r.status_code == 422, r.text
    assert fields(r) == {"kind"}


async def test_a_district_sees_only_its_own_commitments(client: AsyncClient, login: Login) -> None:
    office = await login("dispatcher")
    mid, (own, foreign, street) = await meeting_with(
        client, office, pledge("shinan"), pledge("licang"), pledge("shinan.badaguan")
    )
    for who, sees in [
        ("handler.shinan", {own["id"], street["id"]}),
        ("leader.shinan", {own["id"], street["id"]}),
        ("handler.shinan.badaguan", {street["id"]}),
        ("supervisor", {own["id"], foreign["id"], street["id"]}),
    ]:
        headers = await login(who)
        r = await client.get(COMMITMENTS, params={"meeting": mid}, headers=headers)
        assert {i["id"] for i in r.json()["items"]} == sees, who
        for cid in {own["id"], foreign["id"], street["id"]} - sees:
            r = await client.get(f"{COMMITMENTS}/{cid}", headers=headers)
            assert r.status_code == 404, (who, r.text)
            r = await client.post(
                f"{COMMITMENTS}/{cid}/progress", json={"text": "越界", "percent": 10},
                headers=headers,
            )  # fmt: skip
            assert r.status_code == 404, (who, r.text)
        meeting = (await client.get(f"{MEETINGS}/{mid}", headers=headers)).json()
        assert meeting["commitments"] == len(sees), who


async def test_overdue_commitment_escalates_once_per_level_also_to_the_leader_in_charge(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    office, leader = await login("dispatcher"), await login("leader.shinan")
    _, (c,) = await meeting_with(client, office, pledge())
    cid = c["id"]
    r = await client.post(f"{COMMITMENTS}/{cid}/supervision", json={"note": "亲自督办"},
                          headers=leader)  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"{COMMITMENTS}/{cid}/supervision", headers=leader)
    assert r.status_code == 200, r.text
    shown = (await client.get(f"{COMMITMENTS}/{cid}", headers=office)).json()
    assert shown["personally_supervised"] is True
    assert [s["name"] for s in shown["supervisors"]] == ["示例·市南区委书记"]
    now = datetime.now(UTC)
    await overdue_commitment(factory, cid, now - timedelta(days=30))

    # a sweep that dies before its commit leaves nothing behind
    async with factory() as session:
        clock = await load_city_clock(session, settings)
        died = await sweep_commitments(session, clock, now, 200)
        assert died.escalations == 2
        await session.rollback()
    fired = "SELECT 1 FROM commitment_escalations WHERE commitment_id = :c"
    assert await sql_rows(factory, fired, c=cid) == []

    # two sweeps at once, then again: each level once
    results = await asyncio.gather(
        sweep_pledges(factory, settings, now), sweep_pledges(factory, settings, now)
    )
    assert sorted(r.escalations for r in results) == [0, 2]
    again = await sweep_pledges(factory, settings, now + timedelta(days=60))
    assert again.escalations == 0
    levels = await sql_rows(
        factory,
        "SELECT level, target, target_name FROM commitment_escalations"
        " WHERE commitment_id = :c ORDER BY level",
        c=cid,
    )
    assert [tuple(row) for row in levels] == [
        (1, "city_leader", "示例·联系市南区的市领导"),
        (2, "discipline_commission", "示例·市纪委书记、市监委主任"),
    ]
    city_leader = await person_of(factory, "shinan", "city_leader")
    district_head = await person_of(factory, "shinan", "head")
    inbox = await sql_rows(
        factory,
        "SELECT recipient_person_id, level, count(*) FROM notifications"
        " WHERE commitment_id = :c AND channel = 'inbox' AND kind = 'commitment'"
        " GROUP BY 1, 2 ORDER BY 2, 1",
        c=cid,
    )
    commission_head = {p for p, lv, _ in inbox if lv == 2} - {district_head}
    assert [tuple(row) for row in inbox] == sorted(
        [(city_leader, 1, 1), (district_head, 1, 1), (district_head, 2, 1),
         (*commission_head, 2, 1)], key=lambda t: (t[1], t[0]),
    )  # fmt: skip
    # the leader in charge reads them in their inbox, marked
    items = (await client.get("/api/v1/inbox", headers=leader)).json()["items"]
    mine = [i for i in items if i["kind"] == "commitment" and i["commitment_id"] == cid]
    assert sorted(i["payload"]["level"] for i in mine) == [1, 2]
    assert all(i["payload"]["personally_supervised"] for i in mine)
    shown = (await client.get(f"{COMMITMENTS}/{cid}", headers=office)).json()
    assert shown["status"] == "overdue"
    assert [e["level"] for e in shown["escalations"]] == [1, 2]
    mine_list = (await client.get("/api/v1/supervision", headers=leader)).json()["items"]
    assert [s["commitment"] for s in mine_list] == [cid]
    r = await client.get(COMMITMENTS, params={"supervised_by": district_head}, headers=office)
    assert [i["id"] for i in r.json()["items"]] == [cid]


async def test_accepted_commitment_never_escalates(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    office, handler = await login("dispatcher"), await login("handler.shinan")
    _, (c,) = await meeting_with(client, office, pledge())
    url = f"{COMMITMENTS}/{c['id']}"
    r = await client.post(f"{url}/progress", json={"text": "完成", "percent": 100}, headers=handler)
    r = await client.post(f"{url}/progress/{r.json()['id']}/review", json={"decision": "accept"},
                          headers=office)  # fmt: skip
    assert r.status_code == 200, r.text
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE commitments SET due_at = now() - interval '30 days' WHERE id = :id"),
            {"id": c["id"]},
        )
    await sweep_pledges(factory, settings, datetime.now(UTC) + timedelta(days=60))
    rows = await sql_rows(
        factory, "SELECT 1 FROM commitment_escalations WHERE commitment_id = :c", c=c["id"]
    )
    assert rows == []
    assert (await client.get(url, headers=office)).json()["status"] == "done"


async def test_weekly_briefing_has_a_commitments_section(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    office = await login("dispatcher")
    _, (late, fine, foreign) = await meeting_with(
        client, office, pledge("shinan.badaguan", targets="八大关 逾期承诺"), pledge("shinan"),
        pledge("licang", targets="李沧 逾期承诺"),
    )  # fmt: skip
    now = datetime.now(UTC)
    for cid in (late["id"], foreign["id"]):
        await overdue_commitment(factory, cid, now - timedelta(days=30))
    await sweep_pledges(factory, settings, now)
    year, number, _ = datetime.now(TZ).isocalendar()
    week = {"week": f"{year}-W{number:02d}"}
    b = (await client.get(BRIEFING, params=week, headers=await login("supervisor"))).json()
    lines = {c["code"]: c for c in b["commitments"]}
    assert {k: lines["shinan"][k] for k in ("total", "on_track", "overdue", "done")} == {
        "total": 2, "on_track": 1, "overdue": 1, "done": 0,
    }  # fmt: skip
    assert lines["shinan"]["escalations"] == 2
    assert lines["licang"]["overdue"] == 1
    assert [i["targets"] for i in b["overdue_commitments"]] == ["八大关 逾期承诺", "李沧 逾期承诺"]
    assert b["overdue_commitments"][0]["level"] == 2
    # a district's leader reads its own overdue commitments only
    mine = (await client.get(BRIEFING, params=week, headers=await login("leader.shinan"))).json()
    assert [i["commitment_id"] for i in mine["overdue_commitments"]] == [late["id"]]
    page = await client.get(
        BRIEFING, params={**week, "format": "html"}, headers=await login("supervisor")
    )
    assert "整改承诺落实情况" in page.text
    assert "八大关 逾期承诺" in page.text
    assert fine["status"] == "on_track"


async def test_follow_up_video_shows_the_earlier_problems_and_commitments_it_revisits(
    client: AsyncClient, login: Login
) -> None:
    office = await login("dispatcher")
    first = await register(
        client, office, video(1, title="曝光台 第1期", segments=[segment(0), segment(5)])
    )
    mid, (pledged, other) = await meeting_with(
        client, office, pledge("shinan.badaguan"), pledge("licang"), videos=[first["id"]]
    )
    # the follow-up: one segment at the first one's place, one somewhere new
    again = segment(0) | {"description": "回头看 仍未整改", "offset": "00:10"}
    # the same latitude, 900 m east: not the same place
    far = {"lat": 36.05, "lon": 120.35, "address": "曝光点位 东侧"}
    elsewhere = segment(0) | {"offset": "00:20", "description": "新问题", "location": far}
    follow = await register(
        client, office, video(title="曝光台 第2期", segments=[again, elsewhere])
    )
    url = f"{VIDEOS}/{follow['id']}/revisits"
    r = await client.get(url, headers=await login("handler.shinan"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["description"] for i in items] == ["回头看 仍未整改", elsewhere["description"]]
    revisited, new = items
    earlier = first["segments"][0]["id"]
    assert [(e["finding"], e["relation"], e["video"]) for e in revisited["earlier"]] == [
        (earlier, "same_place", "曝光台 第1期")
    ]
    assert [c["id"] for c in revisited["commitments"]] == [pledged["id"]]
    assert (new["earlier"], new["commitments"]) == ([], [])
    assert other["unit"]["code"] == "licang"
    # another district's handler sees none of the follow-up video
    r = await client.get(url, headers=await login("handler.licang.xiaocun"))
    assert r.status_code == 404, r.text
    # the meeting names the video to whom it shows a segment, and counts commitments in scope
    for who, videos, count in [
        ("handler.shinan", [first["id"]], 1),
        ("handler.licang.xiaocun", [], 0),
        ("supervisor", [first["id"]], 2),
    ]:
        m = (await client.get(f"{MEETINGS}/{mid}", headers=await login(who))).json()
        assert (m["videos"], m["commitments"]) == (videos, count), who


async def test_the_screens_report_review_and_take_charge(client: AsyncClient, login: Login) -> None:
    """The unit reports on the commitment's page, the office accepts the report there, a
    leader takes personal charge; the list shows status and mark; another district's
    commitment is the 404 page; a form without its CSRF token changes nothing."""
    office = await login("dispatcher")
    _, (c, foreign) = await meeting_with(client, office, pledge("shinan"), pledge("licang"))
    page = f"/ui/commitments/{c['id']}"

    await ui_login(client, "handler.shinan")
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    assert "示例：曝光问题全部整改销号" in shown.text
    r = await client.post(f"{page}/progress", data={"text": "已完成", "percent": "100"})
    assert r.status_code == 403
    form = {"text": "已完成清运", "percent": "100", "csrf": csrf_of(shown.text)}
    r = await client.post(f"{page}/progress", data=form)
    assert r.status_code == 303, r.text
    bad = await client.post(f"{page}/progress", data=form | {"percent": "120"})
    assert bad.status_code == 422
    assert (await client.get(f"/ui/commitments/{foreign['id']}")).status_code == 404
    listed = (await client.get("/ui/commitments")).text
    assert f"/ui/commitments/{foreign['id']}" not in listed
    assert f"/ui/commitments/{c['id']}" in listed

    await ui_login(client, "dispatcher")
    shown = await client.get(page)
    (report,) = (await client.get(f"{COMMITMENTS}/{c['id']}/progress", headers=office)).json()[
        "items"
    ]
    r = await client.post(
        f"{page}/progress/{report['id']}/review",
        data={"decision": "accept", "csrf": csrf_of(shown.text)},
    )
    assert r.status_code == 303, r.text
    assert (await client.get(f"{COMMITMENTS}/{c['id']}", headers=office)).json()["status"] == "done"
    assert "已验收" in (await client.get("/ui/commitments", params={"status": "done"})).text

    await ui_login(client, "leader.shinan")
    shown = await client.get(page)
    r = await client.post(f"{page}/supervision", data={"csrf": csrf_of(shown.text)})
    assert r.status_code == 303, r.text
    mine = await client.get("/ui/commitments", params={"mine": "1"})
    assert "★ 示例·市南区委书记" in mine.text


async def test_a_progress_report_carries_photos_kept_like_evidence(
    client: AsyncClient, login: Login
) -> None:
    office, handler = await login("dispatcher"), await login("handler.shinan")
    _, (c,) = await meeting_with(client, office, pledge())
    url = f"{COMMITMENTS}/{c['id']}/progress"
    report = (
        await client.post(url, json={"text": "已整改", "percent": 80}, headers=handler)
    ).json()
    photos = f"{url}/{report['id']}/photos"
    jpeg = make_jpeg(taken_at=datetime.now(TZ))
    r = await client.post(photos, files={"file": ("a.jpg", jpeg, "image/jpeg")}, headers=handler)
    assert r.status_code == 201, r.text
    shot = r.json()
    again = await client.post(
        photos, files={"file": ("a.jpg", jpeg, "image/jpeg")}, headers=handler
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == shot["id"]
    bad = await client.post(photos, files={"file": ("a.txt", b"not a photo", "text/plain")},
                            headers=handler)  # fmt: skip
    assert bad.status_code == 415, bad.text
    listed = (await client.get(url, headers=office)).json()["items"]
    assert [p["id"] for p in listed[0]["photos"]] == [shot["id"]]
    image = await client.get(shot["url"], headers=office)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert b"Exif" not in image.content[:200]  # re-encoded without its metadata
    # another district sees none of it; a reviewed report takes no more photos
    other = await login("handler.licang.xiaocun")
    assert (await client.get(shot["url"], headers=other)).status_code == 404
    r = await client.post(f"{url}/{report['id']}/review", json={"decision": "accept"},
                          headers=office)  # fmt: skip
    assert r.status_code == 200, r.text
    late = make_jpeg(taken_at=datetime.now(TZ) - timedelta(minutes=1))
    r = await client.post(photos, files={"file": ("b.jpg", late, "image/jpeg")}, headers=handler)
    assert r.status_code == 409, r.text
