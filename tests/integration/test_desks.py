"""The work desks, server side: the dispatcher's queue (routing suggestion, bulk dispatch,
duplicates, invalid, extensions), the verifier's submissions (no buttons on one's own
unit's), the leader's escalations with the 批示 form. Each action is checked in the
database, as the API's transitions would leave it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.desks.rules import suggestion
from services.core.platform.settings import Settings
from services.core.reference.snapshot import load_reference
from tests.helpers import (
    Login,
    act,
    add_account,
    csrf_of,
    escalations_of,
    finding_row,
    form_of,
    make_overdue,
    post,
    sweep,
    ui_login,
)
from tests.photos import attach_after_photo, make_jpeg, upload


async def returned(client: AsyncClient, login: Login, **over: object) -> str:
    """A report in 八大关 returned to the queue (refused by the district, the return approved by
    the dispatcher), with its note."""
    f = await post(client, await login("inspector"), **over)
    street = await login("handler.shinan")
    r = await act(client, street, f["id"], "return", note="不属于本街道")
    assert r.status_code == 200, r.text
    r = await act(client, await login("dispatcher"), f["id"], "approve_return")
    assert r.status_code == 200, r.text
    return str(f["id"])


def card(html: str, fid: str) -> str:
    match = re.search(rf'<li class="card task" data-finding="{fid}">.*?</li>\s*(?=<li class|</ul>)',
                      html, re.DOTALL)  # fmt: skip
    assert match, f"no card for {fid}"
    return match.group(0)


async def test_the_queue_shows_why_and_the_suggestion_and_dispatches(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    fid = await returned(client, login)
    await ui_login(client, "dispatcher")
    page = await client.get("/ui/desk/dispatch")
    assert page.status_code == 200
    row = card(page.text, fid)
    assert "不属于本街道" in row  # the unit's reason for returning it
    # the routing rule's unit for garbage at 八大关 is preselected as the suggestion
    assert re.search(r'<option value="shinan.badaguan" selected>[^<]*建议', row)
    form = form_of(page.text, 'id="bulk"')
    r = await client.post(
        "/ui/desk/dispatch",
        data={
            "csrf": form["csrf"],
            "only": fid,
            f"unit:{fid}": "shinan.zhanshan",
            f"version:{fid}": str((await finding_row(factory, fid))["version"]),
        },
    )
    assert r.status_code == 303, r.text
    done = await client.get(r.headers["location"])
    assert "已派单" in done.text
    assert f'data-finding="{fid}"' not in done.text
    row_now = await finding_row(factory, fid)
    assert row_now["status"] == "assigned"
    trail = await client.get(f"/api/v1/findings/{fid}/events")
    assert trail.json()["items"][-1]["payload"]["unit"] == "shinan.zhanshan"


async def test_bulk_dispatch_sends_each_ticked_row_and_reports_refusals(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    one = await returned(client, login, description="第一处")
    two = await returned(client, login, description="第二处")
    stale = await returned(client, login, description="第三处")
    left = await returned(client, login, description="未勾选")
    await ui_login(client, "dispatcher")
    page = await client.get("/ui/desk/dispatch")
    csrf = form_of(page.text, 'id="bulk"')["csrf"]
    data: dict[str, object] = {"csrf": csrf, "pick": [one, two, stale]}
    for fid in (one, two, stale, left):
        data[f"unit:{fid}"] = "shinan.badaguan"
        data[f"version:{fid}"] = str((await finding_row(factory, fid))["version"])
    data[f"version:{stale}"] = "1"  # the desk showed an older version: refused, not overwritten
    r = await client.post("/ui/desk/dispatch", data=data)
    assert r.status_code == 422
    assert stale in re.search(r'data-testid="refusals".*?</ul>', r.text, re.DOTALL).group(0)  # type: ignore[union-attr]
    statuses = [(await finding_row(factory, f))["status"] for f in (one, two, stale, left)]
    assert statuses == ["assigned", "assigned", "reported", "reported"]


async def test_mark_duplicate_from_the_candidates_and_close_invalid_needs_a_note(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    original = await post(client, await login("inspector"), description="原报告")
    dup = await returned(client, login, description="同一处垃圾")
    junk = await returned(client, login, description="误报", category="damaged_road")
    await ui_login(client, "dispatcher")
    page = await client.get("/ui/desk/dispatch")
    row = card(page.text, dup)
    assert f"/ui/findings/{original['id']}" in row  # the candidate, with the small map
    assert 'class="minimap"' in row
    dup_form = form_of(row, 'name="duplicate_of"')
    assert dup_form["duplicate_of"] == original["id"]
    r = await client.post("/ui/desk/act", data=dup_form)
    assert r.status_code == 303
    marked = await finding_row(factory, dup)
    assert (marked["status"], str(marked["duplicate_of"])) == ("closed", original["id"])

    page = await client.get("/ui/desk/dispatch")
    invalid = form_of(card(page.text, junk), 'value="close_invalid"')
    refused = await client.post("/ui/desk/act", data=invalid)
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert (await finding_row(factory, junk))["status"] == "reported"
    r = await client.post("/ui/desk/act", data=invalid | {"note": "重复录入的测试数据"})
    assert r.status_code == 303
    assert (await finding_row(factory, junk))["close_reason"] == "invalid"


async def test_extension_requests_are_approved_on_the_desk(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    f = await post(client, await login("inspector"))
    street = await login("handler.shinan.badaguan")
    until = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    r = await act(
        client,
        street,
        f["id"],
        "request_extension",
        note="需协调产权单位",
        due_at=until.isoformat(),
    )
    assert r.status_code == 200, r.text
    await ui_login(client, "dispatcher")
    page = await client.get("/ui/desk/dispatch")
    section = page.text.split('data-testid="extensions"')[1]
    approve = form_of(section, 'value="approve_extension"')
    r = await client.post("/ui/desk/act", data=approve)
    assert r.status_code == 303
    row = await finding_row(factory, f["id"])
    assert row["due_at"] == until
    assert row["extension_requested_until"] is None


async def test_forms_without_the_csrf_token_change_nothing(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    fid = await returned(client, login)
    await ui_login(client, "dispatcher")
    r = await client.post("/ui/desk/dispatch", data={"only": fid, f"unit:{fid}": "shinan.badaguan"})
    assert r.status_code == 403
    r = await client.post(
        "/ui/desk/act", data={"finding": fid, "action": "close_invalid", "note": "x"}
    )
    assert r.status_code == 403
    assert (await finding_row(factory, fid))["status"] == "reported"


async def test_each_desk_is_for_its_role(client: AsyncClient) -> None:
    await ui_login(client, "handler.shinan")
    for desk in ("dispatch", "verify"):
        assert (await client.get(f"/ui/desk/{desk}")).status_code == 404
    await ui_login(client, "verifier")
    assert (await client.get("/ui/desk/dispatch")).status_code == 404
    assert (await client.get("/ui/desk/verify")).status_code == 200


async def submitted(client: AsyncClient, login: Login, **over: object) -> str:
    inspector = await login("inspector")
    f = await post(client, inspector, **over)
    assert (await upload(client, inspector, f["id"], make_jpeg(), kind="before")).status_code == 201
    street = await login("handler.shinan.badaguan")
    assert (await act(client, street, f["id"], "accept")).status_code == 200
    await attach_after_photo(client, street, f["id"])
    assert (await act(client, street, f["id"], "submit", note="已清运")).status_code == 200
    return str(f["id"])


async def test_the_verifier_compares_photos_rejects_with_a_note_then_verifies(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    first = await submitted(client, login, description="先提交的")
    later = await submitted(client, login, description="后提交的")
    await ui_login(client, "verifier")
    page = await client.get("/ui/desk/verify")
    assert page.status_code == 200
    assert page.text.index(first) < page.text.index(later)  # oldest first
    row = card(page.text, first)
    assert row.count("/api/v1/evidence/") == 2  # before and after, side by side
    assert 'data-testid="flags"' in row
    reject = form_of(row, 'value="reject"')
    refused = await client.post("/ui/desk/act", data=reject)
    assert refused.status_code == 422  # a rejection needs a note
    r = await client.post("/ui/desk/act", data=reject | {"note": "仍有垃圾残留"})
    assert r.status_code == 303
    row_now = await finding_row(factory, first)
    assert (row_now["status"], row_now["rework_count"]) == ("accepted", 1)
    verify = form_of(card((await client.get("/ui/desk/verify")).text, later), 'value="verify"')
    r = await client.post("/ui/desk/act", data=verify)
    assert r.status_code == 303
    assert (await finding_row(factory, later))["close_reason"] == "rectified"


async def test_no_buttons_on_a_submission_of_ones_own_unit(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    fid = await submitted(client, login)
    await add_account(factory, "verifier.shinan", "verifier", "shinan")
    await ui_login(client, "verifier.shinan")
    page = await client.get("/ui/desk/verify")
    row = card(page.text, fid)
    assert 'value="verify"' not in row
    assert 'value="reject"' not in row
    assert 'data-testid="not-yours"' in row
    # and a forged form is refused by the lifecycle all the same
    forged = {
        "csrf": csrf_of(page.text),
        "desk": "verify",
        "finding": fid,
        "action": "verify",
    }
    r = await client.post("/ui/desk/act", data=forged)
    assert r.status_code == 403
    assert (await finding_row(factory, fid))["status"] == "submitted"


async def test_the_leader_acknowledges_from_the_desk_and_sees_what_followed(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    f = await post(client, await login("inspector"), description="超期的垃圾")
    await make_overdue(factory, f["id"], datetime.now(UTC) - timedelta(days=6))
    await sweep(factory, settings, datetime.now(UTC))
    l2 = next(e for e in await escalations_of(factory, f["id"]) if e["level"] == 2)
    await ui_login(client, "leader.shinan")
    page = await client.get("/ui/desk/lead")
    assert page.status_code == 200
    # a district head: the district's place among the districts, its streets, its overdue
    district = page.text.split('data-testid="district"')[1].split("</section>")[0]
    assert "市南区" in district
    assert "八大关街道" in district.split('data-testid="streets"')[1]
    assert "李村街道" not in district
    assert f"/ui/findings/{f['id']}" in district.split('data-testid="district-overdue"')[1]
    level = page.text.split('data-testid="level-2"')[1]
    form = form_of(level, f"/ui/escalations/{l2['id']}/acknowledge")
    r = await client.post(
        f"/ui/escalations/{l2['id']}/acknowledge", data=form | {"instruction": "限三日内整改"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/desk/lead?done=acknowledge"
    street = await login("handler.shinan.badaguan")
    assert (await act(client, street, f["id"], "accept")).status_code == 200
    done = await client.get(r.headers["location"])
    assert "限三日内整改" in done.text
    after = done.text.split("限三日内整改")[1].split("</li>")[0]
    assert "签收整改" in after  # what happened after the 批示


async def test_a_report_outside_every_boundary_waits_with_its_reason_and_no_suggestion(
    client: AsyncClient, login: Login
) -> None:
    f = await post(
        client,
        await login("inspector"),
        unit=None,
        description="边界外的问题",
        location={"lat": 36.9, "lon": 121.9},
    )
    assert f["status"] == "reported"
    await ui_login(client, "dispatcher")
    row = card((await client.get("/ui/desk/dispatch")).text, f["id"])
    assert "位置不在任何辖区边界内" in row
    assert " selected>" not in row  # no unit preselected: the dispatcher chooses


async def test_the_desks_suggestion_is_the_routing_rules_unit_for_the_place(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        ref = await load_reference(session, 0)
    garbage = ref.category_codes["exposed_garbage"]
    road = ref.category_codes["damaged_road"]
    badaguan = ref.unit_codes["shinan.badaguan"]
    by_place = suggestion(ref, garbage.id, 0.0, 0.0, badaguan.id)
    assert by_place is not None
    assert by_place.code == "shinan.badaguan"
    # no place: the position's boundary, then the category's rule there (a facility: the bureau)
    by_position = suggestion(ref, road.id, 36.0571, 120.3466, None)
    assert by_position is not None
    assert by_position.code == "shinan.cgj"
    assert suggestion(ref, garbage.id, 10.0, 10.0, None) is None  # outside every boundary
