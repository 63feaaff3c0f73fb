"""The ledger's clock and the follow-up of a 批示: pure rules, table-driven."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.core.accountability.rules import (
    CommitmentFigures,
    CommitmentLedgerEscalation,
    by_holder,
    follow_up_state,
    shares,
)
from services.core.calendar.deadlines import CityClock, OfficeHours, working_hours_between
from services.core.calendar.rules import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
OFFICE = CityClock(WorkingCalendar(), TZ, time(17, 30), OfficeHours(time(8, 30), time(18)))
WHOLE_DAYS = CityClock(WorkingCalendar(), TZ, time(17, 30), None)


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("start", "end", "clock", "hours"),
    [
        (t(11, 9, 10), t(11, 9, 14), OFFICE, 4.0),  # within one working day
        (t(11, 13, 16), t(11, 16, 9, 30), OFFICE, 3.0),  # Friday afternoon to Monday
        (t(11, 13, 20), t(11, 16, 8), OFFICE, 0.0),  # over the weekend, outside hours
        (t(11, 9, 14), t(11, 11, 10), OFFICE, 15.0),  # 4 + 9.5 + 1.5
        # National Day 2026: 1-7 October off; Saturday 10 October a make-up working day.
        (t(9, 30, 17), t(10, 8, 9), OFFICE, 1.5),
        (t(10, 9, 18), t(10, 10, 9, 30), OFFICE, 1.0),
        (t(11, 13, 12), t(11, 16, 12), WHOLE_DAYS, 24.0),  # Friday noon to Monday noon
        (t(11, 16, 12), t(11, 16, 11), OFFICE, 0.0),  # backwards: nothing
    ],
)
def test_working_hours_count_only_office_hours_of_working_days(
    start: datetime, end: datetime, clock: CityClock, hours: float
) -> None:
    assert working_hours_between(start, end, clock) == pytest.approx(hours)


@pytest.mark.parametrize(
    ("rectified", "now", "state"),
    [
        (t(11, 11, 10), t(12, 1, 0), "met"),
        (t(11, 12, 17, 30), t(12, 1, 0), "met"),  # at the deadline
        (t(11, 13, 9), t(12, 1, 0), "missed"),  # rectified, but late
        (None, t(12, 1, 0), "missed"),
        (None, t(11, 12, 9), "pending"),
    ],
)
def test_a_follow_up_is_met_missed_or_pending(
    rectified: datetime | None, now: datetime, state: str
) -> None:
    assert follow_up_state(t(11, 12, 17, 30), rectified, now) == state


def pledge_row(eid: int, commitment: int, level: int, person: int, day: int, **over: object) -> Any:
    base = {"escalation_id": eid, "commitment_id": commitment, "level": level,
            "fired_at": t(11, day, 10), "person_id": person, "person_name": f"p{person}",
            "unit_id": 1, "unit_name": "市南区", "role": "head", "delivered": True,
            "opened": False, "still_open": True, "last_level_at": None}  # fmt: skip
    return CommitmentLedgerEscalation(**(base | over))  # type: ignore[arg-type]


def test_a_commitments_escalations_are_counted_beside_the_findings_per_holder() -> None:
    rows = [
        pledge_row(1, 10, 1, 7, 9, opened=True, last_level_at=t(11, 19, 10)),
        pledge_row(2, 10, 2, 8, 19, last_level_at=t(11, 19, 10)),
        pledge_row(3, 11, 2, 8, 20, delivered=False, still_open=False, last_level_at=t(11, 20, 10)),
    ]
    first, second = shares([], by_holder, OFFICE, t(12, 1, 0), rows)
    assert (first.person_id, second.person_id) == (7, 8)
    # No finding reached them: the findings' figures stay empty, the commitments' beside.
    assert (second.figures.received, second.figures.by_level) == (0, {})
    assert second.figures.commitments == CommitmentFigures(2, {2: 2}, 1, 0, 1)
    assert first.figures.commitments == CommitmentFigures(1, {1: 1}, 1, 1, 1)
    assert [r.escalation_id for r in second.commitment_escalations] == [2, 3]
