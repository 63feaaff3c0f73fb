"""Loading the working-day calendar with the local overrides stored in the database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock, parse_end_of_day, parse_office_hours
from services.core.calendar.rules import WorkingCalendar
from services.core.models import CalendarOverride
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
