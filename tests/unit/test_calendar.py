"""The working-day calendar: official data, the Monday–Friday fallback, overrides."""

from __future__ import annotations

from datetime import date

import pytest
import structlog

from services.core.calendar.rules import (
    WorkingCalendar,
    is_notable,
    official_coverage,
)
from tests.helpers import official_years

CAL = WorkingCalendar()


@pytest.mark.parametrize(
    ("day", "working", "kind", "name", "source"),
    [
        # 2026 National Day: Oct 1–7 off, Sunday Sep 20 and Saturday Oct 10 worked instead.
        (date(2026, 10, 1), False, "holiday", "National Day", "official"),
        (date(2026, 10, 7), False, "holiday", "National Day", "official"),
        (date(2026, 10, 8), True, "workday", None, "official"),
        (date(2026, 10, 10), True, "makeup_workday", "National Day", "official"),
        (date(2026, 9, 20), True, "makeup_workday", "National Day", "official"),
        (date(2026, 10, 11), False, "weekend", None, "official"),
        # 2026 Spring Festival: Feb 15–23 off; Saturdays Feb 14 and Feb 28 worked.
        (date(2026, 2, 14), True, "makeup_workday", "Spring Festival", "official"),
        (date(2026, 2, 16), False, "holiday", "Spring Festival", "official"),
        (date(2026, 2, 23), False, "holiday", "Spring Festival", "official"),
        (date(2026, 2, 24), True, "workday", None, "official"),
        (date(2026, 2, 28), True, "makeup_workday", "Spring Festival", "official"),
        # 2027 is not in the package yet: Monday–Friday minus the fixed-date holidays.
        (date(2027, 1, 1), False, "holiday", "New Year's Day", "fallback"),
        (date(2027, 1, 4), True, "workday", None, "fallback"),
        (date(2027, 1, 9), False, "weekend", None, "fallback"),
        (date(2029, 5, 1), False, "holiday", "Labour Day", "fallback"),
        (date(2029, 5, 2), False, "holiday", "Labour Day", "fallback"),
        (date(2029, 5, 3), True, "workday", None, "fallback"),
        (date(2027, 10, 1), False, "holiday", "National Day", "fallback"),
        # The fallback cannot know lunar holidays: Spring Festival 2027 is an ordinary week.
        (date(2027, 2, 8), True, "workday", None, "fallback"),
    ],
)
def test_day_info(day: date, working: bool, kind: str, name: str | None, source: str) -> None:
    info = CAL.info(day)
    assert (info.day, info.working, info.kind, info.name, info.source) == (
        day,
        working,
        kind,
        name,
        source,
    )
    assert CAL.is_working_day(day) is working


def test_chinese_names() -> None:
    assert CAL.info(date(2026, 10, 1)).name_zh == "国庆节"
    assert CAL.info(date(2026, 2, 14)).name_zh == "春节"
    assert CAL.info(date(2027, 1, 1)).name_zh == "元旦"


def test_coverage_comes_from_the_package() -> None:
    first, last = official_years()
    assert first <= 2026 <= last
    assert CAL.covers(2026)
    assert not CAL.covers(last + 1)
    assert not CAL.covers(first - 1)


@pytest.mark.parametrize(
    ("overrides", "day", "working", "kind"),
    [
        ({date(2026, 10, 5): True}, date(2026, 10, 5), True, "makeup_workday"),
        ({date(2026, 10, 8): False}, date(2026, 10, 8), False, "holiday"),
        ({date(2026, 10, 8): True}, date(2026, 10, 8), True, "workday"),
        ({date(2027, 1, 1): True}, date(2027, 1, 1), True, "makeup_workday"),
        ({date(2027, 1, 4): False}, date(2027, 1, 4), False, "holiday"),
        ({date(2027, 2, 13): True}, date(2027, 2, 13), True, "makeup_workday"),
    ],
)
def test_overrides_win(overrides: dict[date, bool], day: date, working: bool, kind: str) -> None:
    cal = WorkingCalendar(overrides, notes={day: "市政府通知"})
    info = cal.info(day)
    assert (info.working, info.kind, info.source, info.note) == (
        working,
        kind,
        "override",
        "市政府通知",
    )
    assert cal.is_working_day(day) is working
    # Overrides affect only their own day.
    assert cal.info(day.replace(day=day.day + 1)).source != "override"


def test_override_keeps_the_holiday_name() -> None:
    info = WorkingCalendar({date(2026, 10, 5): True}).info(date(2026, 10, 5))
    assert info.name == "National Day"


def test_notable_days_of_2026() -> None:
    notable = {i.day: i.kind for i in CAL.year_days(2026) if is_notable(i)}
    assert notable[date(2026, 10, 10)] == "makeup_workday"
    assert notable[date(2026, 10, 3)] == "holiday"
    assert date(2026, 10, 8) not in notable
    assert date(2026, 10, 11) not in notable  # a plain Sunday


def test_working_day_count_of_a_fallback_year() -> None:
    # 2027: 261 weekdays, minus Jan 1 (Fri), Oct 1 (Fri); May 1–2 and Oct 2–3 are weekends.
    assert sum(i.working for i in CAL.year_days(2027)) == 259


def test_readiness_reports_the_gap() -> None:
    first, last = official_years()
    covered = official_coverage(date(last - 1, 6, 1))
    assert covered["ok"] is True
    assert covered["fallback_years"] == []
    gap = official_coverage(date(last, 12, 1))
    assert gap["ok"] is False
    assert gap["fallback_years"] == [last + 1]
    assert gap["official_years"] == [first, last]
    assert str(last + 1) in str(gap["detail"])


def test_fallback_warns_once_per_year() -> None:
    with structlog.testing.capture_logs() as logs:
        WorkingCalendar().is_working_day(date(2091, 3, 1))
        WorkingCalendar().is_working_day(date(2091, 3, 2))
        WorkingCalendar().is_working_day(date(2092, 3, 1))
        WorkingCalendar().is_working_day(date(2026, 3, 1))
    warned = [e["year"] for e in logs if e["event"] == "calendar_fallback"]
    assert warned == [2091, 2092]
    assert all(e["log_level"] == "warning" for e in logs)
