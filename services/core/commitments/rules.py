"""The commitments ledger's rules (整改承诺台账) as pure functions over values: a pledged
deadline, a commitment's status, who may do what, the default ladder of an overdue
commitment. No I/O; `now` is always passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from services.core.calendar.deadlines import MAX_WORKING_DAYS, CityClock, add_working_days
from services.core.escalation.rules import Level, Plan
from services.core.identity.principal import Principal
from services.core.models import CHANNELS

# The escalation policy an admin may define to replace DEFAULT_LADDER (same shape as a
# finding's policy; its levels count from the commitment's deadline).
POLICY_CODE = "commitment"
# Default: the city leader in charge of the district at the deadline, the discipline
# commission five working days later. Every channel the addressee has.
DEFAULT_LADDER = Plan(
    policy=POLICY_CODE,
    levels=(
        Level(1, "city_leader", {"working_days": 0}, CHANNELS),
        Level(2, "discipline_commission", {"working_days": 5}, CHANNELS),
    ),
    reminder_at=None,
)
# At risk: in the last fifth of the time given with work still left, or behind the time
# elapsed by more than this many percentage points.
AT_RISK_FROM = 0.8
AT_RISK_LAG = 25
# Who keeps the ledger: the campaign office's staff roles (the office's dispatchers) and
# admins.
OFFICE_ROLES = frozenset({"dispatcher", "admin"})
REPORTING_ROLES = frozenset({"unit_handler", "leader"})


class CommitmentStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    DONE = "done"


STATUSES = tuple(CommitmentStatus)


def status(
    *, accepted: bool, percent: int, start: datetime, due_at: datetime, now: datetime
) -> CommitmentStatus:
    """Done only once the office accepted it; overdue past the deadline; at risk when time is
    running out or progress lags the time elapsed; else on track."""
    if accepted:
        return CommitmentStatus.DONE
    if now > due_at:
        return CommitmentStatus.OVERDUE
    span = (due_at - start).total_seconds()
    elapsed = (now - start).total_seconds() / span if span > 0 else 1.0
    if (elapsed >= AT_RISK_FROM and percent < 100) or percent + AT_RISK_LAG < elapsed * 100:
        return CommitmentStatus.AT_RISK
    return CommitmentStatus.ON_TRACK


@dataclass(frozen=True)
class Deadline:
    """As pledged: a calendar date, or N working days from the meeting."""

    on: date | None = None
    working_days: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.on is not None:
            return {"date": self.on.isoformat()}
        return {"working_days": self.working_days}


def parse_deadline(value: Mapping[str, Any]) -> tuple[Deadline | None, list[tuple[str, str]]]:
    """A deadline body, or the problems with it as (field, message)."""
    keys = set(value) & {"date", "working_days"}
    if len(keys) != 1 or len(value) != 1:
        return None, [("deadline", 'exactly one of {"date": "YYYY-MM-DD"} or {"working_days": N}')]
    if "date" in value:
        raw = value["date"]
        try:
            return Deadline(on=raw if isinstance(raw, date) else date.fromisoformat(str(raw))), []
        except ValueError:
            return None, [("deadline.date", "a date YYYY-MM-DD")]
    n = value["working_days"]
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_WORKING_DAYS:
        return None, [("deadline.working_days", f"a whole number 1..{MAX_WORKING_DAYS}")]
    return Deadline(working_days=n), []


def due_at(deadline: Deadline, held_on: date, clock: CityClock) -> datetime:
    """The end of the working day on the date pledged, or of the Nth working day after the
    meeting."""
    if deadline.on is not None:
        return datetime.combine(deadline.on, clock.end_of_day, tzinfo=clock.tz).astimezone(UTC)
    start = datetime.combine(held_on, clock.end_of_day, tzinfo=clock.tz)
    days = deadline.working_days or 0
    return add_working_days(start, days, clock.calendar, tz=clock.tz, end_of_day=clock.end_of_day)


def deadline_errors(due: datetime, held_on: date, tz: Any) -> list[tuple[str, str]]:
    if due.astimezone(tz).date() < held_on:
        return [("deadline", "must not lie before the meeting")]
    return []


def is_office(principal: Principal) -> bool:
    return principal.role in OFFICE_ROLES


def may_report(principal: Principal, unit_path: str) -> bool:
    """A handler or leader of the unit (or above it in the tree) reports its progress."""
    return (
        principal.role in REPORTING_ROLES
        and not principal.city_wide
        and unit_path.startswith(principal.unit_path)
    )


def may_take_charge(principal: Principal) -> bool:
    """Only a leader (a person holding a leader's account) takes personal charge."""
    return principal.role == "leader" and principal.person_id is not None


def accepts(review: str, percent: int) -> bool:
    """The office accepting a report at 100 % is what makes the commitment done."""
    return review == "accepted" and percent == 100
