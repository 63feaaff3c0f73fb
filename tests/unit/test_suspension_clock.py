"""The clock arithmetic of suspension (挂账), urgent limits and the sign-for deadline (签收时限):
pure, on the official calendar (National Day 2026: Oct 1–7 off, Saturday Oct 10 a make-up
working day)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.core.calendar.deadlines import (
    CityClock,
    OfficeHours,
    add_working_hours,
    resumed_due_at,
    working_days_between,
)
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation.rules import Light
from services.core.findings.rules import accept_due_at, accept_light, time_limit_for
from services.core.reference.rules import accept_within_errors, urgent_time_limit_errors

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()
OFFICE = OfficeHours(time(8, 30), time(17, 30))
CITY = CityClock(CAL, SHANGHAI, time(17, 30), OFFICE)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def shown(at: datetime | None) -> str:
    assert at is not None
    assert at.tzinfo is UTC
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def resumed(due: str, paused: str, resumed_at: str, *, continuous: bool = False) -> str:
    return shown(
        resumed_due_at(
            local(due),
            local(paused),
            local(resumed_at),
            continuous=continuous,
            cal=CAL,
            tz=SHANGHAI,
        )
    )


@pytest.mark.parametrize(
    ("due", "paused", "resumed_at", "expected"),
    [
        # Tue Sep 29 to Fri Oct 9 took Sep 30, Oct 8 and Oct 9: the holiday week counts nothing,
        # and three working days after Sep 30 end on the make-up Saturday Oct 10.
        ("2026-09-30 17:30", "2026-09-29 10:00", "2026-10-09 10:00", "2026-10-10 17:30"),
        # Suspended over the holiday alone: nothing taken, the deadline stays.
        ("2026-10-09 17:30", "2026-09-30 18:00", "2026-10-07 20:00", "2026-10-09 17:30"),
        # Within one day: nothing taken.
        ("2026-11-20 17:30", "2026-11-16 09:00", "2026-11-16 16:00", "2026-11-20 17:30"),
        # A month (Nov 2 to Dec 2, 2026: 22 working days) moves a Nov 6 deadline 22 working
        # days on, to Tue Dec 8.
        ("2026-11-06 17:30", "2026-11-02 09:00", "2026-12-02 09:00", "2026-12-08 17:30"),
        # Overdue when suspended: as overdue after as before (2 working days taken).
        ("2026-11-02 17:30", "2026-11-04 10:00", "2026-11-06 10:00", "2026-11-04 17:30"),
    ],
)
def test_resumption_gives_back_the_working_days_the_suspension_took(
    due: str, paused: str, resumed_at: str, expected: str
) -> None:
    assert resumed(due, paused, resumed_at) == expected


def test_a_continuous_clock_gets_back_the_time_itself() -> None:
    got = resumed("2026-10-01 12:00", "2026-10-01 10:00", "2026-10-03 11:30", continuous=True)
    assert got == "2026-10-03 13:30"


def test_working_days_between_counts_only_working_days_after_the_start_day() -> None:
    # Ten days, of which Oct 8, Oct 9 and the make-up Saturday Oct 10 are working days.
    assert (
        working_days_between(local("2026-09-30 09:00"), local("2026-10-10 09:00"), CAL, tz=SHANGHAI)
        == 3
    )
    assert (
        working_days_between(local("2026-10-10 09:00"), local("2026-10-10 18:00"), CAL, tz=SHANGHAI)
        == 0
    )


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        ("2026-11-16 09:00", 2, "2026-11-16 11:00"),
        # Friday 17:00: half an hour left that day, the rest on Monday morning.
        ("2026-11-20 17:00", 2, "2026-11-23 10:00"),
        # In the evening: from the next opening.
        ("2026-11-16 20:00", 2, "2026-11-17 10:30"),
        # Just before the National Day holiday: the rest on Oct 8, the next working day.
        ("2026-09-30 17:00", 1, "2026-10-08 09:00"),
        # More than a working day's hours.
        ("2026-11-16 08:30", 10, "2026-11-17 09:30"),
    ],
)
def test_working_hours_count_office_hours_of_working_days(
    start: str, hours: float, expected: str
) -> None:
    assert (
        shown(add_working_hours(local(start), hours, CAL, tz=SHANGHAI, office=OFFICE)) == expected
    )


def test_sign_for_deadline_and_its_own_light() -> None:
    dispatched = local("2026-11-20 17:00")
    due = accept_due_at(dispatched, {"working_hours": 2}, CITY)
    assert shown(due) == "2026-11-23 10:00"
    assert accept_due_at(dispatched, {"duration": "PT2H"}, CITY) == dispatched + timedelta(hours=2)
    assert accept_due_at(dispatched, None, CITY) is None
    assert due is not None
    assert accept_light("assigned", due, due - timedelta(minutes=1)) is Light.GREEN
    assert accept_light("assigned", due, due + timedelta(minutes=1)) is Light.RED
    # Signed for: the track is done, whatever the time.
    assert accept_light("accepted", due, due + timedelta(days=3)) is None


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"working_hours": 0}, "accept_within.working_hours"),
        ({"working_hours": True}, "accept_within.working_hours"),
        ({"duration": "2 hours"}, "accept_within.duration"),
        ({"days": 1}, "accept_within"),
        ("PT2H", "accept_within"),
    ],
)
def test_a_bad_sign_for_deadline_names_its_field(value: object, field: str) -> None:
    assert [f for f, _ in accept_within_errors(value)] == [field]
    assert accept_within_errors({"working_hours": 2}) == []


def test_a_bad_urgent_limit_names_its_field() -> None:
    assert urgent_time_limit_errors({"duration": "PT4H"}) == []
    assert urgent_time_limit_errors(None) == []
    assert [f for f, _ in urgent_time_limit_errors({"duration": "soon"})] == [
        "urgent_time_limit.duration"
    ]
    assert [f for f, _ in urgent_time_limit_errors({"hours": 4})] == ["urgent_time_limit"]


def test_urgent_findings_take_the_urgent_limit_when_the_category_has_one() -> None:
    normal, urgent = {"working_days": 3}, {"duration": "PT4H"}
    assert time_limit_for("urgent", normal, urgent) == urgent
    assert time_limit_for("normal", normal, urgent) == normal
    assert time_limit_for("urgent", normal, None) == normal
