"""The campaign instruments' pure rules (DESIGN §10): where a point lies in the organisation,
the windows an inspection plan cuts its period into on the working-day calendar, the GPS
check of an inspection, and the coverage figures. No I/O; `now` is passed in."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.core.calendar.rules import WorkingCalendar

FREQUENCY_WORDS = {"每周": "weekly", "每月": "monthly", "一次": "once", "摸底": "once"}
METHOD_WORDS = {"实地考察": "field", "实地": "field", "问卷调查": "questionnaire",
                "问卷": "questionnaire", "资料审核": "records", "资料": "records"}  # fmt: skip
EARTH_RADIUS_M = 6_371_000.0


def district_and_street(path: str, kinds: Mapping[int, str]) -> tuple[int | None, int | None]:
    """The district and the street a unit (by its materialised path "/1/4/17/") lies in,
    itself included; None where it lies in none (a department of the city)."""
    district = street = None
    for unit_id in (int(p) for p in path.strip("/").split("/") if p):
        kind = kinds.get(unit_id)
        if kind == "district":
            district = unit_id
        elif kind == "street":
            street = unit_id
    return district, street


@dataclass(frozen=True)
class Window:
    """An inspection task's window: opens at the start of its first working day, due at the
    end of its last (the city's end of the working day)."""

    opens_at: datetime
    due_at: datetime


def _periods(frequency: str, starts_on: date, ends_on: date) -> Iterator[tuple[date, date]]:
    """The plan's period cut into calendar periods (inclusive), clipped to it: ISO weeks,
    calendar months, or the whole period once."""
    if frequency == "once":
        yield starts_on, ends_on
        return
    day = starts_on
    while day <= ends_on:
        if frequency == "weekly":
            end = day + timedelta(days=6 - day.weekday())
        elif frequency == "monthly":
            nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
            end = nxt - timedelta(days=1)
        else:
            raise ValueError(f"unknown frequency {frequency!r}")
        end = min(end, ends_on)
        yield day, end
        day = end + timedelta(days=1)


def windows(
    frequency: str,
    starts_on: date,
    ends_on: date,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    end_of_day: time,
) -> list[Window]:
    """The windows of one point's tasks over [starts_on, ends_on]. Each calendar period
    (week, month, the whole plan) opens on its first working day and is due at the end of its
    last one, on the working-day calendar: a holiday week ends on its make-up working day,
    and a period with no working day at all (a whole week of holiday) has no task."""
    out = []
    for first, last in _periods(frequency, starts_on, ends_on):
        working = [
            first + timedelta(days=i)
            for i in range((last - first).days + 1)
            if calendar.is_working_day(first + timedelta(days=i))
        ]
        if not working:
            continue
        out.append(
            Window(
                datetime.combine(working[0], time(0), tzinfo=tz),
                datetime.combine(working[-1], end_of_day, tzinfo=tz),
            )
        )
    return out


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def position_flags(distance: float, tolerance_m: float) -> list[str]:
    """An inspection recorded farther from its point than the GPS tolerance is flagged `far`,
    as an after-photo is: kept (GPS drifts, phones go offline) but shown to the office."""
    return ["far"] if distance > tolerance_m else []


def coverage(due: int, inspected: int) -> float | None:
    """Points inspected ÷ points due in the period; None when nothing was due."""
    return inspected / due if due else None


def blind_since(now: datetime, days: int) -> datetime:
    """A point not inspected since this instant is a blind spot."""
    return now - timedelta(days=days)
