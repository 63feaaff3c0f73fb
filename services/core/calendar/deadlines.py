"""Deadline arithmetic (DESIGN §5): working days on the city's calendar, or a continuous
clock. Pure functions over values; the caller passes the calendar, zone and end of day."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from services.core.calendar.rules import WorkingCalendar

# A continuous clock longer than a year is a typo, and unbounded values overflow datetime.
MAX_DURATION = timedelta(days=365)
MAX_WORKING_DAYS = 365

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
)
_END_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class OfficeHours:
    """When notices that can wait are delivered: from `opens` to `closes` (local) on working
    days."""

    opens: time
    closes: time


@dataclass(frozen=True)
class CityClock:
    """What deadline arithmetic needs to know about the city."""

    calendar: WorkingCalendar
    tz: ZoneInfo
    end_of_day: time
    # None: notices go out at any time.
    hours: OfficeHours | None = None


# Cached: settings are parsed on every report (services/core/calendar/store.py, city_clock).
@cache
def parse_office_hours(value: str) -> OfficeHours | None:
    """ "08:30-18:00" → OfficeHours; "always" → None (no holding back)."""
    if value.strip() == "always":
        return None
    opens, sep, closes = value.strip().partition("-")
    if not sep:
        raise ValueError(f"{value!r} is not office hours as HH:MM-HH:MM, e.g. 08:30-18:00")
    start = parse_end_of_day(opens)
    end = time.max if closes.strip() == "24:00" else parse_end_of_day(closes)
    if end <= start:
        raise ValueError(f"{value!r}: the office must close after it opens")
    return OfficeHours(start, end)


def next_opening(
    at: datetime, hours: OfficeHours | None, cal: WorkingCalendar, tz: ZoneInfo
) -> datetime:
    """`at` itself when it falls in office hours of a working day, else the next opening: a
    notice of Saturday night waits for Monday 08:30, or for 08:30 that Saturday's morning
    after when it is a make-up working day (调休)."""
    _require_aware(at)
    if hours is None:
        return at
    local = at.astimezone(tz)
    day = local.date()
    if cal.is_working_day(day):
        if hours.opens <= local.time() < hours.closes:
            return at
        if local.time() < hours.opens:
            return datetime.combine(day, hours.opens, tzinfo=tz).astimezone(UTC)
    day += timedelta(days=1)
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, hours.opens, tzinfo=tz).astimezone(UTC)


def parse_duration(value: str, *, allow_zero: bool = False) -> timedelta:
    """ISO 8601 duration in weeks, days, hours, minutes, seconds ("PT2H", "P1DT12H").
    Years and months are refused: their length depends on the start, which a clock that
    runs "as is" must not. A zero offset makes sense for an escalation level ("at due"),
    never for a time limit."""
    text = value.strip().upper()
    match = _DURATION.fullmatch(text)
    # Every part is optional in the pattern, so "P", "PT" and a dangling "T" slip through it.
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(
            f"{value!r} is not an ISO 8601 duration such as PT2H, P1D or P1DT12H "
            "(years and months are not allowed)"
        )
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        result = timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{value!r} is too long") from None
    if result < timedelta(0) or (result == timedelta(0) and not allow_zero):
        raise ValueError(f"{value!r} must be longer than zero")
    if result > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than {MAX_DURATION.days} days")
    return result


@cache
def parse_end_of_day(value: str) -> time:
    """ "17:30" → 17:30. The end of the working day, local time."""
    match = _END_OF_DAY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a time of day as HH:MM, e.g. 17:30")
    return time(int(match.group(1)), int(match.group(2)))


def _require_aware(start: datetime) -> None:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")


def _end_of(day: date, tz: ZoneInfo, end_of_day: time) -> datetime:
    return datetime.combine(day, end_of_day, tzinfo=tz).astimezone(UTC)


def add_working_days(
    start: datetime, n: int, cal: WorkingCalendar, *, tz: ZoneInfo, end_of_day: time
) -> datetime:
    """The end of the working day (`end_of_day`, local) of the Nth working day after the
    local date of `start`, in UTC. The start day never counts, whatever the hour: an item
    dispatched at 23:00 or at 08:00 on a Monday is due at the same moment.

    n == 0 means "by the end of today's work": the end of the start day if it is a working
    day and that moment is not already past, else the end of the next working day. It never
    returns a moment before `start`.
    """
    _require_aware(start)
    if n < 0:
        raise ValueError("n must not be negative")
    day = start.astimezone(tz).date()
    if n == 0:
        while not cal.is_working_day(day) or _end_of(day, tz, end_of_day) < start:
            day += timedelta(days=1)
        return _end_of(day, tz, end_of_day)
    return _end_of(cal.working_day_after(day, n), tz, end_of_day)


def due_at(
    start: datetime,
    time_limit: Mapping[str, object],
    cal: WorkingCalendar,
    *,
    tz: ZoneInfo,
    end_of_day: time,
) -> datetime:
    """`time_limit` is a category's limit: {"working_days": N} or {"duration": "PT2H"}.
    The continuous clock adds the duration as is, nights and holidays included."""
    _require_aware(start)
    keys = set(time_limit) & {"working_days", "duration"}
    if len(keys) != 1:
        raise ValueError('time limit must have exactly one of "working_days" or "duration"')
    if "working_days" in keys:
        n = time_limit["working_days"]
        # bool is an int subclass; True working days is a data error, not 1.
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"working_days must be an integer from 1 to {MAX_WORKING_DAYS}")
        return add_working_days(start, n, cal, tz=tz, end_of_day=end_of_day)
    duration = time_limit["duration"]
    if not isinstance(duration, str):
        raise ValueError("duration must be an ISO 8601 string such as PT2H")
    return (start + parse_duration(duration)).astimezone(UTC)


def fallback_years(
    start: datetime, due: datetime, cal: WorkingCalendar, *, tz: ZoneInfo
) -> list[int]:
    """Years between start and due (local) that the official calendar does not cover: the
    deadline was computed without that year's holiday arrangement."""
    first, last = start.astimezone(tz).year, due.astimezone(tz).year
    return [y for y in range(first, last + 1) if not cal.covers(y)]


def working_hours_between(start: datetime, end: datetime, clock: CityClock) -> float:
    """The working time from `start` to `end` in hours: the office hours of working days
    (调休 included), or whole working days when the city sets none. A 批示 given on Friday
    evening about a notice of Friday afternoon took the hours until closing, not the weekend."""
    _require_aware(start)
    _require_aware(end)
    if end <= start:
        return 0.0
    tz = clock.tz
    opens = clock.hours.opens if clock.hours else time.min
    total = timedelta()
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if clock.calendar.is_working_day(day):
            begin = datetime.combine(day, opens, tzinfo=tz)
            finish = (
                datetime.combine(day, clock.hours.closes, tzinfo=tz)
                if clock.hours and clock.hours.closes != time.max
                else datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
            )
            overlap = min(finish, end) - max(begin, start)
            total += max(overlap, timedelta())
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def working_days_between(
    start: datetime, end: datetime, cal: WorkingCalendar, *, tz: ZoneInfo
) -> int:
    """The working days a pause from `start` to `end` took away: those after the local date
    of `start`, up to and including that of `end`. A pause within one day takes none; one
    over a holiday counts only the working days in it."""
    _require_aware(start)
    _require_aware(end)
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    count = 0
    while day < last:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            count += 1
    return count


def resumed_due_at(
    due: datetime,
    paused_from: datetime,
    resumed_at: datetime,
    *,
    continuous: bool,
    cal: WorkingCalendar,
    tz: ZoneInfo,
) -> datetime:
    """The deadline of a finding whose clock stood still from `paused_from` to `resumed_at`
    (a suspension, 挂账): it gives back what the pause took. On a continuous clock that is
    the time itself; on the working-day clock the working days it covered, counted forward
    from the old deadline on the calendar (holidays and make-up days included), at the same
    time of day. A finding already overdue when paused stays as overdue as it was."""
    _require_aware(due)
    if resumed_at <= paused_from:
        return due.astimezone(UTC)
    if continuous:
        return (due + (resumed_at - paused_from)).astimezone(UTC)
    days = working_days_between(paused_from, resumed_at, cal, tz=tz)
    if days == 0:
        return due.astimezone(UTC)
    local = due.astimezone(tz)
    moved = cal.working_day_after(local.date(), days)
    return datetime.combine(moved, local.timetz().replace(tzinfo=None), tzinfo=tz).astimezone(UTC)


def add_working_hours(
    start: datetime, hours: float, cal: WorkingCalendar, *, tz: ZoneInfo, office: OfficeHours
) -> datetime:
    """`hours` of office time (`office`, on working days) after `start`: the sign-for
    deadline (签收时限) of "2 working hours" for an item dispatched on Friday at 17:00 falls
    on Monday morning, or on the make-up Saturday (调休) when there is one."""
    _require_aware(start)
    if hours <= 0:
        raise ValueError("hours must be positive")
    left = timedelta(hours=hours)
    at = next_opening(start, office, cal, tz)
    while True:
        local = at.astimezone(tz)
        closes = datetime.combine(local.date(), office.closes, tzinfo=tz)
        span = closes - local
        if left <= span:
            return (local + left).astimezone(UTC)
        left -= span
        at = next_opening(closes.astimezone(UTC), office, cal, tz)
