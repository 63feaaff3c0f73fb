"""Bulk actions (`POST /findings/bulk`): dispatch, transfer, approve and close invalid on many
findings in one request, each item checked and answered on its own like the batch intake, a
refused item changing nothing, and the limit of 500 items."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient

from tests.helpers import URL, Login, act, assert_problem, post

BULK = f"{URL}/bulk"


async def bulk(client: AsyncClient, headers: dict[str, str], **body: Any) -> list[dict[str, Any]]:
    r = await client.post(BULK, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


async def finding(client: AsyncClient, headers: dict[str, str], fid: str) -> dict[str, Any]:
    r = await client.get(f"{URL}/{fid}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_bulk_transfer_answers_each_item_on_its_own(
    client: AsyncClient, login: Login
) -> None:
    dispatcher, inspector = await login("dispatcher"), await login("inspector")
    one, stale, own_unit = [(await post(client, inspector))["id"] for _ in range(3)]
    missing = str(uuid.uuid4())
    results = await bulk(
        client,
        dispatcher,
        action="transfer",
        unit="shinan.cgj",
        note="井盖类问题统一转城管局",
        items=[
            {"id": one},
            {"id": stale, "expected_version": 7},
            {"id": missing},
            {"id": "not-a-uuid"},
            {"id": own_unit, "unit": "nosuch.unit"},
        ],
    )
    assert [(r["id"], r["outcome"]) for r in results] == [
        (one, "done"),
        (stale, "refused"),
        (missing, "refused"),
        (None, "invalid"),
        (own_unit, "refused"),
    ]
    assert results[0]["finding"]["responsible_unit"]["code"] == "shinan.cgj"
    assert results[0]["problem"] is None
    assert [r["problem"]["status"] for r in results[1:]] == [409, 404, 422, 422]
    assert results[1]["problem"]["errors"][0]["field"] == "items[1].expected_version"
    assert results[3]["problem"]["errors"][0]["field"] == "items[3].id"
    assert results[4]["problem"]["errors"][0]["field"] == "items[4].unit"
    # The refused ones are as they were; the one done is on its trail once.
    for fid in (stale, own_unit):
        kept = await finding(client, dispatcher, fid)
        assert (kept["responsible_unit"]["code"], kept["version"]) == ("shinan.badaguan", 1)
    trail = (await client.get(f"{URL}/{one}/events", headers=dispatcher)).json()["items"]
    assert [e["action"] for e in trail].count("transfer") == 1
    assert trail[-1]["payload"]["note"] == "井盖类问题统一转城管局"


async def test_bulk_dispatch_approve_and_close_invalid(client: AsyncClient, login: Login) -> None:
    dispatcher, inspector = await login("dispatcher"), await login("inspector")
    street = await login("handler.shinan.badaguan")
    ids = [(await post(client, inspector))["id"] for _ in range(4)]
    for fid in ids[:3]:
        await act(client, street, fid, "return", note="非本街道职责")
    # Approve three returns in one go; the fourth never asked.
    results = await bulk(
        client, dispatcher, action="approve_return", items=[{"id": fid} for fid in ids]
    )
    assert [r["outcome"] for r in results] == ["done", "done", "done", "refused"]
    assert results[3]["problem"]["status"] == 409
    # Back in the queue: dispatch two, each to its own unit; one without a unit is refused.
    results = await bulk(
        client,
        dispatcher,
        action="dispatch",
        items=[
            {"id": ids[0], "unit": "shinan.cgj"},
            {"id": ids[1], "unit": "shinan.badaguan", "expected_version": 3},
            {"id": ids[2]},
        ],
    )
    assert [r["outcome"] for r in results] == ["done", "done", "refused"]
    assert results[0]["finding"]["responsible_unit"]["code"] == "shinan.cgj"
    assert results[1]["finding"]["status"] == "assigned"
    assert results[2]["problem"]["errors"][0]["field"] == "items[2].unit"
    # Close invalid needs a note: the item without one (and no shared note) is refused.
    results = await bulk(
        client,
        dispatcher,
        action="close_invalid",
        items=[{"id": ids[2], "note": "误报"}, {"id": ids[3]}],
    )
    assert [r["outcome"] for r in results] == ["done", "refused"]
    assert results[0]["finding"]["close_reason"] == "invalid"
    assert results[1]["problem"]["errors"][0]["field"] == "items[1].note"
    assert (await finding(client, dispatcher, ids[3]))["status"] == "assigned"


async def test_bulk_approve_extensions(client: AsyncClient, login: Login) -> None:
    dispatcher, inspector = await login("dispatcher"), await login("inspector")
    street = await login("handler.shinan.badaguan")
    asked, not_asked = [await post(client, inspector) for _ in range(2)]
    r = await act(
        client,
        street,
        asked["id"],
        "request_extension",
        due_at="2099-12-31T17:30:00+08:00",
        note="需协调产权单位",
    )
    assert r.status_code == 200, r.text
    results = await bulk(
        client,
        dispatcher,
        action="approve_extension",
        items=[{"id": asked["id"]}, {"id": not_asked["id"]}],
    )
    assert [r["outcome"] for r in results] == ["done", "refused"]
    assert results[0]["finding"]["due_at"].startswith("2099-12-31T17:30:00")
    assert results[0]["finding"]["extension"]["count"] == 1


async def test_the_limit_is_500_items_and_the_role_is_the_actions(
    client: AsyncClient, login: Login
) -> None:
    dispatcher = await login("dispatcher")
    over = {"action": "close_invalid", "note": "x", "items": [{"id": str(uuid.uuid4())}] * 501}
    problem = assert_problem(await client.post(BULK, json=over, headers=dispatcher), 422)
    assert problem["detail"] == "A bulk action takes at most 500 findings (got 501)."
    assert problem["errors"] == [{"field": "items", "message": "at most 500 items"}]
    at_limit = {**over, "items": [{"id": str(uuid.uuid4())} for _ in range(500)]}
    results = await bulk(client, dispatcher, **at_limit)
    assert len(results) == 500
    assert {r["outcome"] for r in results} == {"refused"}  # none of them exists
    inspector = await login("inspector")
    fid = (await post(client, inspector))["id"]
    refused = await client.post(
        BULK,
        json={"action": "close_invalid", "note": "x", "items": [{"id": fid}]},
        headers=inspector,
    )
    assert_problem(refused, 403)
    assert (await finding(client, dispatcher, fid))["status"] == "assigned"
    assert_problem(
        await client.post(
            BULK, json={"action": "verify", "items": [{"id": fid}]}, headers=dispatcher
        ),
        422,
    )
    assert_problem(await client.get(BULK, headers=dispatcher), 405)
