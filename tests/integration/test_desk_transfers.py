"""The dispatcher's screens for transfers, returns and bulk actions (server side): return
requests on the desk with the unit's reason, approved, refused or transferred from there
(with co-handling units); a transfer from the finding's page; approve and close invalid on
the ticked rows, each row standing alone. Each action is checked in the database."""

from __future__ import annotations

import re

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import Login, act, finding_row, form_of, post, sql_rows, ui_login

DESK = "/ui/desk/dispatch"


def section(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}".*?</ul>', html, re.DOTALL)
    assert match, f"no {testid}"
    return match.group(0)


def row(html: str, fid: str) -> str:
    match = re.search(rf'<li class="card task" data-finding="{fid}">.*?</li>', html, re.DOTALL)
    assert match, f"no row for {fid}"
    return match.group(0)


async def asked(client: AsyncClient, login: Login, reason: str) -> str:
    """A finding of 八大关 whose street asked to return it."""
    fid = str((await post(client, await login("inspector")))["id"])
    r = await act(client, await login("handler.shinan.badaguan"), fid, "return", note=reason)
    assert r.status_code == 200, r.text
    return fid


async def co_units(factory: async_sessionmaker[AsyncSession], fid: str) -> list[str]:
    rows = await sql_rows(
        factory,
        "SELECT u.code FROM finding_co_units c JOIN units u ON u.id = c.unit_id "
        "WHERE c.finding_id = :f ORDER BY u.code",
        f=fid,
    )
    return [r[0] for r in rows]


async def test_return_requests_are_approved_refused_or_transferred_on_the_desk(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    approve = await asked(client, login, "属市政设施")
    deny = await asked(client, login, "不归我们管")
    move = await asked(client, login, "应由城管局处理")
    await ui_login(client, "dispatcher")
    page = await client.get(DESK)
    requests = section(page.text, "return-requests")
    assert "属市政设施" in row(requests, approve)  # the street's reason, for the decision
    r = await client.post(
        "/ui/desk/act", data=form_of(row(requests, approve), 'value="approve_return"')
    )
    assert r.status_code == 303
    assert (await finding_row(factory, approve))["status"] == "reported"

    refuse = form_of(row(requests, deny), 'value="deny_return"')
    assert (await client.post("/ui/desk/act", data=refuse)).status_code == 422  # needs a reason
    r = await client.post("/ui/desk/act", data=refuse | {"note": "属街道职责"})
    assert r.status_code == 303
    kept = await finding_row(factory, deny)
    assert (kept["status"], kept["return_requested_at"]) == ("assigned", None)

    transfer = form_of(row(requests, move), 'value="transfer"')
    r = await client.post(
        "/ui/desk/act",
        data=transfer
        | {"unit": "shinan.cgj", "co_units": ["shinan.badaguan"], "note": "转城管局牵头"},
    )
    assert r.status_code == 303
    moved = await finding_row(factory, move)
    assert (moved["status"], moved["return_requested_at"]) == ("assigned", None)
    assert await co_units(factory, move) == ["shinan.badaguan"]
    # All three decided: none waits any more.
    assert 'data-testid="return-requests"' not in (await client.get(DESK)).text


async def test_a_dispatcher_transfers_from_the_findings_page(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    fid = str((await post(client, await login("inspector")))["id"])
    await act(client, await login("handler.shinan.badaguan"), fid, "accept")
    await ui_login(client, "supervisor")
    assert 'data-testid="transfer"' not in (await client.get(f"/ui/findings/{fid}")).text
    await ui_login(client, "dispatcher")
    page = await client.get(f"/ui/findings/{fid}")
    assert 'data-testid="transfer"' in page.text
    form = form_of(page.text, 'value="transfer"')
    r = await client.post(
        "/ui/desk/act",
        data=form | {"unit": "shinan.cgj", "co_units": ["shinan.badaguan"], "note": "转办"},
    )
    assert r.status_code == 303
    assert (await finding_row(factory, fid))["status"] == "assigned"
    page = await client.get(f"/ui/findings/{fid}")
    assert "八大关" in re.search(r'data-testid="co-units">(.*?)</dd>', page.text).group(1)  # type: ignore[union-attr]


async def test_bulk_approve_and_close_invalid_on_the_ticked_rows(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    one = await asked(client, login, "第一处")
    two = await asked(client, login, "第二处")
    left = await asked(client, login, "未勾选")
    await ui_login(client, "dispatcher")
    page = await client.get(DESK)
    data: dict[str, object] = form_of(page.text, 'id="bulk-returns"') | {
        "bulk_action": "approve_return",
        "pick": [one, two],
    }
    for fid in (one, two, left):
        data[f"version:{fid}"] = str((await finding_row(factory, fid))["version"])
    r = await client.post("/ui/desk/bulk", data=data)
    assert r.status_code == 303
    statuses = [(await finding_row(factory, f))["status"] for f in (one, two, left)]
    assert statuses == ["reported", "reported", "assigned"]

    # Now both are in the queue: close them as invalid together; without a note, neither.
    page = await client.get(DESK)
    bulk = form_of(page.text, 'id="bulk"') | {"bulk_action": "close_invalid", "pick": [one, two]}
    refused = await client.post("/ui/desk/bulk", data=bulk)
    assert refused.status_code == 422
    assert one in section(refused.text, "refusals")
    assert (await finding_row(factory, one))["status"] == "reported"
    r = await client.post("/ui/desk/bulk", data=bulk | {"note": "测试数据"})
    assert r.status_code == 303
    closed = [(await finding_row(factory, f))["close_reason"] for f in (one, two)]
    assert closed == ["invalid", "invalid"]
    # Only the dispatcher's bulk actions, only with the session's CSRF token.
    assert (await client.post("/ui/desk/bulk", data=bulk | {"csrf": "x"})).status_code == 403
    assert (
        await client.post("/ui/desk/bulk", data=bulk | {"bulk_action": "verify"})
    ).status_code == 404
