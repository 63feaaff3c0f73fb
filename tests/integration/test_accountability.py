"""The accountability ledger against a hand-built history, and the 问责 records' audience.

The history (November 2026, no holiday; office hours 08:30-18:00): 市南区's head post changes
hands on Monday 16 November, from the demo's head (A) to a newcomer (B), and A becomes the
city leader in charge of 李沧区 that day. Two commitments of 市南区 escalate to the head post
on their own ladder (levels 1 and 2, the default): X is never accepted, Y is. Every figure
below is worked out by hand from the rows inserted here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient

from tests.helpers import (
    LICANG_PLACE,
    TZ,
    Login,
    Notice,
    appoint,
    assert_problem,
    close_rectified,
    hand_over_post,
    insert_commitment_escalation,
    insert_escalation,
    meeting_with,
    person_of_account,
    pledge,
    post,
)

API = "/api/v1/accountability"
PERIOD = {"since": "2026-11-02T00:00:00+08:00", "until": "2026-12-02T00:00:00+08:00"}
OFFICE_HOURS = {"notify_hours": "08:30-18:00"}


def t(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


async def follow_up(conn: asyncpg.Connection, escalation: int, due: datetime) -> None:
    await conn.execute(
        "INSERT INTO instruction_follow_ups (escalation_id, due_at) VALUES ($1, $2)",
        escalation,
        due,
    )


async def history(client: AsyncClient, login: Login, conn: asyncpg.Connection) -> dict[str, Any]:
    inspector = await login("inspector")
    f = [(await post(client, inspector))["id"] for _ in range(4)]
    f5 = (await post(client, inspector, unit="licang.xiaocun", location=LICANG_PLACE))["id"]
    a = await person_of_account(conn, "leader.shinan")
    b = await hand_over_post(conn, "shinan", "head", t(16, 0), "示例·新任市南区委书记")
    await appoint(conn, "licang", "city_leader", a, t(16, 0))
    e: dict[str, int] = {}
    # Before the period: not counted.
    e["before"] = await insert_escalation(
        conn, f[1], 1, t(28, 10, month=10), person=a, unit_code="shinan"
    )
    # A: acknowledged after 4 working hours; rectified 15 working hours after the 批示,
    # before its follow-up deadline (met).
    e["e1"] = await insert_escalation(
        conn,
        f[0],
        2,
        t(9, 10),
        person=a,
        unit_code="shinan",
        acknowledged_at=t(9, 14),
        instruction="立即整改",
        notice=Notice(opened=True),
    )
    await close_rectified(conn, f[0], t(11, 10))
    await follow_up(conn, e["e1"], t(12, 17, 30))
    # A: Friday 16:00 to Monday 09:30 is 3 working hours; still open past its follow-up.
    e["e2"] = await insert_escalation(
        conn,
        f[1],
        2,
        t(13, 16),
        person=a,
        unit_code="shinan",
        acknowledged_at=t(16, 9, 30),
        instruction="限期整改",
        notice=Notice(channel="dingtalk"),
    )
    await follow_up(conn, e["e2"], t(18, 17, 30))
    # B: opened, never acknowledged; the finding reached level 4 and is still open.
    e["e3"] = await insert_escalation(
        conn,
        f[2],
        2,
        t(17, 9),
        person=b,
        unit_code="shinan",
        notice=Notice(opened=True, channel="sms"),
    )
    jiwei = await conn.fetchval(
        "SELECT p.person_id FROM posts p JOIN units u ON u.id = p.unit_id "
        "WHERE u.code = 'jiwei' AND p.role = 'head'"
    )
    e["l4"] = await insert_escalation(
        conn,
        f[2],
        4,
        t(25, 10),
        person=jiwei,
        unit_code="jiwei",
        target="discipline_commission",
    )
    # B: no message got through; acknowledged after 1.5 working hours, rectified 17.5
    # working hours after.
    e["e5"] = await insert_escalation(
        conn,
        f[3],
        2,
        t(18, 10),
        person=b,
        unit_code="shinan",
        acknowledged_at=t(18, 11, 30),
        instruction="请街道加快整改",
        notice=Notice(sent=False, channel="sms"),
    )
    await close_rectified(conn, f[3], t(20, 10))
    # A in the new post: acknowledged after half an hour.
    e["e6"] = await insert_escalation(
        conn, f5, 3, t(23, 10), person=a, unit_code="licang", target="city_leader",
        acknowledged_at=t(23, 10, 30), instruction="李沧区抓紧落实",
    )  # fmt: skip
    c = await commitments_history(client, login, conn, a, b)
    return {"a": a, "b": b, "e": e, "c": c, "findings": [*f, f5]}


async def commitments_history(
    client: AsyncClient, login: Login, conn: asyncpg.Connection, a: int, b: int
) -> dict[str, int]:
    """X: level 1 to A (read), level 2 to B (sent, unread), never accepted; Y: level 1 to A
    before the period, level 2 to B (undelivered), then accepted as done."""
    _, (x, y) = await meeting_with(
        client, await login("dispatcher"), pledge("shinan"), pledge("shinan")
    )
    await conn.execute("UPDATE commitments SET accepted_at = $2 WHERE id = $1", y["id"], t(27, 9))
    c: dict[str, int] = {"x": x["id"], "y": y["id"]}
    c["y1"] = await insert_commitment_escalation(
        conn, y["id"], 1, t(28, 10, month=10), person=a, unit_code="shinan"
    )
    c["x1"] = await insert_commitment_escalation(
        conn, x["id"], 1, t(10, 10), person=a, unit_code="shinan", notice=Notice(opened=True)
    )
    c["x2"] = await insert_commitment_escalation(
        conn, x["id"], 2, t(19, 10), person=b, unit_code="shinan", notice=Notice(channel="sms")
    )
    c["y2"] = await insert_commitment_escalation(
        conn, y["id"], 2, t(20, 10), person=b, unit_code="shinan",
        notice=Notice(sent=False, channel="sms"),
    )  # fmt: skip
    return c


def pledged(received: int, by_level: dict[str, int], delivered: int, opened: int, still: int
            ) -> dict[str, Any]:  # fmt: skip
    return {
        "received": received,
        "by_level": by_level,
        "delivered": delivered,
        "opened": opened,
        "open_after_last_level": still,
    }


def levels(**counts: int) -> dict[str, int]:
    return {str(n): counts.get(f"l{n}", 0) for n in range(1, 5)}


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
async def test_a_post_changing_hands_splits_its_ledger_between_the_holders(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    h = await history(client, login, server_side)
    r = await client.get(
        f"{API}/ledger/posts/shinan/head", params=PERIOD, headers=await login("discipline")
    )
    assert r.status_code == 200, r.text
    ledger = r.json()
    totals = ledger["totals"]
    assert totals == {
        "received": 4,
        "by_level": levels(l2=4),
        "delivered": 3,
        "opened": 2,
        "acknowledged": 3,
        "median_ack_working_hours": 3.0,
        "instructions": 3,
        "rectified_after_instruction": 2,
        "median_rectify_working_hours": 16.25,
        "follow_ups": {"met": 1, "missed": 1, "pending": 0},
        "open_after_level_4": 1,
        # Beside the findings' figures, unchanged by them: X's two levels and Y's second;
        # X is still not done after its last level.
        "commitments": pledged(3, {"1": 1, "2": 2}, 2, 1, 1),
    }
    a_share, b_share = ledger["shares"]
    assert (a_share["person_id"], b_share["person_id"]) == (h["a"], h["b"])
    assert [e["id"] for e in a_share["escalations"]] == [h["e"]["e1"], h["e"]["e2"]]
    assert a_share["figures"]["median_ack_working_hours"] == 3.5
    assert a_share["figures"]["open_after_level_4"] == 0
    assert b_share["figures"] | {"by_level": None} == {
        "received": 2,
        "by_level": None,
        "delivered": 1,
        "opened": 1,
        "acknowledged": 1,
        "median_ack_working_hours": 1.5,
        "instructions": 1,
        "rectified_after_instruction": 1,
        "median_rectify_working_hours": 17.5,
        "follow_ups": {"met": 0, "missed": 0, "pending": 0},
        "open_after_level_4": 1,
        "commitments": pledged(2, {"2": 2}, 1, 0, 1),
    }
    # A was told of X's first level and read it; X, still open after its last level,
    # counts against each holder it reached, as a finding still open after level 4 does.
    assert a_share["figures"]["commitments"] == pledged(1, {"1": 1}, 1, 1, 1)
    assert [e["id"] for e in a_share["commitment_escalations"]] == [h["c"]["x1"]]
    assert [(e["commitment_id"], e["still_open"]) for e in b_share["commitment_escalations"]] == [
        (h["c"]["x"], True),
        (h["c"]["y"], False),
    ]
    # The post's history: A until the hand-over, then B.
    tenures = [(x["person_id"], x["valid_to"]) for x in ledger["tenures"]]
    assert tenures == [(h["a"], "2026-11-16T00:00:00+08:00"), (h["b"], None)]


@pytest.mark.parametrize("settings_overrides", [OFFICE_HOURS])
async def test_a_persons_ledger_follows_them_to_their_next_post(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    h = await history(client, login, server_side)
    r = await client.get(
        f"{API}/ledger/people/{h['a']}", params=PERIOD, headers=await login("leader.shinan")
    )
    assert r.status_code == 200, r.text
    ledger = r.json()
    assert ledger["totals"]["received"] == 3
    assert ledger["totals"]["by_level"] == levels(l2=2, l3=1)
    assert ledger["totals"]["median_ack_working_hours"] == 3.0
    # Y's first level fired before the period: only X's counts.
    assert ledger["totals"]["commitments"] == pledged(1, {"1": 1}, 1, 1, 1)
    posts = [(s["unit_name"], s["role"], s["figures"]["received"]) for s in ledger["shares"]]
    assert posts == [("市南区", "head", 2), ("李沧区", "city_leader", 1)]
    held = {(x["unit"], x["role"], x["valid_to"]) for x in ledger["tenures"]}
    assert {
        ("shinan", "head", "2026-11-16T00:00:00+08:00"),
        ("licang", "city_leader", None),
    } <= held


async def test_who_reads_which_ledger(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    a = await person_of_account(server_side, "leader.shinan")
    city = await person_of_account(server_side, "leader.city")
    for username in ("discipline", "admin", "supervisor", "leader.shinan"):
        r = await client.get(f"{API}/ledger/people/{a}", headers=await login(username))
        assert r.status_code == 200, (username, r.text)
    # Another person's ledger is not there for a leader; a post's ledger is for the readers.
    r = await client.get(f"{API}/ledger/people/{city}", headers=await login("leader.shinan"))
    assert_problem(r, 404)
    r = await client.get(f"{API}/ledger/posts/shinan/head", headers=await login("leader.shinan"))
    assert_problem(r, 403)
    r = await client.get(
        f"{API}/ledger/people/{a}",
        params={"since": PERIOD["until"], "until": PERIOD["since"]},
        headers=await login("discipline"),
    )
    assert "until" in {e["field"] for e in assert_problem(r, 422)["errors"]}  # type: ignore[attr-defined]


async def test_records_are_seen_by_the_commission_admins_and_the_person_concerned(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    h = await history(client, login, server_side)
    discipline = await login("discipline")
    _, (pledged,) = await meeting_with(client, await login("dispatcher"), pledge("shinan"))
    about_a = {
        "action": "interview",
        "person": h["a"],
        "decided_on": "2026-11-30",
        "summary": "就市南区督办事项久拖未决进行约谈",
        "escalations": [h["e"]["e2"]],
        "commitments": [pledged["id"]],
    }
    r = await client.post(f"{API}/records", json=about_a, headers=discipline)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert (mine["action_name"], mine["escalations"], mine["commitments"]) == (
        "约谈",
        [h["e"]["e2"]],
        [pledged["id"]],
    )
    about_unit = {**about_a, "person": None, "unit": "licang.xiaocun", "action": "public_criticism",
                  "escalations": [], "commitments": []}  # fmt: skip
    r = await client.post(f"{API}/records", json=about_unit, headers=discipline)
    assert r.status_code == 201, r.text
    other = r.json()

    async def seen(username: str) -> set[int]:
        r = await client.get(f"{API}/records", headers=await login(username))
        assert r.status_code == 200, r.text
        ids = {item["id"] for item in r.json()["items"]}
        for rid in (mine["id"], other["id"]):
            one = await client.get(f"{API}/records/{rid}", headers=await login(username))
            assert one.status_code == (200 if rid in ids else 404), (username, one.text)
        return ids

    assert await seen("discipline") == {mine["id"], other["id"]}
    assert await seen("admin") == {mine["id"], other["id"]}
    assert await seen("leader.shinan") == {mine["id"]}
    for username in ("supervisor", "leader.city", "handler.licang.xiaocun", "dispatcher"):
        assert await seen(username) == set(), username
    # Only the commission records; bad references are named; nothing half-written.
    r = await client.post(f"{API}/records", json=about_a, headers=await login("admin"))
    assert_problem(r, 403)
    bad = {**about_a, "escalations": [987_654_321]}
    assert "escalations" in {
        e["field"]
        for e in assert_problem(  # type: ignore[attr-defined]
            await client.post(f"{API}/records", json=bad, headers=discipline), 422
        )["errors"]
    }
    bad = {**about_a, "commitments": [987_654_321]}
    assert "commitments" in {
        e["field"]
        for e in assert_problem(  # type: ignore[attr-defined]
            await client.post(f"{API}/records", json=bad, headers=discipline), 422
        )["errors"]
    }
    bad = {**about_a, "person": None}
    assert "person" in {
        e["field"]
        for e in assert_problem(  # type: ignore[attr-defined]
            await client.post(f"{API}/records", json=bad, headers=discipline), 422
        )["errors"]
    }
    assert await server_side.fetchval("SELECT count(*) FROM accountability_records") == 2
    # Records are evidence: the database refuses to change them.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await server_side.execute("UPDATE accountability_records SET summary = 'x'")
    audit = await server_side.fetchval(
        "SELECT count(*) FROM admin_events WHERE action = 'accountability_record'"
    )
    assert audit == 2


async def test_the_leader_who_gave_the_instruction_sets_its_follow_up(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    h = await history(client, login, server_side)
    a = await login("leader.shinan")
    url = f"{API}/follow-ups/{h['e']['e6']}"
    ahead = {"due_at": "2099-01-05T17:30:00+08:00"}
    r = await client.put(url, json=ahead, headers=a)
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == ahead["due_at"]
    # A supervisor sees the escalation but gave no 批示; another leader does not see it.
    assert_problem(await client.put(url, json=ahead, headers=await login("supervisor")), 403)
    assert_problem(await client.put(url, json=ahead, headers=await login("leader.city")), 404)
    assert_problem(await client.put(url, json={"due_at": "2026-01-05T17:30:00+08:00"},
                                    headers=a), 422)  # fmt: skip
    # Not yet acknowledged: the 批示 comes first.
    unacked = f"{API}/follow-ups/{h['e']['before']}"
    assert_problem(await client.put(unacked, json=ahead, headers=a), 409)
    due = await server_side.fetchval(
        "SELECT due_at FROM instruction_follow_ups WHERE escalation_id = $1", h["e"]["e6"]
    )
    assert due == datetime(2099, 1, 5, 17, 30, tzinfo=TZ)


async def test_a_posts_history_survives_an_edit_of_its_holder_in_place(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    """Ending a tenure and appointing keeps both rows; an admin's edit of the holder in place
    would not, so every state of a post row is kept in post_changes."""
    a = await person_of_account(server_side, "leader.shinan")
    post_id = await server_side.fetchval(
        "SELECT p.id FROM posts p JOIN units u ON u.id = p.unit_id "
        "WHERE u.code = 'shinan' AND p.role = 'head'"
    )
    admin = await login("admin")
    r = await client.post("/api/v1/people", json={"name": "示例·继任者"}, headers=admin)
    assert r.status_code == 201, r.text
    successor = r.json()["id"]
    r = await client.patch(f"/api/v1/posts/{post_id}", json={"person": successor}, headers=admin)
    assert r.status_code == 200, r.text
    held = await server_side.fetch(
        "SELECT person_id, change FROM post_changes WHERE post_id = $1 ORDER BY id", post_id
    )
    assert [(row["person_id"], row["change"]) for row in held] == [
        (a, "insert"),
        (successor, "update"),
    ]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await server_side.execute("DELETE FROM post_changes")
