"""A recurrence (反弹) counts against a unit only when the earlier problem was its own, and no
answer names a finding its caller may not see: both sides of a district boundary, through the
real API and database.

The boundary: an inspector of 李沧区 reports, for a 李沧 street, a few metres from a finding
市南区 rectified. That is not 李沧's recurrence; it is recorded as a possible recurrence that
the campaign office's dispatcher sees and decides (confirm_recurrence / dismiss_recurrence).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import (
    URL,
    Login,
    act,
    add_account,
    at,
    body,
    close,
    exposure_finding,
    post,
    xlsx_text,
)

LICANG = "inspector.licang"  # an inspector of 李沧区, beyond the demo's accounts
XIAOCUN = {"lat": 36.1468, "lon": 120.4322}  # 李沧区李村街道


@pytest.fixture
async def licang(factory: async_sessionmaker[AsyncSession], login: Login) -> dict[str, str]:
    await add_account(factory, LICANG, "inspector", "licang")
    return await login(LICANG)


async def report(client: AsyncClient, headers: dict[str, str], **over: Any) -> tuple[Any, str]:
    """The answer to a report as JSON and as the text a client receives."""
    r = await client.post(URL, json=body(**over), headers=headers)
    assert r.status_code == 201, r.text
    return r.json(), r.text


async def read(client: AsyncClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    r = await client.get(f"{URL}{path}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r


async def everything_shown(client: AsyncClient, headers: dict[str, str], fid: str) -> str:
    """All a caller is shown of a finding: the finding, the list, the export, the trail."""
    one = await read(client, headers, f"/{fid}")
    page = await read(client, headers, "")
    assert fid in {f["id"] for f in page.json()["items"]}
    workbook = xlsx_text((await read(client, headers, "", format="xlsx")).content)
    assert fid in workbook
    trail = await read(client, headers, f"/{fid}/events")
    return "\n".join((one.text, page.text, workbook, trail.text))


async def recurrences(client: AsyncClient, login: Login, level: str) -> dict[str, int]:
    r = await client.get(
        "/api/v1/stats/units", params={"level": level}, headers=await login("supervisor")
    )
    assert r.status_code == 200, r.text
    return {i["unit"]["code"]: i["recurrences"] for i in r.json()["items"]}


async def test_a_report_across_the_boundary_is_no_recurrence_and_names_nothing_across_it(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    licang: dict[str, str],
) -> None:
    shinan = await post(client, await login("inspector"), location=at(lat=36.03))
    await close(factory, shinan["id"], days_ago=10)

    answer, text = await report(
        client, licang, unit="licang.xiaocun", location=at(north_m=5, lat=36.03)
    )
    assert answer["responsible_unit"]["code"] == "licang.xiaocun"
    assert answer["recurrence_of"] is None
    assert answer["possible_recurrence_of"] is None
    assert shinan["id"] not in text
    # 李沧's side: its inspector and the street's handler read the finding, the list, the
    # export and the trail; none of it names the 市南 finding, which they cannot read.
    xiaocun = await login("handler.licang.xiaocun")
    for headers in (licang, xiaocun):
        assert (await client.get(f"{URL}/{shinan['id']}", headers=headers)).status_code == 404
        shown = await everything_shown(client, headers, answer["id"])
        assert shinan["id"] not in shown
        queue = await read(client, headers, "", possible_recurrence="true")
        assert queue.json()["items"] == []
    # Nor does it count against 李沧 (nor against 市南, whose problem it is not yet).
    for level in ("district", "street"):
        assert set((await recurrences(client, login, level)).values()) == {0}

    # The campaign office's side: the dispatcher sees the possible recurrence to decide.
    dispatcher = await login("dispatcher")
    seen = (await read(client, dispatcher, f"/{answer['id']}")).json()
    assert seen["possible_recurrence_of"] == shinan["id"]
    assert seen["recurrence_of"] is None
    queue = await read(client, dispatcher, "", possible_recurrence="true")
    assert [f["id"] for f in queue.json()["items"]] == [answer["id"]]
    trail = (await read(client, dispatcher, f"/{answer['id']}/events")).json()["items"]
    assert trail[0]["action"] == "report"
    assert trail[0]["payload"]["possible_recurrence_of"] == shinan["id"]


async def test_the_dispatcher_confirms_or_dismisses_a_possible_recurrence(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    licang: dict[str, str],
) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    xiaocun = await login("handler.licang.xiaocun")
    first, second = [await post(client, inspector, location=at(lat=lat)) for lat in (36.02, 36.01)]
    for earlier in (first, second):
        await close(factory, earlier["id"], days_ago=3)
    confirmed, _ = await report(
        client, licang, unit="licang.xiaocun", location=at(north_m=4, lat=36.02)
    )
    dismissed, _ = await report(
        client, licang, unit="licang.xiaocun", location=at(north_m=4, lat=36.01)
    )

    # Only a dispatcher decides.
    for who in (licang, xiaocun, await login("supervisor")):
        r = await act(client, who, confirmed["id"], "confirm_recurrence")
        assert r.status_code in (403, 404), r.text
    r = await act(client, dispatcher, confirmed["id"], "confirm_recurrence")
    assert r.status_code == 200, r.text
    assert r.json()["recurrence_of"] == first["id"]
    assert r.json()["possible_recurrence_of"] is None
    # Now it counts against the unit responsible, by the dispatcher's decision...
    assert (await recurrences(client, login, "street"))["licang.xiaocun"] == 1
    assert (await recurrences(client, login, "district"))["licang"] == 1
    exported = xlsx_text((await read(client, dispatcher, "", format="xlsx")).content)
    assert first["id"] in exported
    # ... and still names nothing of 市南 to 李沧.
    for headers in (licang, xiaocun):
        assert (await read(client, headers, f"/{confirmed['id']}")).json()["recurrence_of"] is None
        assert first["id"] not in await everything_shown(client, headers, confirmed["id"])

    r = await act(client, dispatcher, dismissed["id"], "dismiss_recurrence", note="不是同一问题")
    assert r.status_code == 200, r.text
    assert (r.json()["recurrence_of"], r.json()["possible_recurrence_of"]) == (None, None)
    assert (await recurrences(client, login, "street"))["licang.xiaocun"] == 1
    trail = (await read(client, dispatcher, f"/{dismissed['id']}/events")).json()["items"]
    assert trail[-1]["action"] == "dismiss_recurrence"
    assert trail[-1]["payload"]["possible_recurrence_of"] == second["id"]
    assert second["id"] not in await everything_shown(client, licang, dismissed["id"])
    # Decided once: nothing is pending any more.
    again = await act(client, dispatcher, dismissed["id"], "confirm_recurrence")
    assert again.status_code == 409, again.text
    queue = await read(client, dispatcher, "", possible_recurrence="true")
    assert queue.json()["items"] == []


async def test_a_report_near_the_units_own_rectified_finding_is_its_recurrence(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    licang: dict[str, str],
) -> None:
    own = await post(client, licang, unit="licang.xiaocun", location=at(lat=XIAOCUN["lat"]))
    await close(factory, own["id"], days_ago=10)
    # 市南 rectified a problem at the same spot more recently: the unit's own one still wins.
    other = await post(client, await login("inspector"), location=at(east_m=3, lat=XIAOCUN["lat"]))
    assert other["responsible_unit"]["code"] == "shinan.badaguan"
    await close(factory, other["id"], days_ago=2)

    again, _ = await report(
        client, licang, unit="licang.xiaocun", location=at(north_m=5, lat=XIAOCUN["lat"])
    )
    assert again["recurrence_of"] == own["id"]
    assert again["possible_recurrence_of"] is None
    assert (await recurrences(client, login, "street"))["licang.xiaocun"] == 1
    assert (await recurrences(client, login, "district"))["licang"] == 1
    trail = (await read(client, licang, f"/{again['id']}/events")).json()["items"]
    assert trail[0]["payload"]["recurrence_of"] == own["id"]
    assert other["id"] not in await everything_shown(client, licang, again["id"])


async def test_a_recurrence_names_its_original_only_to_those_who_may_see_it(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    # Roads belong to the district's city-management bureau whichever street they run through.
    earlier = await post(
        client, await login("inspector"), category="damaged_road", unit="shinan.zhanshan"
    )
    assert earlier["responsible_unit"]["code"] == "shinan.cgj"
    await close(factory, earlier["id"], days_ago=5)
    # A street's own inspector: the road in 湛山 is outside their 八大关.
    await add_account(factory, "inspector.badaguan", "inspector", "shinan.badaguan")
    street = await login("inspector.badaguan")
    sent = body(category="damaged_road", location=at(north_m=3))
    r = await client.post(URL, json=sent, headers=street)
    assert r.status_code == 201, r.text
    again = r.json()
    # The bureau's own problem came back: its recurrence, counted against it...
    assert (await recurrences(client, login, "department"))["shinan.cgj"] == 1
    bureau = await login("handler.shinan.cgj")
    assert (await read(client, bureau, f"/{again['id']}")).json()["recurrence_of"] == earlier["id"]
    # ... which the street's inspector is not shown, not even in the replay of the report.
    assert earlier["id"] not in r.text
    replay = await client.post(URL, json=sent, headers=street)
    assert replay.status_code == 200, replay.text
    assert earlier["id"] not in replay.text
    assert earlier["id"] not in await everything_shown(client, street, again["id"])


async def test_dispatching_from_the_queue_decides_by_the_unit(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    # "other" has no routing rule: every report waits in the dispatch queue.
    original = await post(client, inspector, category="other", location=at(lat=36.0))
    r = await act(client, dispatcher, original["id"], "dispatch", unit="shinan.badaguan")
    assert r.status_code == 200, r.text
    await close(factory, original["id"], days_ago=4)

    queued = [
        await post(client, inspector, category="other", location=at(north_m=n, lat=36.0))
        for n in (3, 6)
    ]
    for f in queued:
        seen = (await read(client, dispatcher, f"/{f['id']}")).json()
        assert (seen["status"], seen["possible_recurrence_of"]) == ("reported", original["id"])
        # No unit yet to count it against.
        r = await act(client, dispatcher, f["id"], "confirm_recurrence")
        assert r.status_code == 409, r.text
    elsewhere, same = queued
    r = await act(client, dispatcher, elsewhere["id"], "dispatch", unit="licang.xiaocun")
    assert r.status_code == 200, r.text
    assert (r.json()["recurrence_of"], r.json()["possible_recurrence_of"]) == (
        None,
        original["id"],
    )
    r = await act(client, dispatcher, same["id"], "dispatch", unit="shinan.badaguan")
    assert r.status_code == 200, r.text
    assert (r.json()["recurrence_of"], r.json()["possible_recurrence_of"]) == (
        original["id"],
        None,
    )
    counted = await recurrences(client, login, "street")
    assert (counted["shinan.badaguan"], counted["licang.xiaocun"]) == (1, 0)


async def test_a_duplicate_across_the_boundary_is_named_to_neither_side(
    client: AsyncClient, login: Login, licang: dict[str, str]
) -> None:
    original = await post(client, await login("inspector"), location=at(lat=36.04))
    copy, _ = await report(client, licang, unit="licang.xiaocun", location=at(north_m=2, lat=36.04))
    dispatcher = await login("dispatcher")
    r = await act(client, dispatcher, copy["id"], "mark_duplicate", duplicate_of=original["id"])
    assert r.status_code == 200, r.text
    assert r.json()["duplicate_of"] == original["id"]
    # 李沧 does not learn the 市南 original, nor 市南 the 李沧 copy.
    assert original["id"] not in await everything_shown(client, licang, copy["id"])
    badaguan = await login("handler.shinan.badaguan")
    shown = await everything_shown(client, badaguan, original["id"])
    assert copy["id"] not in shown
    assert LICANG not in shown


async def test_a_confirmed_recurrence_of_an_exposure_problem_goes_on_from_level_three(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    server_side: asyncpg.Connection,
    licang: dict[str, str],
) -> None:
    dispatcher = await login("dispatcher")
    exposed = await exposure_finding(client, dispatcher, location=at(lat=36.05))
    await close(factory, exposed["id"], days_ago=6)
    came_back, _ = await report(
        client, licang, unit="licang.xiaocun", location=at(north_m=3, lat=36.05)
    )

    async def plan() -> Any:
        stored = await server_side.fetchval(
            "SELECT escalation_plan FROM findings WHERE id = $1", uuid.UUID(came_back["id"])
        )
        return json.loads(stored)

    before = await plan()
    assert (before["policy"], before.get("start_level", 1)) == ("default", 1)
    r = await act(client, dispatcher, came_back["id"], "confirm_recurrence")
    assert r.status_code == 200, r.text
    after = await plan()
    assert (after["policy"], after["start_level"]) == ("exposure_video", 3)
    assert r.json()["due_at"] == came_back["due_at"]  # the deadline stays


async def test_a_possible_recurrence_is_shown_to_a_caller_who_sees_both_findings(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector = await login("inspector")
    badaguan = await post(client, inspector, location=at(lat=36.06))
    await close(factory, badaguan["id"], days_ago=8)
    # Across a street boundary inside 市南区: 湛山's report near 八大关's rectified problem.
    zhanshan = await post(
        client, inspector, unit="shinan.zhanshan", location=at(north_m=6, lat=36.06)
    )
    assert zhanshan["responsible_unit"]["code"] == "shinan.zhanshan"
    assert zhanshan["recurrence_of"] is None
    assert zhanshan["possible_recurrence_of"] == badaguan["id"]
    # The district's handler sees both streets: the link and the queue show it.
    district = await login("handler.shinan")
    seen = (await read(client, district, f"/{zhanshan['id']}")).json()
    assert seen["possible_recurrence_of"] == badaguan["id"]
    queue = await read(client, district, "", possible_recurrence="true")
    assert [f["id"] for f in queue.json()["items"]] == [zhanshan["id"]]
    rest = await read(client, district, "", possible_recurrence="false")
    assert zhanshan["id"] not in {f["id"] for f in rest.json()["items"]}
    assert badaguan["id"] in {f["id"] for f in rest.json()["items"]}
