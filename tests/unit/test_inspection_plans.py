"""An inspection plan's windows on the working-day calendar: one per week (or month), opening
on the period's first working day, due at the end of its last; a week with no working day has
no window and a make-up Saturday counts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.core.calendar.rules import WorkingCalendar
from services.core.inspection.rules import windows

TZ = ZoneInfo("Asia/Shanghai")
END = time(17, 30)


def test_a_week_of_holiday_has_no_window_and_a_make_up_day_counts() -> None:
    # A calendar where the whole second week is off and its Saturday a make-up working day.
    week2 = [date(2026, 3, 9) + timedelta(days=i) for i in range(5)]
    calendar = WorkingCalendar({**dict.fromkeys(week2, False), date(2026, 3, 21): True})
    cut = windows("weekly", date(2026, 3, 2), date(2026, 3, 22), calendar, TZ, END)
    assert [(w.opens_at.date(), w.due_at.date()) for w in cut] == [
        (date(2026, 3, 2), date(2026, 3, 6)),
        (date(2026, 3, 16), date(2026, 3, 21)),
    ]
    assert cut[0].due_at == datetime(2026, 3, 6, 17, 30, tzinfo=TZ)
    monthly = windows("monthly", date(2026, 3, 2), date(2026, 4, 30), calendar, TZ, END)
    assert [(w.opens_at.date(), w.due_at.date()) for w in monthly] == [
        (date(2026, 3, 2), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 30)),
    ]
