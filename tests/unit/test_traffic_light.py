"""The traffic light (红黄绿灯) as a rule over values: green, yellow from the reminder fraction
of the time given, red past due, and none while the clock does not run; at each boundary, on a
continuous clock and across a holiday. The database's copy of the rule and the API are in
tests/integration/test_traffic_light.py."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from services.core.calendar.deadlines import CityClock, due_at
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation.rules import (
    Level,
    Light,
    Plan,
    light,
    reminder_due,
    reminder_time,
    yellow_time,
)
from tests.helpers import LIGHT_DISPATCHED, LIGHT_DUE, LIGHT_YELLOW, MICRO, TZ

DISPATCHED, DUE, YELLOW = LIGHT_DISPATCHED, LIGHT_DUE, LIGHT_YELLOW
CLOCK = CityClock(WorkingCalendar(), TZ, time(17, 30))
PLAN = Plan("default", (Level(1, "unit_head", {"working_days": 0}),), reminder_at=0.8)


# --- the rule -----------------------------------------------------------------------------


def test_yellow_is_the_reminder_fraction_of_the_time_given() -> None:
    assert yellow_time(0.8, DISPATCHED, DUE) == YELLOW
    assert yellow_time(0.5, DISPATCHED, DUE) == DISPATCHED + (DUE - DISPATCHED) / 2
    # A plan without a reminder, or with a fraction outside (0, 1), gets the default 80 %.
    for none_or_bad in (None, 0, 1, 1.5, -0.2, True, "0.8"):
        assert yellow_time(none_or_bad, DISPATCHED, DUE) == YELLOW, none_or_bad
    # No time was given: yellow from the deadline on (red right after it).
    assert yellow_time(0.8, None, DUE) == DUE
    assert yellow_time(0.8, DUE, DISPATCHED) == DISPATCHED
    assert yellow_time(0.8, DISPATCHED, None) is None
    # The instant the pre-due reminder is due.
    assert reminder_time(PLAN, DISPATCHED, DUE) == YELLOW


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DISPATCHED, Light.GREEN),
        (YELLOW - MICRO, Light.GREEN),
        (YELLOW, Light.YELLOW),
        (DUE - MICRO, Light.YELLOW),
        (DUE, Light.YELLOW),  # due, not yet overdue: red is past due, as `overdue` is
        (DUE + MICRO, Light.RED),
    ],
)
def test_the_light_at_each_boundary(now: datetime, expected: Light) -> None:
    for status in ("assigned", "accepted"):
        assert light(status, DUE, YELLOW, now) is expected
    # No light while the clock does not run: not dispatched, submitted, closed.
    for status in ("reported", "submitted", "closed"):
        assert light(status, DUE, YELLOW, now) is None
    assert light("assigned", None, None, now) is None


def test_continuous_clock() -> None:
    """A two-hour limit runs through a Saturday night: yellow after 96 minutes."""
    dispatched = datetime(2026, 11, 28, 22, 0, tzinfo=TZ)
    due = due_at(dispatched, {"duration": "PT2H"}, CLOCK.calendar, tz=TZ, end_of_day=time(17, 30))
    yellow = yellow_time(0.8, dispatched, due)
    assert yellow == datetime(2026, 11, 28, 23, 36, tzinfo=TZ)
    assert light("assigned", due, yellow, yellow - MICRO) is Light.GREEN
    assert light("assigned", due, yellow, yellow) is Light.YELLOW
    assert light("assigned", due, yellow, due) is Light.YELLOW
    assert light("assigned", due, yellow, due + MICRO) is Light.RED


def test_working_day_clock_across_a_holiday() -> None:
    """Dispatched on the last working day before National Day: the deadline skips the seven
    days off, and the fraction counts the whole time given, as the reminder does: the light
    turns yellow on the holiday's last evening, with the reminder, and is green until then."""
    dispatched = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)
    due = due_at(dispatched, {"working_days": 2}, CLOCK.calendar, tz=TZ, end_of_day=time(17, 30))
    assert due == datetime(2026, 10, 9, 17, 30, tzinfo=TZ)
    yellow = yellow_time(0.8, dispatched, due)
    assert yellow == datetime(2026, 10, 7, 20, 48, tzinfo=TZ)
    assert reminder_time(PLAN, dispatched, due) == yellow
    for now, expected in [
        (datetime(2026, 9, 30, 17, 30, tzinfo=TZ), Light.GREEN),
        (datetime(2026, 10, 4, 12, 0, tzinfo=TZ), Light.GREEN),
        (yellow - MICRO, Light.GREEN),
        (yellow, Light.YELLOW),
        (datetime(2026, 10, 8, 9, 0, tzinfo=TZ), Light.YELLOW),
        (due, Light.YELLOW),
        (due + MICRO, Light.RED),
    ]:
        assert light("accepted", due, yellow, now) is expected, now
        due_reminder = reminder_due(
            PLAN, due_at=due, dispatched_at=dispatched, reminded=False, fired=(), now=now
        )
        assert due_reminder == (expected is Light.YELLOW and now < due), now
