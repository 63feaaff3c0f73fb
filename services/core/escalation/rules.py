"""The escalation ladder (DESIGN §6) as pure functions: which levels are due, and when next.

A plan is the policy snapshotted onto a finding at dispatch. Level times count from the
finding's due_at, either in working days (on the working-day calendar, ending at the end of
the working day) or as a plain duration. No I/O; `now` is always passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.core.calendar.deadlines import CityClock, add_working_days, parse_duration
from services.core.models import CLOCK_RUNNING

TARGETS = ("unit_head", "district_head", "city_leader", "discipline_commission")
DEFAULT_REMINDER_AT = 0.8
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Level:
    level: int
    target: str
    after: Mapping[str, Any]  # {"working_days": N} or {"duration": "PT2H"}; from due_at
    channels: tuple[str, ...] = ("inbox",)


@dataclass(frozen=True)
class Plan:
    policy: str
    levels: tuple[Level, ...]
    reminder_at: float | None = DEFAULT_REMINDER_AT
    # A recurrence of an exposure-video problem starts higher up the ladder.
    start_level: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "reminder_at": self.reminder_at,
            "start_level": self.start_level,
            "levels": [
                {
                    "level": lv.level,
                    "target": lv.target,
                    "after": dict(lv.after),
                    "channels": list(lv.channels),
                }
                for lv in self.levels
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        levels = tuple(
            Level(
                int(lv["level"]),
                str(lv["target"]),
                dict(lv["after"]),
                tuple(lv.get("channels", ("inbox",))),
            )
            for lv in data["levels"]
        )
        return cls(
            policy=str(data["policy"]),
            levels=tuple(sorted(levels, key=lambda lv: lv.level)),
            reminder_at=data.get("reminder_at"),
            start_level=int(data.get("start_level", 1)),
        )


def level_time(level: Level, due_at: datetime, clock: CityClock) -> datetime:
    """When a level fires: its offset counted from the deadline."""
    if "working_days" in level.after:
        days = int(level.after["working_days"])
        if days == 0:
            return due_at
        return add_working_days(
            due_at, days, clock.calendar, tz=clock.tz, end_of_day=clock.end_of_day
        )
    return due_at + parse_duration(str(level.after["duration"]), allow_zero=True)


def reminder_time(plan: Plan, dispatched_at: datetime, due_at: datetime) -> datetime | None:
    """The pre-due reminder: at `reminder_at` of the time the unit was given."""
    if plan.reminder_at is None or not 0 < plan.reminder_at < 1 or due_at <= dispatched_at:
        return None
    return dispatched_at + (due_at - dispatched_at) * plan.reminder_at


class Light(StrEnum):
    """The traffic light (红黄绿灯) of a finding whose rectification clock runs."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def yellow_time(
    reminder_at: object, dispatched_at: datetime | None, due_at: datetime | None
) -> datetime | None:
    """When the light turns yellow: `reminder_at` (the plan's reminder fraction; 80 % when it
    has none, or none in (0, 1)) of the time from dispatch to due, the instant the pre-due
    reminder is due. The deadline itself when there was no time to give (no dispatch time, or
    due at or before it); None without a deadline.

    The database computes the stored column (`findings.yellow_at`, migration 0019) with the
    same arithmetic: whole microseconds, the fraction rounded to thousandths, the product
    rounded down, so both give the same instant to the microsecond."""
    if due_at is None:
        return None
    if dispatched_at is None or due_at <= dispatched_at:
        return due_at
    fraction = (
        float(reminder_at)
        if isinstance(reminder_at, int | float)
        and not isinstance(reminder_at, bool)
        and 0 < reminder_at < 1
        else DEFAULT_REMINDER_AT
    )
    span = (due_at - dispatched_at) // _MICROSECOND
    return dispatched_at + _MICROSECOND * (span * round(fraction * 1000) // 1000)


def light(
    status: str, due_at: datetime | None, yellow_at: datetime | None, now: datetime
) -> Light | None:
    """The light of a finding at `now`: red past due, yellow from `yellow_at` on, else green.
    None while its clock does not run: reported (no deadline yet), submitted (stopped, the
    verifier's turn; a rejection brings the light back with the same deadline), closed."""
    if status not in CLOCK_RUNNING or due_at is None:
        return None
    if due_at < now:
        return Light.RED
    if yellow_at is not None and yellow_at <= now:
        return Light.YELLOW
    return Light.GREEN


def active_levels(plan: Plan) -> list[Level]:
    return [lv for lv in plan.levels if lv.level >= plan.start_level]


@dataclass(frozen=True)
class Timetable:
    """A plan's active levels with their times for one deadline. Counting working days is the
    costly part of the ladder, and a sweep batch holds thousands of findings that share a
    handful of (plan, due_at) pairs, so it builds one timetable per pair and reuses it."""

    plan: Plan
    due_at: datetime
    times: tuple[tuple[Level, datetime], ...]

    @classmethod
    def of(cls, plan: Plan, due_at: datetime, clock: CityClock) -> Timetable:
        times = tuple((lv, level_time(lv, due_at, clock)) for lv in active_levels(plan))
        return cls(plan, due_at, times)

    def due(self, fired: Collection[int], now: datetime) -> list[tuple[Level, datetime]]:
        """Every level not yet fired whose time has come, lowest first, with its time."""
        return [(lv, at) for lv, at in self.times if lv.level not in fired and at <= now]

    def next_time(
        self, *, dispatched_at: datetime | None, fired: Collection[int], reminded: bool
    ) -> datetime | None:
        """The next moment the sweep must look at the finding (None: nothing left)."""
        candidates = [at for lv, at in self.times if lv.level not in fired]
        if not reminded and dispatched_at is not None:
            reminder = reminder_time(self.plan, dispatched_at, self.due_at)
            if reminder is not None:
                candidates.append(reminder)
        return min(candidates) if candidates else None


def next_time(
    plan: Plan,
    *,
    due_at: datetime,
    dispatched_at: datetime | None,
    fired: Collection[int],
    reminded: bool,
    clock: CityClock,
) -> datetime | None:
    """The next moment the sweep must look at this finding (None: nothing left to do)."""
    return Timetable.of(plan, due_at, clock).next_time(
        dispatched_at=dispatched_at, fired=fired, reminded=reminded
    )


def reminder_due(
    plan: Plan,
    *,
    due_at: datetime,
    dispatched_at: datetime | None,
    reminded: bool,
    fired: Collection[int],
    now: datetime,
) -> bool:
    """A reminder is worth sending only before the deadline and before any escalation."""
    if reminded or dispatched_at is None or fired or now >= due_at:
        return False
    at = reminder_time(plan, dispatched_at, due_at)
    return at is not None and at <= now


def validate_levels(levels: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Problems with a ladder as (field, message); empty when it is sound."""
    errors: list[tuple[str, str]] = []
    seen: set[int] = set()
    for i, lv in enumerate(levels):
        number = lv.get("level")
        if not isinstance(number, int) or not 1 <= number <= 9 or number in seen:
            errors.append((f"levels[{i}].level", "a unique level number from 1 to 9"))
        else:
            seen.add(number)
        if lv.get("target") not in TARGETS:
            errors.append((f"levels[{i}].target", f"one of {', '.join(TARGETS)}"))
        after = lv.get("after")
        if not isinstance(after, Mapping) or len(after) != 1:
            errors.append((f"levels[{i}].after", '{"working_days": N} or {"duration": "PT2H"}'))
            continue
        if "working_days" in after:
            days = after["working_days"]
            if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
                errors.append((f"levels[{i}].after.working_days", "a whole number 0..365"))
        elif "duration" in after:
            try:
                parse_duration(str(after["duration"]), allow_zero=True)
            except ValueError as exc:
                errors.append((f"levels[{i}].after.duration", str(exc)))
        else:
            errors.append((f"levels[{i}].after", '{"working_days": N} or {"duration": "PT2H"}'))
    return errors
