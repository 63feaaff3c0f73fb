"""The escalation ladder as pure functions: just before, at and after every level."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.core.calendar.deadlines import CityClock
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation.rules import (
    Level,
    Plan,
    Timetable,
    level_time,
    next_time,
    reminder_due,
    validate_levels,
)

TZ = ZoneInfo("Asia/Shanghai")
CLOCK = CityClock(WorkingCalendar(), TZ, time(17, 30))
SECOND = timedelta(seconds=1)


def due_levels(
    plan: Plan, due_at: datetime, fired: set[int], now: datetime, clock: CityClock
) -> list[Level]:
    """The levels the sweep fires at `now`: its timetable's due levels, without the times."""
    return [lv for lv, _ in Timetable.of(plan, due_at, clock).due(fired, now)]


DEFAULT = Plan(
    "default",
    (
        Level(1, "unit_head", {"working_days": 0}),
        Level(2, "district_head", {"working_days": 2}),
        Level(3, "city_leader", {"working_days": 5}),
        Level(4, "discipline_commission", {"working_days": 10}),
    ),
)
FAST = Plan(
    "fast",
    tuple(
        Level(i + 1, t, {"duration": f"PT{2 * i}S"})
        for i, t in enumerate(
            ("unit_head", "district_head", "city_leader", "discipline_commission")
        )
    ),
)
# Due on Friday 2026-11-20 17:30. Working days after it: Mon 23, Tue 24 (L2), … Fri 27 (L3),
# then Mon 30, Tue Dec 1 … Fri Dec 4 (L4 = 10th working day).
DUE = datetime(2026, 11, 20, 17, 30, tzinfo=TZ)
LEVEL_TIMES = {
    1: DUE,
    2: datetime(2026, 11, 24, 17, 30, tzinfo=TZ),
    3: datetime(2026, 11, 27, 17, 30, tzinfo=TZ),
    4: datetime(2026, 12, 4, 17, 30, tzinfo=TZ),
}


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_working_day_ladder_just_before_at_and_after(level: int) -> None:
    at = LEVEL_TIMES[level]
    fired_before = set(range(1, level))
    assert [lv.level for lv in due_levels(DEFAULT, DUE, fired_before, at - SECOND, CLOCK)] == []
    assert [lv.level for lv in due_levels(DEFAULT, DUE, fired_before, at, CLOCK)] == [level]
    after = due_levels(DEFAULT, DUE, fired_before, at + SECOND, CLOCK)
    assert [lv.level for lv in after] == [level]


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_continuous_ladder_just_before_at_and_after(level: int) -> None:
    due = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
    at = due + timedelta(seconds=2 * (level - 1))
    fired = set(range(1, level))
    assert due_levels(FAST, due, fired, at - SECOND / 2, CLOCK) == []
    assert [lv.level for lv in due_levels(FAST, due, fired, at, CLOCK)] == [level]


def test_twelve_working_days_late_fires_every_level_in_order() -> None:
    late = datetime(2026, 12, 8, 18, 0, tzinfo=TZ)
    assert [lv.level for lv in due_levels(DEFAULT, DUE, set(), late, CLOCK)] == [1, 2, 3, 4]


def test_fired_levels_never_fire_again() -> None:
    late = datetime(2026, 12, 8, 18, 0, tzinfo=TZ)
    assert due_levels(DEFAULT, DUE, {1, 2, 3, 4}, late, CLOCK) == []
    assert [lv.level for lv in due_levels(DEFAULT, DUE, {1, 3}, late, CLOCK)] == [2, 4]


def test_next_time_walks_up_the_ladder_then_stops() -> None:
    def after(fired: set[int]) -> datetime | None:
        return next_time(
            DEFAULT, due_at=DUE, dispatched_at=None, fired=fired, reminded=True, clock=CLOCK
        )

    assert after(set()) == LEVEL_TIMES[1]
    assert after({1}) == LEVEL_TIMES[2]
    assert after({1, 2, 3}) == LEVEL_TIMES[4]
    assert after({1, 2, 3, 4}) is None


def test_extension_moves_the_unfired_levels() -> None:
    extended = DUE + timedelta(days=7)  # Friday 2026-11-27
    late_for_old = LEVEL_TIMES[2] + SECOND
    assert due_levels(DEFAULT, extended, {1}, late_for_old, CLOCK) == []
    nxt = next_time(
        DEFAULT, due_at=extended, dispatched_at=None, fired={1}, reminded=True, clock=CLOCK
    )
    assert nxt == datetime(2026, 12, 1, 17, 30, tzinfo=TZ)


def test_rework_keeps_the_deadline_and_resumes_where_it_stopped() -> None:
    # L1 fired, then the unit submitted (ladder paused), verification failed three working
    # days later: the ladder resumes at once with L2, which is overdue by then.
    resumed_at = datetime(2026, 11, 25, 9, 0, tzinfo=TZ)
    assert [lv.level for lv in due_levels(DEFAULT, DUE, {1}, resumed_at, CLOCK)] == [2]


def test_exposure_recurrence_starts_at_level_three() -> None:
    plan = Plan(DEFAULT.policy, DEFAULT.levels, start_level=3)
    late = datetime(2026, 12, 8, 18, 0, tzinfo=TZ)
    assert [lv.level for lv in due_levels(plan, DUE, set(), late, CLOCK)] == [3, 4]


def test_reminder_at_eighty_percent_of_the_time_limit() -> None:
    dispatched = DUE - timedelta(hours=10)
    at = dispatched + timedelta(hours=8)

    def due(now: datetime, reminded: bool = False) -> bool:
        return reminder_due(
            DEFAULT,
            due_at=DUE,
            dispatched_at=dispatched,
            fired=set(),
            reminded=reminded,
            now=now,
        )

    assert not due(at - SECOND)
    assert due(at)
    assert not due(at, reminded=True)
    assert not due(DUE)
    nxt = next_time(
        DEFAULT, due_at=DUE, dispatched_at=dispatched, fired=set(), reminded=False, clock=CLOCK
    )
    assert nxt == at


def test_plan_survives_its_json_snapshot() -> None:
    assert Plan.from_json(DEFAULT.to_json()) == DEFAULT
    assert Plan.from_json(FAST.to_json()) == FAST


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        ([{"level": 1, "target": "mayor", "after": {"working_days": 0}}], "levels[0].target"),
        ([{"level": 0, "target": "unit_head", "after": {"working_days": 0}}], "levels[0].level"),
        (
            [{"level": 1, "target": "unit_head", "after": {"working_days": -1}}],
            "levels[0].after.working_days",
        ),
        (
            [{"level": 1, "target": "unit_head", "after": {"duration": "soon"}}],
            "levels[0].after.duration",
        ),
        ([{"level": 1, "target": "unit_head", "after": {}}], "levels[0].after"),
        (
            [
                {"level": 1, "target": "unit_head", "after": {"working_days": 0}},
                {"level": 1, "target": "city_leader", "after": {"working_days": 1}},
            ],
            "levels[1].level",
        ),
    ],
)
def test_validate_levels_names_the_field(levels: list[dict[str, object]], field: str) -> None:
    assert [f for f, _ in validate_levels(levels)] == [field]


def test_zero_duration_is_a_valid_offset() -> None:
    assert (
        validate_levels([{"level": 1, "target": "unit_head", "after": {"duration": "PT0S"}}]) == []
    )


def test_a_timetable_holds_each_level_time_once_and_answers_like_the_ladder() -> None:
    # The sweep builds one timetable per (plan, due_at) and shares it between findings.
    table = Timetable.of(DEFAULT, DUE, CLOCK)
    assert {lv.level: at for lv, at in table.times} == LEVEL_TIMES
    assert all(at == level_time(lv, DUE, CLOCK) for lv, at in table.times)
    for now in (DUE - SECOND, DUE, LEVEL_TIMES[3] + SECOND, LEVEL_TIMES[4] + SECOND):
        for fired in (set(), {1}, {1, 2}, {1, 2, 3, 4}):
            due = table.due(fired, now)
            expected_levels = [n for n, at in LEVEL_TIMES.items() if n not in fired and at <= now]
            assert [lv.level for lv, _ in due] == expected_levels
            assert all(at == LEVEL_TIMES[lv.level] for lv, at in due)
            for reminded in (False, True):
                dispatched = DUE - timedelta(days=5)
                expected = next_time(
                    DEFAULT,
                    due_at=DUE,
                    dispatched_at=dispatched,
                    fired=fired,
                    reminded=reminded,
                    clock=CLOCK,
                )
                got = table.next_time(dispatched_at=dispatched, fired=fired, reminded=reminded)
                assert got == expected


def test_a_timetable_starts_at_the_plans_start_level() -> None:
    recurrence = Plan(DEFAULT.policy, DEFAULT.levels, start_level=3)
    table = Timetable.of(recurrence, DUE, CLOCK)
    assert [lv.level for lv, _ in table.times] == [3, 4]
    assert [lv.level for lv, _ in table.due(set(), LEVEL_TIMES[4])] == [3, 4]
