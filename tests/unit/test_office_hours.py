"""Working hours as a rule: the next opening on the working-day calendar (调休 make-up days,
holidays), a local override, and `always`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.core.calendar.deadlines import OfficeHours, next_opening, parse_office_hours
from services.core.calendar.rules import WorkingCalendar
from tests.helpers import TZ

HOURS = OfficeHours(time(8, 30), time(18, 0))
CAL = WorkingCalendar()


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("at", "opening"),
    [
        # Saturday night: Monday at opening
        (local(2026, 11, 28, 21, 57), local(2026, 11, 30, 8, 30)),
        # Friday night before a make-up Saturday (调休, after National Day): that Saturday
        (local(2026, 10, 9, 21, 0), local(2026, 10, 10, 8, 30)),
        # and on that make-up Saturday itself, in hours: at once
        (local(2026, 10, 10, 9, 0), local(2026, 10, 10, 9, 0)),
        # a day of the National Day holiday: the first working day after it
        (local(2026, 10, 3, 10, 0), local(2026, 10, 8, 8, 30)),
        # before opening on a working day: that morning; at closing: the next working day
        (local(2026, 11, 26, 7, 0), local(2026, 11, 26, 8, 30)),
        (local(2026, 11, 26, 8, 30), local(2026, 11, 26, 8, 30)),
        (local(2026, 11, 26, 18, 0), local(2026, 11, 27, 8, 30)),
        # Friday after closing: Monday
        (local(2026, 11, 27, 21, 57), local(2026, 11, 30, 8, 30)),
    ],
)
def test_the_next_opening_follows_the_working_day_calendar(at: datetime, opening: datetime) -> None:
    found = next_opening(at.astimezone(UTC), HOURS, CAL, TZ)
    assert found == opening
    assert found.utcoffset() == timedelta(0)


def test_a_local_override_and_always_are_honoured() -> None:
    saturday = local(2026, 11, 28, 21, 57)
    overtime = WorkingCalendar({date(2026, 11, 29): True})  # Sunday made a working day
    assert next_opening(saturday, HOURS, overtime, TZ) == local(2026, 11, 29, 8, 30)
    assert parse_office_hours("always") is None
    assert next_opening(saturday, None, CAL, TZ) == saturday
    assert parse_office_hours("08:30-24:00") == OfficeHours(time(8, 30), time.max)
    with pytest.raises(ValueError, match="close after"):
        parse_office_hours("18:00-08:30")
