"""Loading the working-day calendar with the local overrides stored in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock, parse_end_of_day, parse_office_hours
from services.core.calendar.rules import WorkingCalendar
from services.core.models import OPEN, CalendarOverride, Finding
from services.core.platform.settings import Settings


async def load_calendar(session: AsyncSession) -> WorkingCalendar:
    """The official calendar with every override from `calendar_overrides` applied. The table
    holds a handful of rows per year, so it is read whole rather than per date range."""
    rows = (
        await session.execute(
            select(CalendarOverride.day, CalendarOverride.kind, CalendarOverride.note)
        )
    ).all()
    return WorkingCalendar(
        {row.day: row.kind == "workday" for row in rows},
        notes={row.day: row.note for row in rows if row.note},
    )


def city_clock(calendar: WorkingCalendar, settings: Settings) -> CityClock:
    return CityClock(
        calendar=calendar,
        tz=ZoneInfo(settings.timezone),
        end_of_day=parse_end_of_day(settings.workday_end),
        hours=parse_office_hours(settings.notify_hours),
    )


async def load_city_clock(session: AsyncSession, settings: Settings) -> CityClock:
    return city_clock(await load_calendar(session), settings)


@dataclass(frozen=True)
class ImportedOverrides:
    created: int
    changed: int
    unchanged: int
    # Open findings whose deadline falls on or after the first imported date: they keep the
    # deadline they were given (nothing is recomputed).
    deadlines_kept: int


async def import_overrides(
    session: AsyncSession, entries: Sequence[tuple[date, str, str | None]], tz: ZoneInfo
) -> ImportedOverrides:
    """Enter a year's arrangement (holidays and make-up working days) as overrides, by date:
    a new date is added, one already there takes the file's kind and note. Deadlines already
    set are not recomputed: the count of open findings whose deadline lies in the imported
    span is reported, so the office can extend one where a new holiday cut its time."""
    existing = {
        o.day: o
        for o in await session.scalars(
            select(CalendarOverride).where(CalendarOverride.day.in_([e[0] for e in entries]))
        )
    }
    created = changed = unchanged = 0
    for day, kind, note in entries:
        found = existing.get(day)
        if found is None:
            session.add(CalendarOverride(day=day, kind=kind, note=note))
            created += 1
        elif (found.kind, found.note) != (kind, note):
            found.kind, found.note = kind, note
            changed += 1
        else:
            unchanged += 1
    await session.flush()
    first = min(e[0] for e in entries)
    kept = await session.scalar(
        select(func.count())
        .select_from(Finding)
        .where(
            Finding.status.in_(list(OPEN)),
            Finding.due_at >= datetime.combine(first, time(0), tzinfo=tz),
        )
    )
    return ImportedOverrides(created, changed, unchanged, int(kept or 0))
