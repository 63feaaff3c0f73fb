"""The working-day calendar: official PRC holidays and make-up days (调休), local overrides,
and a Monday–Friday fallback for years the official data does not cover yet.

Pure: no I/O besides one warning log line per fallback year, so that an operator learns
that deadlines in that year ignore holidays that have not been announced.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import chinese_calendar
import structlog

WORKDAY: Final = "workday"
WEEKEND: Final = "weekend"
HOLIDAY: Final = "holiday"
MAKEUP_WORKDAY: Final = "makeup_workday"

OFFICIAL: Final = "official"
FALLBACK: Final = "fallback"
OVERRIDE: Final = "override"

# The package publishes two dicts (day off / make-up working day → English holiday name);
# reading them directly avoids its per-call range check, which scans every key.
_OFFICIAL_HOLIDAYS: Final[Mapping[date, str]] = chinese_calendar.holidays
_OFFICIAL_WORKDAYS: Final[Mapping[date, str]] = chinese_calendar.workdays
# The package itself refuses any year outside the span of its holiday table.
_OFFICIAL_FIRST: Final = min(_OFFICIAL_HOLIDAYS).year
_OFFICIAL_LAST: Final = max(_OFFICIAL_HOLIDAYS).year

_CHINESE_NAMES: Final[Mapping[str, str]] = {h.value: h.chinese for h in chinese_calendar.Holiday}

# Statutory fixed-date holidays (全国年节及纪念日放假办法): the only days off that can be
# known before the State Council announces a year's arrangement. Lunar holidays and
# make-up days cannot be guessed, so the fallback leaves them out and says so.
_FIXED_HOLIDAYS: Final[Mapping[tuple[int, int], str]] = {
    (1, 1): "New Year's Day",
    (5, 1): "Labour Day",
    (5, 2): "Labour Day",
    (10, 1): "National Day",
    (10, 2): "National Day",
    (10, 3): "National Day",
}

_warned_years: set[int] = set()


@dataclass(frozen=True)
class DayInfo:
    day: date
    working: bool
    kind: str  # workday | weekend | holiday | makeup_workday
    name: str | None  # English holiday name, e.g. "National Day"
    source: str  # official | fallback | override
    name_zh: str | None = None  # e.g. "国庆节"
    note: str | None = None  # the override's note, if any


def _covered(year: int) -> bool:
    return _OFFICIAL_FIRST <= year <= _OFFICIAL_LAST


def _warn_fallback(year: int) -> None:
    if year in _warned_years:
        return
    _warned_years.add(year)
    # Looked up at the call, not cached at import, so it follows the logging configuration
    # in force when the year is first met.
    structlog.get_logger("duban.calendar").warning(
        "calendar_fallback",
        year=year,
        official_years=[_OFFICIAL_FIRST, _OFFICIAL_LAST],
        detail=(
            f"No official holiday data for {year}: working days are Monday–Friday minus the "
            "fixed-date holidays (Jan 1, May 1–2, Oct 1–3). Update chinesecalendar once the "
            "State Council publishes the arrangement."
        ),
    )


# Remembered: a report counts a dozen days forward (its deadline, then each escalation
# level's), and the answer depends on the day alone (the official data is fixed at import).
@functools.lru_cache(maxsize=4096)
def _base(day: date) -> DayInfo:
    """The day as the official data (or the fallback) has it, before overrides."""
    weekend = day.weekday() >= 5
    if _covered(day.year):
        if day in _OFFICIAL_WORKDAYS:
            name = _OFFICIAL_WORKDAYS[day]
            return DayInfo(day, True, MAKEUP_WORKDAY, name, OFFICIAL, _CHINESE_NAMES.get(name))
        if day in _OFFICIAL_HOLIDAYS:
            name = _OFFICIAL_HOLIDAYS[day]
            return DayInfo(day, False, HOLIDAY, name, OFFICIAL, _CHINESE_NAMES.get(name))
        return DayInfo(day, not weekend, WEEKEND if weekend else WORKDAY, None, OFFICIAL)
    _warn_fallback(day.year)
    fixed = _FIXED_HOLIDAYS.get((day.month, day.day))
    if fixed is not None:
        return DayInfo(day, False, HOLIDAY, fixed, FALLBACK, _CHINESE_NAMES.get(fixed))
    return DayInfo(day, not weekend, WEEKEND if weekend else WORKDAY, None, FALLBACK)


# How many counts `WorkingCalendar.working_day_after` keeps: a day's reports count from a
# handful of start days, by a handful of limits.
COUNTED_DAYS_KEPT = 4096


class WorkingCalendar:
    """Official data, then the fallback, with the database's overrides winning over both."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        *,
        notes: Mapping[date, str] | None = None,
    ) -> None:
        # True = a working day. Copied so a caller mutating its dict cannot change deadlines.
        self._overrides = dict(overrides or {})
        self._notes = dict(notes or {})
        # (day, n) -> the nth working day after it: fixed for the life of this calendar,
        # whose days never change.
        self._counted: dict[tuple[date, int], date] = {}

    @property
    def overrides(self) -> Mapping[date, bool]:
        return self._overrides

    def is_working_day(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override
        return _base(day).working

    def working_day_after(self, day: date, n: int) -> date:
        """The nth working day after `day` (n ≥ 1; `day` itself never counts). Remembered:
        a report counts its deadline and then each level of its plan from it, a dozen or
        more days forward each, and nearly all reports of a day count from the same few
        days."""
        key = (day, n)
        found = self._counted.get(key)
        if found is not None:
            return found
        if n < 1:
            raise ValueError("n must be at least 1")
        found, remaining = day, n
        while remaining:
            found += timedelta(days=1)
            if self.is_working_day(found):
                remaining -= 1
        if len(self._counted) >= COUNTED_DAYS_KEPT:
            self._counted.clear()
        self._counted[key] = found
        return found

    def info(self, day: date) -> DayInfo:
        base = _base(day)
        override = self._overrides.get(day)
        if override is None:
            return base
        kind = HOLIDAY
        if override:
            # Working on a day that would otherwise be off is a make-up day, like 调休.
            kind = WORKDAY if base.kind == WORKDAY else MAKEUP_WORKDAY
        return DayInfo(day, override, kind, base.name, OVERRIDE, base.name_zh, self._notes.get(day))

    def covers(self, year: int) -> bool:
        """Whether official data is known for `year` (overrides aside)."""
        return _covered(year)

    def year_days(self, year: int) -> Iterator[DayInfo]:
        day = date(year, 1, 1)
        while day.year == year:
            yield self.info(day)
            day += timedelta(days=1)


def is_notable(info: DayInfo) -> bool:
    """Not an ordinary weekday or weekend: a holiday, a make-up day or an override."""
    return info.source == OVERRIDE or info.kind in (HOLIDAY, MAKEUP_WORKDAY)


def official_coverage(today: date) -> dict[str, object]:
    """For /readyz: whether this year and the next are on official data. December deadlines
    run into next year, so a missing next year is already a gap worth reporting."""
    years = (today.year, today.year + 1)
    missing = [y for y in years if not _covered(y)]
    if missing:
        detail = (
            f"Official holiday data covers {_OFFICIAL_FIRST}–{_OFFICIAL_LAST}; deadlines in "
            f"{', '.join(map(str, missing))} use the Monday–Friday fallback with fixed-date "
            "holidays only. Upgrade the chinesecalendar package when the State Council "
            "publishes the arrangement, or add calendar overrides."
        )
    else:
        detail = (
            f"Official holiday data covers {_OFFICIAL_FIRST}–{_OFFICIAL_LAST}, "
            f"including {years[0]} and {years[1]}."
        )
    return {
        "ok": not missing,
        "official_years": [_OFFICIAL_FIRST, _OFFICIAL_LAST],
        "fallback_years": missing,
        "detail": detail,
    }
