"""Transfers (转办), returns with the dispatcher's approval (回退) and co-handling units
(协办), through the API: what each party may do, what the finding and its trail say, and that
every transfer and return is counted against the unit that caused it in /stats/units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import AsyncClient

from tests.helpers import URL, Login, act, post

STATS = "/api/v1/stats/units"


async def handoffs(client: AsyncClient, login: Login, level: str, code: str) -> tuple[int, int]:
    r = await client.get(STATS, params={"level": level}, headers=await login("supervisor"))
    assert r.status_code == 200, r.text
    (line,) = [u for u in r.json()["items"] if u["unit"]["code"] == code]
    return line["transfers"], line["returns"]


async def events(client: AsyncClient, headers: dict[str, str], fid: str) -> list[Any]:
    r = await client.get(f"{URL}/{fid}/events", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_return_waits_for_the_dispatcher_and_counts_against_the_unit(
    client: AsyncClient, login: Login
) -> None:
    dispatcher, street = await login("dispatcher"), await login("handler.shinan.badaguan")
    f = await post(client, await login("inspector"))
    fid = f["id"]
    assert (await act(client, street, fid, "accept")).status_code == 200
    assert (await act(client, street, fid, "return")).status_code == 422  # a reason is required
    r = await act(client, street, fid, "return", note="属市政设施，应由城管局处理")
    assert r.status_code == 200, r.text
    asked = r.json()
    # Only asked: the street still holds it, and its clock still runs.
    assert asked["status"] == "accepted"
    assert asked["responsible_unit"]["code"] == "shinan.badaguan"
    assert asked["due_at"] == f["due_at"]
    assert asked["return_requested_at"] is not None
    assert (await act(client, street, fid, "return", note="再次")).status_code == 409
    # Only the dispatcher decides; refusing needs a reason and leaves the item with the street.
    assert (await act(client, street, fid, "approve_return")).status_code == 403
    assert (await act(client, dispatcher, fid, "deny_return")).status_code == 422
    r = await act(client, dispatcher, fid, "deny_return", note="占道垃圾属街道职责")
    assert r.json()["status"] == "accepted"
    assert r.json()["return_requested_at"] is None
    assert (await act(client, dispatcher, fid, "approve_return")).status_code == 409
    assert await handoffs(client, login, "street", "shinan.badaguan") == (0, 0)

    await act(client, street, fid, "return", note="确属城管局")
    r = await act(client, dispatcher, fid, "approve_return", note="同意退回")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reported"
    assert r.json()["responsible_unit"] is None
    assert r.json()["due_at"] is None
    trail = await events(client, dispatcher, fid)
    assert [e["action"] for e in trail][-4:] == [
        "return",
        "deny_return",
        "return",
        "approve_return",
    ]
    approved = trail[-1]["payload"]
    assert approved["returned_by_unit"] == "shinan.badaguan"
    assert approved["reason"] == "确属城管局"
    # Counted once, against the street and the district it lies in; not as a transfer.
    assert await handoffs(client, login, "street", "shinan.badaguan") == (0, 1)
    assert await handoffs(client, login, "district", "shinan") == (0, 1)
    assert await handoffs(client, login, "district", "licang") == (0, 0)
    # Back in the queue, no unit holds it: it is dispatched, not transferred.
    queued = await act(client, dispatcher, fid, "transfer", unit="shinan.cgj", note="转城管局")
    assert queued.status_code == 409


async def test_a_transfer_moves_the_item_and_counts_against_the_unit_it_left(
    client: AsyncClient, login: Login
) -> None:
    dispatcher = await login("dispatcher")
    street, bureau = await login("handler.shinan.badaguan"), await login("handler.shinan.cgj")
    f = await post(client, await login("inspector"))
    fid = f["id"]
    await act(client, street, fid, "accept")
    # A reason, another unit, and the dispatcher's role are required.
    assert (await act(client, dispatcher, fid, "transfer", unit="shinan.cgj")).status_code == 422
    same = await act(client, dispatcher, fid, "transfer", unit="shinan.badaguan", note="x")
    assert same.status_code == 422
    assert (
        await act(client, street, fid, "transfer", unit="shinan.cgj", note="x")
    ).status_code == 403
    r = await act(
        client,
        dispatcher,
        fid,
        "transfer",
        unit="shinan.cgj",
        note="井盖缺失属城管局",
        expected_version=2,
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["status"] == "assigned"  # the bureau signs for it anew
    assert moved["responsible_unit"]["code"] == "shinan.cgj"
    assert datetime.fromisoformat(moved["dispatched_at"]) > datetime.fromisoformat(
        f["dispatched_at"]
    )
    assert moved["version"] == 3
    # The street no longer holds it; the bureau does.
    assert (await act(client, street, fid, "submit")).status_code == 403
    assert (await act(client, bureau, fid, "accept")).status_code == 200
    transfer = (await events(client, dispatcher, fid))[-2]
    assert transfer["action"] == "transfer"
    assert transfer["from_status"] == "accepted"
    assert transfer["payload"]["from_unit"] == "shinan.badaguan"
    assert transfer["payload"]["unit"] == "shinan.cgj"
    assert transfer["payload"]["note"] == "井盖缺失属城管局"
    assert await handoffs(client, login, "street", "shinan.badaguan") == (1, 0)
    assert await handoffs(client, login, "department", "shinan.cgj") == (0, 0)


async def test_a_transfer_grants_a_pending_return_and_counts_it_as_the_return(
    client: AsyncClient, login: Login
) -> None:
    dispatcher, street = await login("dispatcher"), await login("handler.shinan.badaguan")
    fid = (await post(client, await login("inspector")))["id"]
    await act(client, street, fid, "return", note="应由城管局处理")
    r = await act(client, dispatcher, fid, "transfer", unit="shinan.cgj", note="同意，转城管局")
    assert r.status_code == 200, r.text
    assert r.json()["return_requested_at"] is None
    payload = (await events(client, dispatcher, fid))[-1]["payload"]
    assert payload["returned_by_unit"] == "shinan.badaguan"
    assert payload["reason"] == "应由城管局处理"
    assert await handoffs(client, login, "street", "shinan.badaguan") == (0, 1)


async def test_co_handling_units_see_the_finding_and_add_progress_only_the_lead_submits(
    client: AsyncClient, login: Login
) -> None:
    dispatcher, street = await login("dispatcher"), await login("handler.shinan.badaguan")
    bureau, outsider = await login("handler.shinan.cgj"), await login("handler.licang.xiaocun")
    fid = (await post(client, await login("inspector")))["id"]
    # Before it co-handles, the bureau cannot see the street's finding at all.
    assert (await client.get(f"{URL}/{fid}", headers=bureau)).status_code == 404
    assert (await act(client, bureau, fid, "progress", note="x")).status_code == 404
    r = await act(
        client, dispatcher, fid, "transfer", unit="shinan.badaguan", note="x", co_units=["x"]
    )
    assert r.status_code == 422  # the street already holds it
    bad = await act(
        client, dispatcher, fid, "transfer", unit="shinan.cgj", note="x", co_units=["shinan.cgj"]
    )
    assert bad.status_code == 422  # the lead does not co-handle its own finding
    assert bad.json()["errors"][0]["field"] == "co_units"
    # Moved to the bureau with the street co-handling; then back, with the bureau co-handling.
    await act(client, dispatcher, fid, "transfer", unit="shinan.cgj", note="城管牵头")
    r = await act(
        client,
        dispatcher,
        fid,
        "transfer",
        unit="shinan.badaguan",
        note="街道牵头，城管局协办",
        co_units=["shinan.cgj"],
    )
    assert r.status_code == 200, r.text
    assert [u["code"] for u in r.json()["co_units"]] == ["shinan.cgj"]
    # The co-handling unit sees it (one finding, its list, its trail), the outsider still not.
    seen = await client.get(f"{URL}/{fid}", headers=bureau)
    assert seen.status_code == 200
    assert seen.json()["responsible_unit"]["code"] == "shinan.badaguan"
    listed = await client.get(URL, params={"limit": 500}, headers=bureau)
    assert fid in [f["id"] for f in listed.json()["items"]]
    assert (await client.get(f"{URL}/{fid}/events", headers=bureau)).status_code == 200
    assert (await client.get(f"{URL}/{fid}", headers=outsider)).status_code == 404
    outside = await client.get(URL, params={"limit": 500}, headers=outsider)
    assert fid not in [f["id"] for f in outside.json()["items"]]
    assert (await act(client, outsider, fid, "progress", note="x")).status_code == 404
    # It adds progress, the lead accepts and submits: the co-handling unit may not.
    r = await act(client, bureau, fid, "progress", note="已安排人员清运")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned"
    assert (await act(client, bureau, fid, "progress")).status_code == 422
    for action in ("accept", "return", "request_extension"):
        refused = await act(
            client, bureau, fid, action, note="x", due_at="2100-01-01T00:00:00+08:00"
        )
        assert refused.status_code == 403, action
    assert (await act(client, street, fid, "accept")).status_code == 200
    assert (await act(client, street, fid, "progress", note="街道已清理一半")).status_code == 200
    assert (await act(client, bureau, fid, "submit")).status_code == 403
    progress = [e for e in await events(client, street, fid) if e["action"] == "progress"]
    assert [(e["actor"], e["payload"]["note"]) for e in progress] == [
        ("handler.shinan.cgj", "已安排人员清运"),
        ("handler.shinan.badaguan", "街道已清理一半"),
    ]
    # Taken off the list, the bureau no longer sees it.
    await act(
        client, dispatcher, fid, "transfer", unit="shinan.cgj", note="改由城管局", co_units=[]
    )
    await act(
        client, dispatcher, fid, "transfer", unit="shinan.badaguan", note="回街道", co_units=[]
    )
    assert (await client.get(f"{URL}/{fid}", headers=bureau)).status_code == 404
