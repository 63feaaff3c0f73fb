"""Local calendar overrides for admins, addressed by date (YYYY-MM-DD).

Every deadline and escalation time is computed on the calendar loaded per request or sweep
(`services.core.calendar.store.load_calendar`), so an override applies from the next
dispatch, deadline query or escalation level computed after it is saved. Deadlines already
set on findings stay as they were.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import CalendarOverride
from services.core.platform.errors import Conflict, NotFound, refuse_nulls
from services.core.platform.keyset import keyset

from ..deps import Admin, Session
from ..pagination import CursorKey, PageDep, split_page
from ..schemas.calendar_overrides import (
    OverrideCreate,
    OverrideOut,
    OverridePage,
    OverrideUpdate,
)
from ..schemas.wire import FIRST_YEAR, LAST_YEAR, Day

router = APIRouter(prefix="/calendar-overrides", tags=["configuration"])
DayPath = Annotated[Day, Path(description="YYYY-MM-DD")]


def _out(o: CalendarOverride) -> OverrideOut:
    return OverrideOut(date=o.day, kind=o.kind, note=o.note, created_at=o.created_at)


_day_key = CursorKey[date](Day)


async def _override_or_404(session: AsyncSession, day: date) -> CalendarOverride:
    override = await session.get(CalendarOverride, day)
    if override is None:
        raise NotFound(f"No calendar override on {day.isoformat()}.")
    return override


@router.get("", response_model=OverridePage)
async def list_overrides(
    session: Session,
    _: Admin,
    page: PageDep,
    year: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
) -> OverridePage:
    """Overrides in date order."""
    stmt = select(CalendarOverride)
    if year is not None:
        stmt = stmt.where(
            CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31)
        )
    stmt = keyset(stmt, CalendarOverride.day, page.after(_day_key), page.limit + 1)
    rows = (await session.scalars(stmt)).all()
    items, cursor = split_page(rows, page.limit, lambda o: [o.day.isoformat()])
    return OverridePage(items=[_out(o) for o in items], next_cursor=cursor)


@router.get("/{day}", response_model=OverrideOut)
async def get_override(day: DayPath, session: Session, _: Admin) -> OverrideOut:
    return _out(await _override_or_404(session, day))


@router.post("", response_model=OverrideOut, status_code=201)
async def create_override(body: OverrideCreate, session: Session, _: Admin) -> OverrideOut:
    conflict = Conflict(
        f"There is already an override on {body.date.isoformat()}; change or delete it."
    )
    if await session.get(CalendarOverride, body.date) is not None:
        raise conflict
    override = CalendarOverride(day=body.date, kind=body.kind, note=body.note)
    session.add(override)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same date
        raise conflict from exc
    await session.refresh(override, ["created_at"])
    return _out(override)


@router.patch("/{day}", response_model=OverrideOut)
async def update_override(
    day: DayPath, body: OverrideUpdate, session: Session, _: Admin
) -> OverrideOut:
    refuse_nulls(body.model_dump(exclude_unset=True), ("kind",))
    override = await _override_or_404(session, day)
    if body.kind is not None:
        override.kind = body.kind
    if "note" in body.model_fields_set:
        override.note = body.note
    await session.flush()
    return _out(override)


@router.delete("/{day}", status_code=204, response_class=Response)
async def delete_override(day: DayPath, session: Session, _: Admin) -> Response:
    await session.delete(await _override_or_404(session, day))
    await session.flush()
    return Response(status_code=204)
