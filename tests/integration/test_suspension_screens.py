"""The screens of the extended lifecycle: the dispatcher's desk approves, refuses and resumes
suspensions (挂账); the finding's page shows the suspension and the sign-for deadline's red
light (签收超时). Each action is checked in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import Login, act, finding_row, form_of, post, set_clock, ui_login

HANDLER = "handler.shinan.badaguan"


async def asked(client: AsyncClient, login: Login, reason: str, note: str) -> str:
    f = await post(client, await login("inspector"))
    until = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    r = await act(
        client, await login(HANDLER), f["id"], "request_suspension", note=note, reason=reason,
        resume_at=until,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return str(f["id"])


def section(html: str, testid: str) -> str:
    """The part of the desk from the list `testid` up to the next heading."""
    return html.split(f'data-testid="{testid}"')[1].split("<h2", maxsplit=1)[0]


async def test_the_dispatch_desk_approves_refuses_and_resumes_suspensions(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    approve_me = await asked(client, login, "planning_approval", "待规划审批")
    refuse_me = await asked(client, login, "seasonal", "冬季无法施工")
    await ui_login(client, "dispatcher")
    page = (await client.get("/ui/desk/dispatch")).text
    requests = section(page, "suspension-requests")
    assert "需规划审批" in requests
    assert "待规划审批" in requests
    assert approve_me in requests
    assert refuse_me in requests

    approve = form_of(
        requests.split(f'data-finding="{approve_me}"')[1], 'value="approve_suspension"'
    )
    assert (await client.post("/ui/desk/act", data=approve)).status_code == 303
    assert (await finding_row(factory, approve_me))["status"] == "suspended"

    page = (await client.get("/ui/desk/dispatch")).text
    refuse = form_of(section(page, "suspension-requests"), 'value="refuse_suspension"')
    # Refusing needs a note: without one nothing changes.
    assert (await client.post("/ui/desk/act", data=refuse)).status_code == 422
    r = await client.post("/ui/desk/act", data={**refuse, "note": "请先行整改"})
    assert r.status_code == 303
    assert (await finding_row(factory, refuse_me))["status"] == "assigned"

    page = (await client.get("/ui/desk/dispatch")).text
    suspended = section(page, "suspended")
    assert approve_me in suspended
    finding_page = (await client.get(f"/ui/findings/{approve_me}")).text
    assert "挂账中" in finding_page
    assert "待规划审批" in finding_page
    resume = form_of(suspended, 'value="resume"')
    assert (await client.post("/ui/desk/act", data=resume)).status_code == 303
    assert (await finding_row(factory, approve_me))["status"] == "assigned"
    # Nothing suspended or asked any more: both lists are empty.
    page = (await client.get("/ui/desk/dispatch")).text
    assert 'data-testid="suspended"' not in page
    assert 'data-testid="suspension-requests"' not in page


async def test_the_findings_page_shows_the_sign_for_deadline_and_its_red_light(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    r = await client.patch(
        "/api/v1/categories/exposed_garbage",
        json={"accept_within": {"duration": "PT2H"}},
        headers=await login("admin"),
    )
    assert r.status_code == 200, r.text
    f = await post(client, await login("inspector"))
    await ui_login(client, "supervisor")
    fresh = (await client.get(f"/ui/findings/{f['id']}")).text
    assert 'data-testid="sign-for"' in fresh
    assert 'data-light="sign-for-red"' not in fresh
    dispatched = datetime.now(UTC) - timedelta(hours=3)
    await set_clock(factory, f["id"], dispatched=dispatched, due=dispatched + timedelta(days=2))
    late = (await client.get(f"/ui/findings/{f['id']}")).text
    assert 'data-light="sign-for-red"' in late
    assert "签收超时" in late
