"""Deadline arithmetic: working days on the official calendar, its fallback, the
continuous clock, and the end-of-day boundary."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.core.calendar.deadlines import (
    add_working_days,
    due_at,
    parse_duration,
    parse_end_of_day,
)
from services.core.calendar.rules import COUNTED_DAYS_KEPT, WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
EOD = time(17, 30)
CAL = WorkingCalendar()


def local(text: str) -> datetime:
    """'2026-09-30 10:00' in Qingdao."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def due(start: str, n: int, cal: WorkingCalendar = CAL) -> str:
    result = add_working_days(local(start), n, cal, tz=SHANGHAI, end_of_day=EOD)
    assert result.tzinfo is UTC
    return result.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # National Day 2026: Oct 1–7 off; Saturday Oct 10 is a make-up working day.
        ("2026-09-30 10:00", 1, "2026-10-08 17:30"),
        ("2026-09-30 10:00", 2, "2026-10-09 17:30"),
        ("2026-09-30 10:00", 3, "2026-10-10 17:30"),
        ("2026-09-30 10:00", 4, "2026-10-12 17:30"),
        ("2026-09-30 10:00", 5, "2026-10-13 17:30"),
        # Sunday Sep 20 is worked; Mid-autumn Sep 25–27 is off.
        ("2026-09-18 09:00", 1, "2026-09-20 17:30"),
        ("2026-09-24 09:00", 1, "2026-09-28 17:30"),
        # Dispatched during the holiday: counting starts after the dispatch day.
        ("2026-10-03 11:00", 1, "2026-10-08 17:30"),
        ("2026-10-03 11:00", 3, "2026-10-10 17:30"),
        # Spring Festival 2026: Feb 15–23 off; Saturdays Feb 14 and Feb 28 worked.
        ("2026-02-12 10:00", 1, "2026-02-13 17:30"),
        ("2026-02-12 10:00", 2, "2026-02-14 17:30"),
        ("2026-02-12 10:00", 3, "2026-02-24 17:30"),
        ("2026-02-13 16:00", 2, "2026-02-24 17:30"),
        ("2026-02-12 10:00", 7, "2026-02-28 17:30"),
        ("2026-02-12 10:00", 8, "2026-03-02 17:30"),
        ("2026-02-27 10:00", 1, "2026-02-28 17:30"),
        # New Year 2027 on the fallback: Jan 1 (Friday) is skipped, then the weekend.
        ("2026-12-29 10:00", 1, "2026-12-30 17:30"),
        ("2026-12-29 10:00", 2, "2026-12-31 17:30"),
        ("2026-12-29 10:00", 3, "2027-01-04 17:30"),
        ("2026-12-31 10:00", 1, "2027-01-04 17:30"),
        ("2026-12-29 10:00", 10, "2027-01-13 17:30"),
        # Labour Day on the fallback: May 1–2, 2029 are a Tuesday and Wednesday.
        ("2029-04-30 10:00", 1, "2029-05-03 17:30"),
        # Ordinary weeks.
        ("2026-06-01 10:00", 5, "2026-06-08 17:30"),
        ("2026-06-05 10:00", 1, "2026-06-08 17:30"),
    ],
)
def test_working_days(start: str, n: int, expected: str) -> None:
    assert due(start, n) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Late in the evening still counts from that date, not the next one.
        ("2026-09-29 23:00", "2026-09-30 17:30"),
        ("2026-09-29 23:59", "2026-09-30 17:30"),
        ("2026-09-29 00:00", "2026-09-30 17:30"),
        # Past the end of the working day makes no difference either.
        ("2026-09-29 18:00", "2026-09-30 17:30"),
        # Just after local midnight it is already the next date.
        ("2026-09-30 00:01", "2026-10-08 17:30"),
    ],
)
def test_end_of_day_boundary(start: str, expected: str) -> None:
    assert due(start, 1) == expected


def test_local_date_not_utc_date() -> None:
    # 16:30 UTC on Sep 29 is 00:30 on Sep 30 in Qingdao: the holiday starts right after.
    start = datetime(2026, 9, 29, 16, 30, tzinfo=UTC)
    result = add_working_days(start, 1, CAL, tz=SHANGHAI, end_of_day=EOD)
    assert result == datetime(2026, 10, 8, 9, 30, tzinfo=UTC)


def test_end_of_day_is_configurable() -> None:
    result = add_working_days(local("2026-09-30 10:00"), 1, CAL, tz=SHANGHAI, end_of_day=time(18))
    assert result.astimezone(SHANGHAI) == local("2026-10-08 18:00")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-09-30 10:00", "2026-09-30 17:30"),  # a working day, before its end
        ("2026-09-30 17:30", "2026-09-30 17:30"),
        ("2026-09-30 18:00", "2026-10-08 17:30"),  # already past: next working day
        ("2026-10-03 10:00", "2026-10-08 17:30"),  # a holiday
    ],
)
def test_zero_working_days_means_end_of_todays_work(start: str, expected: str) -> None:
    assert due(start, 0) == expected


@pytest.mark.parametrize(
    ("overrides", "start", "n", "expected"),
    [
        # A typhoon day off pushes the deadline.
        ({"2026-10-08": False}, "2026-09-30 10:00", 1, "2026-10-09 17:30"),
        # A local order to work during the holiday pulls it in.
        ({"2026-10-02": True}, "2026-09-30 10:00", 1, "2026-10-02 17:30"),
        # Overrides fill the gap of the fallback year: 2027 Spring Festival announced locally.
        ({"2027-02-08": False, "2027-02-09": False}, "2027-02-05 10:00", 1, "2027-02-10 17:30"),
    ],
)
def test_overrides(overrides: dict[str, bool], start: str, n: int, expected: str) -> None:
    cal = WorkingCalendar({datetime.fromisoformat(d).date(): w for d, w in overrides.items()})
    assert due(start, n, cal) == expected


def test_a_calendars_counts_are_its_own() -> None:
    # Counts are remembered per calendar: a snapshot with a new override counts afresh, and
    # the old snapshot keeps its own answer.
    assert due("2026-09-30 10:00", 1) == "2026-10-08 17:30"
    typhoon = WorkingCalendar({datetime(2026, 10, 8).date(): False})
    assert due("2026-09-30 10:00", 1, typhoon) == "2026-10-09 17:30"
    assert due("2026-09-30 10:00", 1) == "2026-10-08 17:30"


def test_remembered_counts_are_bounded_and_stay_right() -> None:
    cal = WorkingCalendar()
    start = local("2026-01-01 10:00")
    for offset in range(COUNTED_DAYS_KEPT + 100):
        day = start + timedelta(days=offset % 2000)
        add_working_days(day, 1 + offset // 2000, cal, tz=SHANGHAI, end_of_day=EOD)
    assert len(cal._counted) <= COUNTED_DAYS_KEPT
    assert due("2026-09-30 10:00", 5, cal) == "2026-10-13 17:30"
    assert due("2026-02-12 10:00", 8, cal) == "2026-03-02 17:30"


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        add_working_days(datetime(2026, 9, 30, 10), 1, CAL, tz=SHANGHAI, end_of_day=EOD)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(local("2026-09-30 10:00"), -1, CAL, tz=SHANGHAI, end_of_day=EOD)


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        # The continuous clock ignores nights, weekends and holidays.
        ("2026-09-30 22:30", {"duration": "PT2H"}, "2026-10-01 00:30"),
        ("2026-10-01 09:00", {"duration": "P1D"}, "2026-10-02 09:00"),
        ("2026-10-01 09:00", {"duration": "PT2S"}, "2026-10-01 09:00:02"),
        ("2026-10-01 09:00", {"duration": "PT30M"}, "2026-10-01 09:30"),
        ("2026-02-14 08:00", {"duration": "P1DT12H"}, "2026-02-15 20:00"),
        ("2026-09-30 10:00", {"working_days": 3}, "2026-10-10 17:30"),
        ("2026-12-29 10:00", {"working_days": 3}, "2027-01-04 17:30"),
    ],
)
def test_due_at(start: str, limit: dict[str, object], expected: str) -> None:
    result = due_at(local(start), limit, CAL, tz=SHANGHAI, end_of_day=EOD)
    assert result.tzinfo is UTC
    assert result == datetime.fromisoformat(expected).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "limit",
    [
        {},
        {"working_days": 2, "duration": "PT2H"},
        {"working_days": 0},
        {"working_days": -1},
        {"working_days": 366},
        {"working_days": True},
        {"working_days": "2"},
        {"duration": 7200},
        {"duration": "2 hours"},
        {"days": 2},
    ],
)
def test_due_at_rejects_bad_limits(limit: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"working_days|duration"):
        due_at(local("2026-09-30 10:00"), limit, CAL, tz=SHANGHAI, end_of_day=EOD)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("PT2S", timedelta(seconds=2)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("P1D", timedelta(days=1)),
        ("P2W", timedelta(weeks=2)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
        ("PT90M", timedelta(minutes=90)),
        ("pt2h", timedelta(hours=2)),
        ("P365D", timedelta(days=365)),
        (" PT2H ", timedelta(hours=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1DT", "2H", "PT-2H", "-PT2H", "PT0S", "P0D", "P1M", "P1Y", "PT1.5H",
     "P366D", "P99999999999D", "P1D1H", "PT2H30", "P1H"],
)  # fmt: skip
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|zero|longer|too long"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "expected"), [("17:30", time(17, 30)), ("08:00", time(8))])
def test_parse_end_of_day(text: str, expected: time) -> None:
    assert parse_end_of_day(text) == expected


@pytest.mark.parametrize("text", ["24:00", "17:60", "1730", "5:30 pm", ""])
def test_parse_end_of_day_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_end_of_day(text)
