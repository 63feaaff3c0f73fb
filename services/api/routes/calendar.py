"""The working-day calendar: deadline computation and each year's holidays and make-up days."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.core.calendar.deadlines import (
    MAX_WORKING_DAYS,
    add_working_days,
    fallback_years,
    parse_duration,
    parse_end_of_day,
)
from services.core.calendar.rules import is_notable
from services.core.calendar.store import load_calendar

from ..deps import Caller, Session, SettingsDep
from ..problems import Problem
from ..schemas.wire import FIRST_YEAR, LAST_YEAR, TIMESTAMP_PATTERN

router = APIRouter(prefix="/calendar", tags=["calendar"])

YEARS = range(FIRST_YEAR, LAST_YEAR + 1)
# What `_parse_start` takes, as every other timestamp is documented (it also forgives the
# space an unencoded "+" turns into, which the document leaves unsaid).
_START_SCHEMA = {"format": "date-time", "pattern": TIMESTAMP_PATTERN}
DayKind = Literal["workday", "weekend", "holiday", "makeup_workday"]
DaySource = Literal["official", "fallback", "override"]


class DueOut(BaseModel):
    due_at: str = Field(description="RFC 3339, in the city's time zone")
    start: str
    working_days: int | None = None
    duration: str | None = None
    fallback_used: bool = Field(
        description="The deadline crosses a year without official holiday data (Mon–Fri used)"
    )
    timezone: str


class DayOut(BaseModel):
    date: str
    kind: DayKind
    working: bool
    name: str | None
    name_zh: str | None
    source: DaySource
    note: str | None


class YearOut(BaseModel):
    year: int
    official: bool = Field(description="Official holiday data is known for this year")
    days: list[DayOut] = Field(description="Holidays, make-up working days and overrides")
    working_days: int


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?P<offset>[Zz]|[+\- ]\d{2}:\d{2})?"
)


def _parse_start(value: str) -> datetime:
    """RFC 3339 with a mandatory offset; ValueError says what is wrong, for the client."""
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-09-30T10:00:00+08:00")
    # RFC 3339 allows lower-case "t" and "z"; fromisoformat does not.
    text = value.strip().upper()
    offset = match.group("offset")
    if offset is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-09-30T10:00:00+08:00")
    if offset.startswith(" "):
        # An unencoded "+" in a query string arrives as a space; the intent is unambiguous.
        text = text[: -len(offset)] + "+" + offset[1:]
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    # The calendar answers for these years; far-off ones would overflow date arithmetic.
    if not YEARS.start <= start.year < YEARS.stop:
        raise ValueError(f"must lie in the years {YEARS.start}–{YEARS.stop - 1}")
    return start


@router.get("/due", response_model=DueOut, response_model_exclude_none=True)
async def due(
    *,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    start: Annotated[
        str,
        Query(description="RFC 3339 timestamp with an offset", json_schema_extra=_START_SCHEMA),
    ],
    working_days: Annotated[int | None, Query(ge=1, le=MAX_WORKING_DAYS)] = None,
    duration: Annotated[
        str | None, Query(max_length=64, description="ISO 8601 duration, e.g. PT2H")
    ] = None,
) -> dict[str, Any]:
    """When a finding dispatched at `start` is due: N working days (ending at the end of the
    working day, local time) or a continuous-clock duration."""
    errors: list[dict[str, str]] = []
    begin: datetime | None = None
    delta: timedelta | None = None
    try:
        begin = _parse_start(start)
    except ValueError as exc:
        errors.append({"field": "start", "message": str(exc)})
    if (working_days is None) == (duration is None):
        message = "give exactly one of working_days or duration"
        errors += [
            {"field": "working_days", "message": message},
            {"field": "duration", "message": message},
        ]
    elif duration is not None:
        try:
            delta = parse_duration(duration)
        except ValueError as exc:
            errors.append({"field": "duration", "message": str(exc)})
    if errors or begin is None:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise Problem(
            422, f"The request is not valid: check {fields}.", kind="validation", errors=errors
        )
    tz = ZoneInfo(settings.timezone)
    body: dict[str, Any] = {"start": begin.isoformat(), "timezone": settings.timezone}
    if delta is not None:
        # The continuous clock ignores the calendar.
        result = begin + delta
        body |= {"duration": duration, "fallback_used": False}
    else:
        assert working_days is not None  # noqa: S101 — exactly one of the two was given
        cal = await load_calendar(session)
        end_of_day = parse_end_of_day(settings.workday_end)
        result = add_working_days(begin, working_days, cal, tz=tz, end_of_day=end_of_day)
        body |= {
            "working_days": working_days,
            "fallback_used": bool(fallback_years(begin, result, cal, tz=tz)),
        }
    body["due_at"] = result.astimezone(tz).isoformat()
    return body


@router.get("/{year}", response_model=YearOut)
async def year_calendar(
    *,
    caller: Caller,
    session: Session,
    year: Annotated[int, Path(ge=YEARS.start, le=YEARS.stop - 1)],
) -> dict[str, Any]:
    """Every holiday, make-up working day and local override of `year`, with its source, and
    the number of working days. Ordinary weekdays and weekends are left out."""
    cal = await load_calendar(session)
    days = []
    working = 0
    for info in cal.year_days(year):
        working += info.working
        if is_notable(info):
            days.append(
                {
                    "date": info.day.isoformat(),
                    "kind": info.kind,
                    "working": info.working,
                    "name": info.name,
                    "name_zh": info.name_zh,
                    "source": info.source,
                    "note": info.note,
                }
            )
    return {
        "year": year,
        "official": cal.covers(year),
        "days": days,
        "working_days": working,
    }
