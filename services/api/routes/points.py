"""Evaluation points (测评点位) and their types: listed and mapped by district, scoped to the
caller in SQL (another district's point is a 404). Imported with POST /imports/points."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.core.inspection.queries import PointFilter, PointRow, point, point_types, points_page

from ..deps import Caller, Session, SettingsDep
from ..pagination import PageDep, id_key, split_page
from ..schemas.findings import UnitRef
from ..schemas.inspection import PointOut, PointPage, PointTypeList, PointTypeOut
from ..schemas.wire import Code, CodePath

router = APIRouter(tags=["inspection"])
GEOJSON = "application/geo+json"


def render_point(r: PointRow, tz: ZoneInfo) -> PointOut:
    p = r.point
    return PointOut(
        code=p.code,
        name=p.name,
        type=PointTypeOut(code=r.type_code, name=r.type_name, active=True),
        lat=p.lat,
        lon=p.lon,
        outline=p.outline,
        address=p.address,
        unit=UnitRef(code=r.place_code, name=r.place_name),
        responsible_unit=r.responsible_code,
        district=r.district_code,
        active=p.active,
        last_inspected_at=p.last_inspected_at.astimezone(tz) if p.last_inspected_at else None,
    )


def _feature(out: PointOut) -> dict[str, Any]:
    properties = out.model_dump(mode="json", exclude={"lat", "lon", "outline"})
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [out.lon, out.lat]},
        "properties": properties,
    }


@router.get(
    "/points",
    response_model=PointPage,
    responses={200: {"content": {GEOJSON: {}}, "description": "JSON page, or GeoJSON"}},
)
async def list_points(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    district: Annotated[Code | None, Query(description="district code")] = None,
    unit: Annotated[Code | None, Query(description="points placed in this unit's subtree")] = None,
    type: Annotated[Code | None, Query(description="point type code")] = None,
    active: Annotated[bool | None, Query()] = None,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",
) -> PointPage | JSONResponse:
    """The evaluation points the caller may see, by id; `format=geojson` gives the page as a
    FeatureCollection for the map (`next_cursor` among its members)."""
    f = PointFilter(district=district, unit=unit, point_type=type, active=active)
    rows = await points_page(session, caller, f, after_id=page.after(id_key), limit=page.limit + 1)
    items, cursor = split_page(rows, page.limit, lambda r: [r.point.id])
    tz = ZoneInfo(settings.timezone)
    out = [render_point(r, tz) for r in items]
    if format == "geojson":
        return JSONResponse(
            {
                "type": "FeatureCollection",
                "features": [_feature(o) for o in out],
                "next_cursor": cursor,
            },
            media_type=GEOJSON,
        )
    return PointPage(items=out, next_cursor=cursor)


@router.get("/points/{code}", response_model=PointOut)
async def get_point(
    code: CodePath, caller: Caller, session: Session, settings: SettingsDep
) -> PointOut:
    """One evaluation point; 404 outside the caller's scope."""
    return render_point(await point(session, caller, code), ZoneInfo(settings.timezone))


@router.get("/point-types", response_model=PointTypeList)
async def list_point_types(_: Caller, session: Session) -> PointTypeList:
    """The catalogue of point types (imported with POST /imports/point-types)."""
    return PointTypeList(
        items=[
            PointTypeOut(code=t.code, name=t.name, active=t.active)
            for t in await point_types(session)
        ]
    )
