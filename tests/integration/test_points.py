"""Evaluation points (测评点位): a catalogue of point types and the points imported from CSV
and XLSX through the office's import, listed and mapped by district, each caller seeing only
the points of their own subtree (another district's point is a 404)."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.helpers import (
    POINTS_HEADER,
    TEST_POINTS,
    Login,
    import_file,
    import_points,
    upload,
)

POINTS = "/api/v1/points"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_points_imported_are_listed_by_district_and_type(
    client: AsyncClient, login: Login, fmt: str
) -> None:
    admin = await login("admin")
    await import_points(client, admin, fmt=fmt)
    r = await client.get(POINTS, params={"district": "shinan"}, headers=admin)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [p["code"] for p in items] == ["t.sn.market1", "t.sn.market2", "t.sn.alley1"]
    assert items[0]["type"]["code"] == "farmers_market"
    assert items[0]["unit"]["code"] == "shinan.badaguan"
    assert items[0]["district"] == "shinan"
    assert items[0]["last_inspected_at"] is None
    r = await client.get(POINTS, params={"district": "shinan", "type": "back_alley"}, headers=admin)
    assert [p["code"] for p in r.json()["items"]] == ["t.sn.alley1"]
    r = await client.get(POINTS, params={"unit": "licang"}, headers=admin)
    assert [p["code"] for p in r.json()["items"]] == ["t.lc.alley1"]


async def test_a_reimport_updates_and_the_same_file_twice_changes_nothing(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    moved = [list(TEST_POINTS[0])]
    moved[0][1] = "示例·八大关市场（新址）"
    r = await upload(client, admin, "points", import_file([POINTS_HEADER, *moved], "csv"))
    assert r.json()["updated"] == ["t.sn.market1"]
    r = await upload(client, admin, "points", import_file([POINTS_HEADER, *moved], "csv"))
    assert r.json()["updated"] == []
    assert r.json()["unchanged"] == 1
    r = await client.get(f"{POINTS}/t.sn.market1", headers=admin)
    assert r.json()["name"] == "示例·八大关市场（新址）"


async def test_a_bad_row_is_named_and_nothing_is_written(client: AsyncClient, login: Login) -> None:
    admin = await login("admin")
    await import_points(client, admin, points=TEST_POINTS[:1])
    rows = [
        ["t.new.1", "新点位", "farmers_market", "36.05", "120.35", "shinan.badaguan", "", ""],
        ["t.new.2", "新点位二", "toilets", "36.05", "120.35", "shinan.badaguan", "", ""],
        ["t.new.3", "新点位三", "back_alley", "36.05", "120.35", "nowhere", "", ""],
    ]
    r = await upload(client, admin, "points", import_file([POINTS_HEADER, *rows], "csv"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["line 3: type", "line 4: unit"]
    r = await client.get(POINTS, headers=admin)
    assert [p["code"] for p in r.json()["items"]] == ["t.sn.market1"]


async def test_a_district_sees_its_own_points_only(client: AsyncClient, login: Login) -> None:
    await import_points(client, await login("admin"))
    shinan = await login("handler.shinan")
    r = await client.get(POINTS, headers=shinan)
    assert {p["district"] for p in r.json()["items"]} == {"shinan"}
    assert len(r.json()["items"]) == 3
    r = await client.get(f"{POINTS}/t.lc.alley1", headers=shinan)
    assert r.status_code == 404
    street = await login("handler.shinan.badaguan")
    r = await client.get(POINTS, headers=street)
    assert [p["code"] for p in r.json()["items"]] == ["t.sn.market1"]


async def test_the_map_is_geojson_and_filters_name_unknown_codes(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    r = await client.get(POINTS, params={"district": "licang", "format": "geojson"}, headers=admin)
    assert r.headers["content-type"].startswith("application/geo+json")
    [feature] = r.json()["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [120.4322, 36.1468]}
    assert feature["properties"]["code"] == "t.lc.alley1"
    r = await client.get(POINTS, params={"type": "no_such_type"}, headers=admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "type"
    r = await client.get("/api/v1/point-types", headers=admin)
    codes = [t["code"] for t in r.json()["items"]]
    assert {"back_alley", "farmers_market", "public_toilet"} <= set(codes)
    assert codes == sorted(codes)
