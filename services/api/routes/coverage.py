"""Coverage (不留盲区): per district, street or point type over a period, the tasks due and
done, the points due and inspected, the tasks overdue and the blind spots; and the list of
blind spots, never visited first. Every figure is in the caller's scope."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from services.core.inspection.queries import CoverageBy, blind_spots, coverage_rows

from ..deps import Caller, Session, SettingsDep, utcnow
from ..problems import Problem
from ..schemas.inspection import (
    BlindSpotList,
    BlindSpotOut,
    CoverageItem,
    CoverageOut,
)
from ..schemas.wire import Code, Timestamp

router = APIRouter(tags=["inspection"])


def month_of(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month in the city that holds `now`."""
    today = now.astimezone(tz).date()
    first = date(today.year, today.month, 1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return datetime.combine(first, time(0), tz), datetime.combine(nxt, time(0), tz)


@router.get("/coverage", response_model=CoverageOut)
async def get_coverage(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    by: Annotated[CoverageBy, Query()] = "district",
    since: Annotated[
        Timestamp | None,
        Query(description="tasks due at or after; default: the start of this month"),
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="… and before; default: the end of this month")
    ] = None,
    district: Annotated[Code | None, Query()] = None,
) -> CoverageOut:
    """Coverage per district, street or point type over a period (default: this month)."""
    tz = ZoneInfo(settings.timezone)
    now = utcnow()
    start, end = month_of(now, tz)
    since, until = since or start, until or end
    if until <= since:
        raise Problem(
            422, "until must be later than since.", kind="validation",
            errors=[{"field": "until", "message": "must be later than since"}],
        )  # fmt: skip
    rows = await coverage_rows(
        session, caller, by, since=since, until=until, now=now,
        blind_days=settings.blind_spot_days, district=district,
    )  # fmt: skip
    return CoverageOut(
        by=by,
        since=since.astimezone(tz),
        until=until.astimezone(tz),
        blind_spot_days=settings.blind_spot_days,
        generated_at=now.astimezone(tz),
        items=[
            CoverageItem(
                code=r.code or None,
                name=r.name or "—",
                tasks_due=r.tasks_due,
                tasks_done=r.tasks_done,
                points_due=r.points_due,
                points_inspected=r.points_inspected,
                coverage=round(r.coverage, 4) if r.coverage is not None else None,
                overdue=r.overdue,
                blind_spots=r.blind_spots,
            )
            for r in rows
        ],
    )


@router.get("/coverage/blind-spots", response_model=BlindSpotList)
async def get_blind_spots(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    district: Annotated[Code | None, Query()] = None,
    type: Annotated[Code | None, Query(description="point type code")] = None,
    days: Annotated[
        int | None, Query(ge=1, le=3650, description="default: DUBAN_BLIND_SPOT_DAYS")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> BlindSpotList:
    """Active points not inspected for `days`: never inspected first, then the longest
    unvisited."""
    now = utcnow()
    tz = ZoneInfo(settings.timezone)
    days = days or settings.blind_spot_days
    spots = await blind_spots(
        session, caller, now=now, days=days, district=district, point_type=type, limit=limit
    )
    return BlindSpotList(
        days=days,
        items=[
            BlindSpotOut(
                point=s.point.code,
                name=s.point.name,
                type=s.type_code,
                district=s.district_code,
                street=s.street_code,
                lat=s.point.lat,
                lon=s.point.lon,
                last_inspected_at=(
                    s.point.last_inspected_at.astimezone(tz) if s.point.last_inspected_at else None
                ),
                days_unvisited=(
                    (now - s.point.last_inspected_at).days if s.point.last_inspected_at else None
                ),
            )
            for s in spots
        ],
    )
