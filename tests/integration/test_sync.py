"""A phone's sync (`updated_since`) of findings, inspection tasks and inspections: exactly the
rows written since its cursor, whatever order concurrent writers commit in, and as removed
those that left the caller's view."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from httpx import AsyncClient

from services.core.sync.rules import Snapshot, Token
from tests.helpers import Login, act, fields, import_criteria, import_points, post, visit

URL = "/api/v1/findings"
TASKS = "/api/v1/inspection-tasks"
INSPECTIONS = "/api/v1/inspections"
STREET = "handler.shinan.badaguan"


async def sync(
    client: AsyncClient, headers: dict[str, str], cursor: str, url: str = URL, **params: Any
) -> dict[str, Any]:
    """Every page of one sync: (changed ids, removed (id, reason)) and the next sync's cursor."""
    ids: list[str] = []
    removed: list[tuple[str, str]] = []
    page: dict[str, Any] = {"next_cursor": None}
    while True:
        query = {"updated_since": cursor, **params}
        if page["next_cursor"]:
            query["cursor"] = page["next_cursor"]
        r = await client.get(url, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [str(item["id"]) for item in page["items"]]
        removed += [(item["id"], item["reason"]) for item in page["removed"]]
        if page["next_cursor"] is None:
            assert page["sync_cursor"], "the last page gives the next sync's cursor"
            return {"ids": ids, "removed": removed, "cursor": page["sync_cursor"]}
        assert page["sync_cursor"] is None


async def start(client: AsyncClient, headers: dict[str, str], url: str = URL) -> str:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    cursor: str = r.json()["sync_cursor"]
    assert cursor
    return cursor


async def test_exactly_the_changes_since_the_cursor(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    old = await post(client, inspector)
    untouched = await post(client, inspector)
    cursor = await start(client, street)
    assert (await sync(client, street, cursor))["ids"] == []

    new = await post(client, inspector)
    assert (await act(client, street, old["id"], "accept")).status_code == 200
    # Another district's report is none of the street's business.
    await post(client, inspector, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322})
    first = await sync(client, street, cursor)
    assert sorted(first["ids"]) == sorted([new["id"], old["id"]])
    assert untouched["id"] not in first["ids"]
    assert first["removed"] == []
    # Nothing since: nothing again.
    again = await sync(client, street, first["cursor"])
    assert again["ids"] == []
    assert again["removed"] == []


async def test_a_write_that_commits_after_a_later_one_is_not_skipped(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    slow = await post(client, inspector)
    fast = await post(client, inspector)
    cursor = await start(client, street)

    # A transaction writes `slow` first and commits last: any stamp taken when it wrote
    # (a time, a sequence) lies before `fast`'s, and a cursor past `fast` would skip it.
    tx = server_side.transaction()
    await tx.start()
    await server_side.execute(
        "UPDATE findings SET description = '慢事务改写', version = version + 1 WHERE id = $1",
        uuid.UUID(slow["id"]),
    )
    assert (await act(client, street, fast["id"], "accept")).status_code == 200
    first = await sync(client, street, cursor)
    assert first["ids"] == [fast["id"]]  # `slow` is not committed yet
    await tx.commit()

    second = await sync(client, street, first["cursor"])
    assert second["ids"] == [slow["id"]]
    assert (await sync(client, street, second["cursor"]))["ids"] == []


async def test_pages_of_one_sync_hold_every_change_once(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    cursor = await start(client, street)
    made = [(await post(client, inspector))["id"] for _ in range(5)]
    result = await sync(client, street, cursor, limit=2)
    assert sorted(result["ids"]) == sorted(made)
    assert len(result["ids"]) == len(set(result["ids"]))


async def test_what_left_the_callers_view_is_removed(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    moved = await post(client, inspector)
    invalid = await post(client, inspector)
    cursor = await start(client, street)
    licang_cursor = await start(client, await login("handler.licang.xiaocun"))

    # Moved to a 李沧区 street (as a transfer would move it): out of the street's view.
    await server_side.execute(
        """
        UPDATE findings SET responsible_unit_id = u.id, place_unit_id = u.id,
               district_id = u.parent_id, version = version + 1
        FROM units u WHERE u.code = 'licang.xiaocun' AND findings.id = $1
        """,
        uuid.UUID(moved["id"]),
    )
    r = await act(
        client, await login("dispatcher"), invalid["id"], "close_invalid", note="重复上报"
    )
    assert r.status_code == 200, r.text

    result = await sync(client, street, cursor)
    assert result["ids"] == []
    assert sorted(result["removed"]) == sorted(
        [(moved["id"], "out_of_scope"), (invalid["id"], "closed_invalid")]
    )
    # The unit it moved to gets it as a change; nobody learns of another unit's findings.
    assert (await sync(client, await login("handler.licang.xiaocun"), licang_cursor))["ids"] == [
        moved["id"]
    ]
    assert (await sync(client, street, result["cursor"]))["removed"] == []


async def test_a_filtered_sync_removes_what_no_longer_matches(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    f = await post(client, inspector)
    r = await client.get(URL, params={"status": "assigned"}, headers=street)
    cursor = r.json()["sync_cursor"]
    assert (await act(client, street, f["id"], "accept")).status_code == 200
    result = await sync(client, street, cursor, status="assigned")
    assert result["removed"] == [(f["id"], "filtered_out")]
    assert result["ids"] == []


async def test_a_first_sync_from_a_time_and_bad_cursors(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    street = await login(STREET)
    f = await post(client, inspector)
    result = await sync(client, street, "2026-01-01T00:00:00+08:00")
    assert f["id"] in result["ids"]
    for bad in ("yesterday", "s1.bm90IGEgdG9rZW4", "2026-01-01T00:00:00"):
        r = await client.get(URL, params={"updated_since": bad}, headers=street)
        assert r.status_code == 422, r.text
        assert fields(r) == {"updated_since"}
    r = await client.get(
        URL, params={"updated_since": result["cursor"], "cursor": "s1.e30"}, headers=street
    )
    assert fields(r) == {"cursor"}
    r = await client.get(
        URL, params={"updated_since": result["cursor"], "format": "xlsx"}, headers=street
    )
    assert fields(r) == {"format"}
    # A cursor at the far end of the ranges a sync could issue is an empty page, not a failure.
    far = Snapshot(2**62, 2**62 + 5, (2**62 + 1,))
    r = await client.get(
        URL,
        params={"updated_since": "x", "cursor": Token(far, far, (0, 1, "x")).encode()},
        headers=street,
    )
    assert fields(r) == {"cursor"}
    token = Token(far, far, (1, 2**63 - 1, str(uuid.uuid4()))).encode()
    r = await client.get(URL, params={"updated_since": token, "cursor": token}, headers=street)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    r = await client.get(
        TASKS,
        params={
            "updated_since": token,
            "cursor": Token(far, far, (0, 2**62, "99999999999")).encode(),
        },
        headers=street,
    )
    assert r.status_code == 200, r.text


async def test_tasks_and_inspections_sync_too(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    owner = await login("inspector.shinan")
    task_cursor = await start(client, owner, TASKS)
    inspection_cursor = await start(client, owner, INSPECTIONS)
    body = {
        "code": "t.sync",
        "name": "同步测试",
        "criteria_set": "t-2026",
        "starts_on": "2026-09-21",
        "ends_on": "2026-09-25",
        "units": ["shinan"],
        "frequencies": {"farmers_market": "weekly"},
        "assignees": ["inspector.shinan"],
    }
    r = await client.post("/api/v1/inspection-plans", json=body, headers=await login("dispatcher"))
    assert r.status_code == 201, r.text
    tasks = await sync(client, owner, task_cursor, TASKS)
    assert len(tasks["ids"]) == r.json()["tasks"] > 0

    # One task is lent to a 李沧区 user and given back: the district's inspector sees it
    # throughout (its point is in 市南区), a change; the 李沧区 user is told to drop it.
    taken = int(tasks["ids"][0])
    other = await login("handler.licang.xiaocun")
    other_cursor = await start(client, other, TASKS)
    other_inspections = await start(client, other, INSPECTIONS)
    reassign = (
        "UPDATE inspection_tasks SET assignee_id = (SELECT id FROM users WHERE username = $2) "
        "WHERE id = $1"
    )
    await server_side.execute(reassign, taken, "handler.licang.xiaocun")
    lent = await sync(client, other, other_cursor, TASKS)
    assert lent["ids"] == [str(taken)]
    await server_side.execute(reassign, taken, "inspector.shinan")
    back = await sync(client, other, lent["cursor"], TASKS)
    assert back["removed"] == [(str(taken), "out_of_scope")]
    assert back["ids"] == []
    after = await sync(client, owner, tasks["cursor"], TASKS)
    assert after["ids"] == [str(taken)]
    assert after["removed"] == []

    # An inspection recorded is synced to its inspector, not to another district's.
    r = await client.post(INSPECTIONS, json=visit(), headers=owner)
    assert r.status_code == 201, r.text
    assert (await sync(client, owner, inspection_cursor, INSPECTIONS))["ids"] == [r.json()["id"]]
    assert (await sync(client, other, other_inspections, INSPECTIONS))["ids"] == []
