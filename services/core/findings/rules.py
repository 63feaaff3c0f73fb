"""The finding lifecycle (DESIGN §4) as a table: which action moves which state, and who may.

Pure: no I/O. The persistence layer asks `plan_transition` and applies what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from services.core.calendar.deadlines import (
    CityClock,
    OfficeHours,
    add_working_hours,
    due_at,
    parse_duration,
    resumed_due_at,
)
from services.core.escalation.rules import Light, light
from services.core.identity.principal import Actor
from services.core.models import CLOCK_RUNNING, OPEN, Status
from services.core.platform.errors import DomainError, Refusal


class Action(StrEnum):
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    SUBMIT = "submit"
    VERIFY = "verify"
    REJECT = "reject"
    CLOSE_INVALID = "close_invalid"
    MARK_DUPLICATE = "mark_duplicate"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    CONFIRM_RECURRENCE = "confirm_recurrence"
    DISMISS_RECURRENCE = "dismiss_recurrence"
    APPROVE_RETURN = "approve_return"
    DENY_RETURN = "deny_return"
    TRANSFER = "transfer"
    PROGRESS = "progress"
    REQUEST_SUSPENSION = "request_suspension"
    APPROVE_SUSPENSION = "approve_suspension"
    REFUSE_SUSPENSION = "refuse_suspension"
    RESUME = "resume"


S = Status
A = Action

# (action) -> ({from states}, to state or None for "stays where it is")
EDGES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    A.DISPATCH: (frozenset({S.REPORTED}), S.ASSIGNED),
    A.ACCEPT: (frozenset({S.ASSIGNED}), S.ACCEPTED),
    # A unit asks to return an item (回退); it leaves only when a dispatcher approves.
    A.RETURN: (CLOCK_RUNNING, None),
    A.APPROVE_RETURN: (CLOCK_RUNNING, S.REPORTED),
    A.DENY_RETURN: (CLOCK_RUNNING, None),
    # A dispatcher moves an item a unit holds to another unit (转办), which signs for it anew.
    A.TRANSFER: (frozenset({S.ASSIGNED, S.ACCEPTED, S.SUBMITTED}), S.ASSIGNED),
    # The lead unit (主办) or a co-handling unit (协办) records how the work goes.
    A.PROGRESS: (CLOCK_RUNNING, None),
    A.SUBMIT: (frozenset({S.ACCEPTED}), S.SUBMITTED),
    A.VERIFY: (frozenset({S.SUBMITTED}), S.CLOSED),
    A.REJECT: (frozenset({S.SUBMITTED}), S.ACCEPTED),
    A.CLOSE_INVALID: (OPEN, S.CLOSED),
    A.MARK_DUPLICATE: (OPEN, S.CLOSED),
    A.REQUEST_EXTENSION: (CLOCK_RUNNING, None),
    A.APPROVE_EXTENSION: (CLOCK_RUNNING, None),
    A.DENY_EXTENSION: (CLOCK_RUNNING, None),
    # A possible recurrence counts against the unit responsible once confirmed: it needs one.
    A.CONFIRM_RECURRENCE: (frozenset({S.ASSIGNED, S.ACCEPTED, S.SUBMITTED}), None),
    A.DISMISS_RECURRENCE: (OPEN, None),
    # 挂账: the unit asks while its clock runs; the office's approval stops clock and ladder.
    A.REQUEST_SUSPENSION: (CLOCK_RUNNING, None),
    A.APPROVE_SUSPENSION: (CLOCK_RUNNING, S.SUSPENDED),
    A.REFUSE_SUSPENSION: (CLOCK_RUNNING, None),
    # Back to the state it was suspended from (`resume_to`), assigned or accepted.
    A.RESUME: (frozenset({S.SUSPENDED}), None),
}

CLOSE_REASON: dict[Action, str] = {
    A.VERIFY: "rectified",
    A.CLOSE_INVALID: "invalid",
    A.MARK_DUPLICATE: "duplicate",
}

# Who may take each action. Unit actions additionally need the responsible unit (the lead
# unit, 主办) in the caller's subtree, progress the lead or a co-handling unit (协办);
# verification must be independent: never of one's own submission, nor of a unit in one's
# own subtree.
ROLES: dict[Action, frozenset[str]] = {
    A.DISPATCH: frozenset({"dispatcher"}),
    A.CLOSE_INVALID: frozenset({"dispatcher"}),
    A.MARK_DUPLICATE: frozenset({"dispatcher"}),
    A.APPROVE_EXTENSION: frozenset({"dispatcher"}),
    A.DENY_EXTENSION: frozenset({"dispatcher"}),
    A.CONFIRM_RECURRENCE: frozenset({"dispatcher"}),
    A.DISMISS_RECURRENCE: frozenset({"dispatcher"}),
    A.APPROVE_RETURN: frozenset({"dispatcher"}),
    A.DENY_RETURN: frozenset({"dispatcher"}),
    A.TRANSFER: frozenset({"dispatcher"}),
    A.PROGRESS: frozenset({"unit_handler"}),
    A.APPROVE_SUSPENSION: frozenset({"dispatcher"}),
    A.REFUSE_SUSPENSION: frozenset({"dispatcher"}),
    # By hand: the office, or the unit once the obstacle is gone before the expected date.
    A.RESUME: frozenset({"dispatcher", "unit_handler"}),
    A.REQUEST_SUSPENSION: frozenset({"unit_handler"}),
    A.ACCEPT: frozenset({"unit_handler"}),
    A.RETURN: frozenset({"unit_handler"}),
    A.SUBMIT: frozenset({"unit_handler"}),
    A.REQUEST_EXTENSION: frozenset({"unit_handler"}),
    A.VERIFY: frozenset({"verifier"}),
    A.REJECT: frozenset({"verifier"}),
}
UNIT_ACTIONS = frozenset(
    {A.ACCEPT, A.RETURN, A.SUBMIT, A.REQUEST_EXTENSION, A.REQUEST_SUSPENSION, A.RESUME}
)
SUSPENSION_DECISIONS = frozenset({A.APPROVE_SUSPENSION, A.REFUSE_SUSPENSION})
SUSPENSION_ACTIONS = frozenset({A.REQUEST_SUSPENSION, A.RESUME, *SUSPENSION_DECISIONS})
VERIFY_ACTIONS = frozenset({A.VERIFY, A.REJECT})
RECURRENCE_DECISIONS = frozenset({A.CONFIRM_RECURRENCE, A.DISMISS_RECURRENCE})
RETURN_DECISIONS = frozenset({A.APPROVE_RETURN, A.DENY_RETURN})


@dataclass(frozen=True)
class Plan:
    action: Action
    from_status: Status
    to_status: Status
    close_reason: str | None


def plan_transition(
    action: Action,
    status: Status,
    actor: Actor,
    *,
    submitted_by: int | None = None,
    extension_pending: bool = False,
    recurrence_pending: bool = False,
    return_pending: bool = False,
    suspension_pending: bool = False,
    resume_to: Status = S.ACCEPTED,
) -> Plan | Refusal:
    """The plan of `action` on a finding in `status`, or why not. `suspension_pending`: a
    request to suspend waits for the office; `resume_to`: where a suspended finding goes back
    to (the status it was suspended from)."""
    if actor.role not in ROLES[action]:
        allowed = ", ".join(sorted(ROLES[action]))
        return Refusal(403, f"Only {allowed} may {action.value}; you are {actor.role}.")
    # The office resumes any suspension; a unit handler only one of their own unit.
    unit_only = action in UNIT_ACTIONS and (action is not A.RESUME or actor.role == "unit_handler")
    if unit_only and not actor.holds_responsible_unit:
        return Refusal(403, f"Only a handler of the responsible unit may {action.value}.")
    if action is A.PROGRESS and not (actor.holds_responsible_unit or actor.holds_co_unit):
        return Refusal(403, "Only a handler of the lead or a co-handling unit may add progress.")
    if action in VERIFY_ACTIONS and submitted_by is not None and submitted_by == actor.user_id:
        return Refusal(403, "A verifier may not verify their own submission.")
    if action in VERIFY_ACTIONS and actor.holds_responsible_unit:
        return Refusal(
            403, "A verifier may not verify a submission of their own unit or a unit below it."
        )
    sources, target = EDGES[action]
    if status not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        return Refusal(
            409, f"Cannot {action.value} a finding that is {status.value} (only {allowed})."
        )
    if action is A.REQUEST_EXTENSION and extension_pending:
        return Refusal(409, "An extension request is already pending.")
    if action in (A.APPROVE_EXTENSION, A.DENY_EXTENSION) and not extension_pending:
        return Refusal(409, "There is no pending extension request.")
    if action in RECURRENCE_DECISIONS and not recurrence_pending:
        return Refusal(409, "There is no possible recurrence to decide.")
    if action is A.RETURN and return_pending:
        return Refusal(409, "A return request is already pending.")
    if action in RETURN_DECISIONS and not return_pending:
        return Refusal(409, "There is no pending return request.")
    if action is A.REQUEST_SUSPENSION and suspension_pending:
        return Refusal(409, "A suspension request is already pending.")
    if action in SUSPENSION_DECISIONS and not suspension_pending:
        return Refusal(409, "There is no pending suspension request.")
    if action is A.RESUME:
        target = resume_to
    return Plan(action, status, target or status, CLOSE_REASON.get(action))


class FindingState(Protocol):
    """What the lifecycle table reads off a finding besides the actor (a Finding row)."""

    @property
    def status(self) -> str: ...

    @property
    def submitted_by_id(self) -> int | None: ...

    @property
    def extension_requested_until(self) -> datetime | None: ...

    @property
    def possible_recurrence_of(self) -> object | None: ...

    @property
    def return_requested_at(self) -> datetime | None: ...


def plan_for(
    action: Action,
    finding: FindingState,
    actor: Actor,
    *,
    suspension_pending: bool = False,
    resume_to: Status = S.ACCEPTED,
) -> Plan | Refusal:
    """`plan_transition` with the finding's status and pending requests read off the row:
    the transition and the buttons that offer it ask the same question."""
    return plan_transition(
        action,
        Status(finding.status),
        actor,
        submitted_by=finding.submitted_by_id,
        extension_pending=finding.extension_requested_until is not None,
        recurrence_pending=finding.possible_recurrence_of is not None,
        return_pending=finding.return_requested_at is not None,
        suspension_pending=suspension_pending,
        resume_to=resume_to,
    )


class FindingError(DomainError):
    """A lifecycle or intake rule refused the request."""


@dataclass(frozen=True)
class Clock:
    """The current instant and what deadline arithmetic needs to know about the city."""

    now: datetime
    city: CityClock

    @property
    def tz(self) -> ZoneInfo:
        return self.city.tz

    def due(self, start: datetime, limit: dict[str, Any]) -> datetime:
        city = self.city
        return due_at(start, limit, city.calendar, tz=city.tz, end_of_day=city.end_of_day)


class Timed(Protocol):
    """What a finding's traffic light is read from (a stored row, or one just written)."""

    @property
    def status(self) -> str: ...

    @property
    def due_at(self) -> datetime | None: ...

    @property
    def yellow_at(self) -> datetime | None: ...


def light_of(finding: Timed, now: datetime) -> Light | None:
    """The finding's traffic light at `now` (services.core.escalation.rules `light`): green,
    yellow past its reminder fraction, red past due; None while its clock does not run. The
    lists filter on the same rule in SQL (services.core.escalation.queries `light_clause`)."""
    return light(finding.status, finding.due_at, finding.yellow_at, now)


def time_limit_for(
    severity: str, limit: Mapping[str, Any], urgent_limit: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The limit a finding is given at dispatch: an urgent one takes the category's urgent
    limit (e.g. a continuous PT4H) when it has one, else the normal limit."""
    if severity == "urgent" and urgent_limit:
        return dict(urgent_limit)
    return dict(limit)


def continuous(limit: Mapping[str, Any]) -> bool:
    return "duration" in limit


# The working hours a sign-for deadline counts when office hours are "always".
DEFAULT_WORKING_HOURS_OPEN = time(8, 30)


def accept_due_at(
    dispatched_at: datetime | None, accept_within: Mapping[str, Any] | None, city: CityClock
) -> datetime | None:
    """The sign-for deadline (签收时限) of an item dispatched at `dispatched_at`: a plain
    duration, or working hours within the office hours of working days."""
    if dispatched_at is None or not accept_within:
        return None
    if "duration" in accept_within:
        return dispatched_at + parse_duration(str(accept_within["duration"]))
    office = city.hours or OfficeHours(DEFAULT_WORKING_HOURS_OPEN, city.end_of_day)
    hours = float(accept_within["working_hours"])
    return add_working_hours(dispatched_at, hours, city.calendar, tz=city.tz, office=office)


def accept_light(status: str, accept_due: datetime | None, now: datetime) -> Light | None:
    """The sign-for track's own light: red once an assigned item is past its sign-for
    deadline, green before; None once accepted (or without a deadline)."""
    if status != Status.ASSIGNED or accept_due is None:
        return None
    return Light.RED if accept_due < now else Light.GREEN


def resumed_deadline(
    due: datetime | None,
    paused_from: datetime,
    resumed_at: datetime,
    *,
    on_continuous: bool,
    city: CityClock,
) -> datetime | None:
    """The deadline after a suspension ends (calendar.deadlines `resumed_due_at`)."""
    if due is None:
        return None
    return resumed_due_at(
        due, paused_from, resumed_at, continuous=on_continuous, cal=city.calendar, tz=city.tz
    )
