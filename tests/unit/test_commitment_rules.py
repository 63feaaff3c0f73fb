"""The commitments ledger's rules: a pledged deadline, the status of a commitment, its
default ladder; table-driven, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.core.calendar.deadlines import CityClock
from services.core.calendar.rules import WorkingCalendar
from services.core.commitments.rules import (
    DEFAULT_LADDER,
    CommitmentStatus,
    Deadline,
    due_at,
    parse_deadline,
    status,
)
from services.core.escalation.rules import Timetable

TZ = ZoneInfo("Asia/Shanghai")
CLOCK = CityClock(WorkingCalendar(), TZ, time(17, 30))
START = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
DUE = START + timedelta(days=10)


@pytest.mark.parametrize(
    ("accepted", "percent", "now", "expected"),
    [
        (False, 0, START + timedelta(days=1), CommitmentStatus.ON_TRACK),
        (False, 50, START + timedelta(days=5), CommitmentStatus.ON_TRACK),
        # behind the time elapsed by more than 25 points
        (False, 20, START + timedelta(days=5), CommitmentStatus.AT_RISK),
        (False, 26, START + timedelta(days=5), CommitmentStatus.ON_TRACK),
        # the last fifth of the time with work left
        (False, 95, START + timedelta(days=8), CommitmentStatus.AT_RISK),
        (False, 100, START + timedelta(days=9), CommitmentStatus.ON_TRACK),
        (False, 100, DUE, CommitmentStatus.ON_TRACK),
        (False, 100, DUE + timedelta(seconds=1), CommitmentStatus.OVERDUE),
        # only the office's acceptance makes it done, even overdue
        (True, 100, DUE + timedelta(days=3), CommitmentStatus.DONE),
        (True, 60, START, CommitmentStatus.DONE),
    ],
)
def test_status(accepted: bool, percent: int, now: datetime, expected: CommitmentStatus) -> None:
    assert status(accepted=accepted, percent=percent, start=START, due_at=DUE, now=now) == expected


@pytest.mark.parametrize(
    ("body", "deadline", "field"),
    [
        ({"date": "2026-12-31"}, Deadline(on=date(2026, 12, 31)), None),
        ({"working_days": 10}, Deadline(working_days=10), None),
        ({"working_days": 0}, None, "deadline.working_days"),
        ({"working_days": True}, None, "deadline.working_days"),
        ({"date": "31.12.2026"}, None, "deadline.date"),
        ({"date": "2026-12-31", "working_days": 3}, None, "deadline"),
        ({}, None, "deadline"),
    ],
)
def test_parse_deadline(
    body: dict[str, object], deadline: Deadline | None, field: str | None
) -> None:
    parsed, errors = parse_deadline(body)
    assert parsed == deadline
    assert [f for f, _ in errors] == ([field] if field else [])


def test_due_at_counts_working_days_from_the_meeting() -> None:
    # Friday 2026-12-04; five working days on: Friday 2026-12-11, end of the working day.
    due = due_at(Deadline(working_days=5), date(2026, 12, 4), CLOCK)
    assert due == datetime(2026, 12, 11, 17, 30, tzinfo=TZ).astimezone(UTC)
    on = due_at(Deadline(on=date(2026, 12, 20)), date(2026, 12, 4), CLOCK)
    assert on.astimezone(TZ) == datetime(2026, 12, 20, 17, 30, tzinfo=TZ)


def test_default_ladder_city_leader_at_due_commission_five_working_days_later() -> None:
    due = datetime(2026, 12, 4, 17, 30, tzinfo=TZ)  # a Friday
    table = Timetable.of(DEFAULT_LADDER, due, CLOCK)
    assert [(lv.level, lv.target) for lv, _ in table.times] == [
        (1, "city_leader"),
        (2, "discipline_commission"),
    ]
    assert [lv.level for lv, _ in table.due(set(), due - timedelta(seconds=1))] == []
    assert [lv.level for lv, _ in table.due(set(), due)] == [1]
    l2 = datetime(2026, 12, 11, 17, 30, tzinfo=TZ)
    assert [lv.level for lv, _ in table.due({1}, l2 - timedelta(seconds=1))] == []
    assert [lv.level for lv, _ in table.due({1}, l2)] == [2]
    # once per level: nothing more once both fired
    assert table.due({1, 2}, l2 + timedelta(days=30)) == []
    assert table.next_time(dispatched_at=None, fired={1, 2}, reminded=True) is None
