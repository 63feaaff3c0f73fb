"""A report that names no unit is placed by its location: the deepest unit whose boundary
holds it (数字城管 route by area), then routed as usual. Outside every boundary it waits in
the dispatch queue, and its trail says why."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.helpers import URL, Login, body, features, square, upload

# 居庸关路, inside the demo's 八大关街道 (services/core/demo/data/boundaries.geojson)
BADAGUAN = {"lat": 36.0571, "lon": 120.3466}
# 太平角社区, inside 八大关街道
TAIPING = {"lat": 36.0512, "lon": 120.3598}
# 李村街道 (李沧区)
XIAOCUN = {"lat": 36.1468, "lon": 120.4322}
# In the Yellow Sea: inside no unit's boundary
AT_SEA = {"lat": 35.5, "lon": 121.5}


async def report(client: AsyncClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    b = body(**over)
    del b["unit"]
    r = await client.post(URL, json=b, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def report_event(client: AsyncClient, headers: dict[str, str], fid: str) -> Any:
    r = await client.get(f"{URL}/{fid}/events", headers=headers)
    assert r.status_code == 200, r.text
    return next(e for e in r.json()["items"] if e["action"] == "report")


async def test_a_report_without_unit_goes_to_the_street_whose_boundary_holds_it(
    client: AsyncClient, login: Login
) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    f = await report(client, inspector, location=BADAGUAN)
    assert f["status"] == "assigned"
    assert f["responsible_unit"]["code"] == "shinan.badaguan"
    assert f["due_at"] is not None
    event = await report_event(client, dispatcher, f["id"])
    assert event["payload"]["located"] == {"by": "boundary", "unit": "shinan.badaguan"}

    # A facility goes to the owner department of the district the street lies in.
    road = await report(client, inspector, location=BADAGUAN, category="damaged_road")
    assert road["responsible_unit"]["code"] == "shinan.cgj"
    # A community inside the street: the deeper unit is the place.
    here = await report(client, inspector, location=TAIPING)
    assert here["responsible_unit"]["code"] == "shinan.badaguan.taiping"
    other = await report(client, inspector, location=XIAOCUN)
    assert other["responsible_unit"]["code"] == "licang.xiaocun"


async def test_outside_every_boundary_it_waits_in_the_queue_with_the_reason(
    client: AsyncClient, login: Login
) -> None:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    f = await report(client, inspector, location=AT_SEA)
    assert (f["status"], f["responsible_unit"], f["due_at"]) == ("reported", None, None)
    event = await report_event(client, dispatcher, f["id"])
    assert event["payload"]["located"] == {"reason": "outside_every_boundary"}
    queued = await client.get(URL, params={"status": "reported"}, headers=dispatcher)
    assert f["id"] in [i["id"] for i in queued.json()["items"]]


async def test_a_place_outside_the_reporters_area_is_not_taken(
    client: AsyncClient, login: Login
) -> None:
    # 市南区's inspector, standing in 李沧区: the report is not routed into a district they may
    # not report in; a dispatcher decides.
    shinan = await login("inspector.shinan")
    f = await report(client, shinan, location=XIAOCUN)
    assert (f["status"], f["responsible_unit"]) == ("reported", None)
    event = await report_event(client, await login("dispatcher"), f["id"])
    assert event["payload"]["located"] == {
        "reason": "outside_reporter_area",
        "unit": "licang.xiaocun",
    }


async def test_a_unit_named_wins_over_the_location(client: AsyncClient, login: Login) -> None:
    f = await client.post(
        URL, json=body(location=BADAGUAN, unit="licang.xiaocun"), headers=await login("inspector")
    )
    assert f.status_code == 201, f.text
    assert f.json()["responsible_unit"]["code"] == "licang.xiaocun"
    event = await report_event(client, await login("dispatcher"), f.json()["id"])
    assert "located" not in event["payload"]


async def test_imported_boundaries_route_the_next_report(client: AsyncClient, login: Login) -> None:
    admin, inspector = await login("admin"), await login("inspector")
    assert (await report(client, inspector, location=AT_SEA))["status"] == "reported"
    # The office draws 黄岛街道's area out to sea: the next report there is the street's.
    sea = square(AT_SEA["lon"], AT_SEA["lat"], 0.05)
    r = await upload(client, admin, "boundaries", features(("xihaian.huangdao", sea)))
    assert r.status_code == 200, r.text
    f = await report(client, inspector, location=AT_SEA)
    assert f["responsible_unit"]["code"] == "xihaian.huangdao"
