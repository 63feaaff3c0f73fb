"""The lifecycle's use cases: dispatch, accept, submit, verify … each a transition checked by
the lifecycle table (rules.py), applied to the finding and recorded as one event.

Every function takes the session, flushes, and leaves the commit to the caller's boundary.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.plans import reschedule, resolve
from services.core.escalation.rules import Plan as Ladder
from services.core.evidence.attachments import claim, link
from services.core.evidence.attachments import summary as attachment_summary
from services.core.evidence.service import submission_photos, summary, union_flags
from services.core.findings.intake import IntakeTerms, intake_plan
from services.core.findings.queries import get_visible
from services.core.findings.rules import (
    SUSPENSION_ACTIONS,
    Action,
    Clock,
    FindingError,
    Plan,
    plan_for,
    time_limit_for,
)
from services.core.findings.spatial import Recurred
from services.core.findings.suspension import SuspensionTerms, open_suspension, settle_on_leaving
from services.core.findings.suspension import apply as apply_suspension
from services.core.identity.principal import Actor, Principal
from services.core.models import (
    CLOCK_RUNNING,
    Category,
    Event,
    ExposureVideo,
    Finding,
    FindingCoUnit,
    Status,
    Unit,
    UnitHandoff,
    User,
)
from services.core.platform.errors import Refusal
from services.core.reference.queries import district_of
from services.core.reference.snapshot import Reference


async def _unit_by_code(session: AsyncSession, code: str) -> Unit | None:
    return (await session.execute(select(Unit).where(Unit.code == code))).scalar_one_or_none()


def _event(
    finding_id: uuid.UUID,
    actor_id: int | None,
    action: str,
    from_status: str | None,
    to_status: str | None,
    at: datetime,
    **payload: Any,
) -> Event:
    clean = {k: v for k, v in payload.items() if v is not None}
    return Event(
        finding_id=finding_id,
        actor_id=actor_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        payload=json.loads(json.dumps(clean, default=str)),
        at=at,
    )


@dataclass(frozen=True)
class TransitionRequest:
    action: Action
    expected_version: int | None = None
    note: str | None = None
    unit: str | None = None
    due_at: datetime | None = None
    duplicate_of: uuid.UUID | None = None
    evidence: list[uuid.UUID] | None = None
    # dispatch, transfer: the co-handling units (协办) by code; None leaves them as they are.
    co_units: list[str] | None = None
    # Photos and files uploaded for this step (services/core/evidence/attachments.py).
    attachments: list[uuid.UUID] | None = None
    # request_suspension (and approve_suspension, to change it): why, and until when.
    reason: str | None = None
    resume_at: datetime | None = None


_NOTE_REQUIRED = frozenset(
    {
        Action.RETURN,
        Action.DENY_RETURN,
        Action.TRANSFER,
        Action.PROGRESS,
        Action.REJECT,
        Action.CLOSE_INVALID,
        Action.REQUEST_EXTENSION,
        Action.DENY_EXTENSION,
        Action.REQUEST_SUSPENSION,
        Action.REFUSE_SUSPENSION,
    }
)


async def _holds(session: AsyncSession, principal: Principal, unit_id: int | None) -> bool:
    if unit_id is None:
        return False
    unit = await session.get(Unit, unit_id)
    return unit is not None and unit.path.startswith(principal.unit_path)


async def _holds_co_unit(
    session: AsyncSession, principal: Principal, finding_id: uuid.UUID
) -> bool:
    """Whether one of the finding's co-handling units lies in the caller's own subtree."""
    found = await session.scalar(
        select(FindingCoUnit.unit_id)
        .join(Unit, Unit.id == FindingCoUnit.unit_id)
        .where(
            FindingCoUnit.finding_id == finding_id,
            Unit.path.startswith(principal.unit_path, autoescape=True),
        )
        .limit(1)
    )
    return found is not None


async def transition(
    session: AsyncSession,
    finding_id: uuid.UUID,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> Finding:
    finding = await get_visible(session, finding_id, principal, for_update=True)
    if finding is None:
        raise FindingError(404, f"No finding {finding_id} in your scope.")
    if request.expected_version is not None and request.expected_version != finding.version:
        raise FindingError(
            409,
            f"The finding has changed (version {finding.version}, you expected "
            f"{request.expected_version}); reload it and try again.",
            "expected_version",
        )
    actor = Actor(
        principal.user_id,
        principal.role,
        holds_responsible_unit=await _holds(session, principal, finding.responsible_unit_id),
        holds_co_unit=request.action is Action.PROGRESS
        and await _holds_co_unit(session, principal, finding.id),
    )
    suspension = await open_suspension(session, finding.id)
    plan = plan_for(
        request.action,
        finding,
        actor,
        suspension_pending=suspension is not None and suspension.state == "requested",
        resume_to=Status(suspension.resume_status or Status.ACCEPTED)
        if suspension is not None and suspension.state == "active"
        else Status.ACCEPTED,
    )
    if isinstance(plan, Refusal):
        raise FindingError(plan.status, plan.reason, "action")
    if request.action in _NOTE_REQUIRED and not request.note:
        raise FindingError(422, f"A note is required to {request.action.value}.", "note")
    files = await claim(session, finding.id, request.attachments or [], principal)
    payload = await _apply(session, finding, plan, request, principal, clock, ref)
    if files:
        payload["attachments"] = [attachment_summary(a) for a in files]
    payload |= await settle_on_leaving(
        session,
        finding,
        plan.to_status,
        clock.now,
        principal.user_id,
        to_another_unit=plan.action is Action.TRANSFER,
    )
    finding.status = plan.to_status
    if plan.to_status not in CLOCK_RUNNING:
        # Submitted or closed: nothing left to return.
        finding.return_requested_at = None
    finding.close_reason = plan.close_reason
    if plan.to_status is Status.CLOSED:
        finding.closed_at = clock.now
    finding.version += 1
    finding.updated_at = clock.now
    await reschedule(session, finding, clock.city)
    if plan.to_status is Status.CLOSED:
        await resolve(session, finding.id, clock.now)
    event = _event(
        finding.id,
        principal.user_id,
        plan.action.value,
        plan.from_status.value,
        plan.to_status.value,
        clock.now,
        note=request.note,
        **payload,
    )
    session.add(event)
    await session.flush()
    await link(session, files, event.id)
    return finding


async def _apply(
    session: AsyncSession,
    finding: Finding,
    plan: Plan,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> dict[str, Any]:
    """The side effects of one action on the finding's fields; returns the event payload."""
    action = plan.action
    if action in SUSPENSION_ACTIONS:
        terms = SuspensionTerms(request.reason, request.resume_at)
        return await apply_suspension(
            session, finding, action, terms, request.note, principal.user_id, clock.now, clock.city
        )
    if action is Action.DISPATCH:
        return await _dispatch(session, finding, request, principal, clock, ref)
    if action is Action.RETURN:
        # Only a request: the unit keeps the item, and its clock, until a dispatcher decides.
        finding.return_requested_at = clock.now
        return {}
    if action is Action.APPROVE_RETURN:
        return await _approve_return(session, finding, clock)
    if action is Action.DENY_RETURN:
        finding.return_requested_at = None
        return {}
    if action is Action.TRANSFER:
        return await _transfer(session, finding, request, principal, clock, ref)
    if action is Action.SUBMIT:
        return await _submit(session, finding, request, principal, clock)
    if action is Action.REJECT:
        # Rework does not earn more time: due_at stays as it was.
        finding.rework_count += 1
        return {"rework_count": finding.rework_count}
    if action is Action.MARK_DUPLICATE:
        return await _mark_duplicate(session, finding, request, principal)
    if action is Action.REQUEST_EXTENSION:
        until = _later_deadline(finding, request.due_at, clock)
        finding.extension_requested_until = until
        return {"requested_until": until}
    if action is Action.APPROVE_EXTENSION:
        until = _later_deadline(finding, request.due_at or finding.extension_requested_until, clock)
        previous = finding.due_at
        finding.due_at = until
        finding.extension_requested_until = None
        finding.extension_count += 1
        return {"due_at": until, "previous_due_at": previous}
    if action is Action.DENY_EXTENSION:
        denied = finding.extension_requested_until
        finding.extension_requested_until = None
        return {"denied_until": denied}
    if action is Action.CONFIRM_RECURRENCE:
        return await _confirm_recurrence(session, finding, clock, ref)
    if action is Action.DISMISS_RECURRENCE:
        dismissed, finding.possible_recurrence_of = finding.possible_recurrence_of, None
        return {"possible_recurrence_of": dismissed}
    return {}


def _handoff(
    session: AsyncSession,
    finding: Finding,
    kind: str,
    charged: Unit,
    to_unit: Unit | None,
    clock: Clock,
) -> None:
    """Count a transfer or an approved return against the unit that caused it."""
    session.add(
        UnitHandoff(
            finding_id=finding.id,
            unit_id=charged.id,
            kind=kind,
            to_unit_id=to_unit.id if to_unit else None,
            at=clock.now,
        )
    )


async def _return_reason(session: AsyncSession, finding: Finding) -> str | None:
    """The note of the unit's pending return request (its latest `return` event)."""
    return await session.scalar(
        select(Event.payload["note"].astext)
        .where(Event.finding_id == finding.id, Event.action == Action.RETURN.value)
        .order_by(Event.id.desc())
        .limit(1)
    )


async def _approve_return(session: AsyncSession, finding: Finding, clock: Clock) -> dict[str, Any]:
    """The return the unit asked for: the item goes back to the dispatch queue, and the
    return counts against the unit that returned it."""
    returned_by = await session.get(Unit, finding.responsible_unit_id or 0)
    assert returned_by is not None  # noqa: S101 - an item with a running clock has a unit
    reason = await _return_reason(session, finding)
    _handoff(session, finding, "return", returned_by, None, clock)
    finding.responsible_unit_id = None
    finding.dispatched_at = None
    finding.due_at = None
    finding.extension_requested_until = None
    finding.return_requested_at = None
    await session.execute(delete(FindingCoUnit).where(FindingCoUnit.finding_id == finding.id))
    return {"returned_by_unit": returned_by.code, "reason": reason}


async def _transfer(
    session: AsyncSession,
    finding: Finding,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> dict[str, Any]:
    """Move the item to another unit, which signs for it and gets the category's time anew
    (a segment keeps its video's deadline). Counted against the unit it was taken from; if
    that unit had asked to return it, the transfer grants the request and counts as its
    return instead."""
    previous = await session.get(Unit, finding.responsible_unit_id or 0)
    assert previous is not None  # noqa: S101 - a transferable item has a unit
    if request.unit == previous.code:
        raise FindingError(422, "Transfer to another unit than the one holding it.", "unit")
    returned = finding.return_requested_at is not None
    reason = await _return_reason(session, finding) if returned else None
    payload = await _dispatch(session, finding, request, principal, clock, ref)
    to_unit = await session.get(Unit, finding.responsible_unit_id or 0)
    _handoff(session, finding, "return" if returned else "transfer", previous, to_unit, clock)
    finding.submitted_at = None
    finding.submitted_by_id = None
    finding.extension_requested_until = None
    finding.return_requested_at = None
    extra = {"returned_by_unit": previous.code, "reason": reason} if returned else {}
    return {"from_unit": previous.code, **payload, **extra}


async def _set_co_units(
    session: AsyncSession, finding: Finding, codes: list[str], principal: Principal
) -> list[str]:
    """Replace the finding's co-handling units; the responsible unit is never its own."""
    units = []
    for code in dict.fromkeys(codes):
        unit = await _unit_by_code(session, code)
        if unit is None or not principal.covers(unit.path):
            raise FindingError(422, f"Unknown unit {code!r}.", "co_units")
        if unit.kind in ("city", "campaign_office", "discipline_commission"):
            raise FindingError(422, f"Unit {code!r} cannot co-handle.", "co_units")
        if unit.id == finding.responsible_unit_id:
            raise FindingError(422, f"{code!r} already leads this finding.", "co_units")
        units.append(unit)
    await session.execute(delete(FindingCoUnit).where(FindingCoUnit.finding_id == finding.id))
    for unit in units:
        session.add(FindingCoUnit(finding_id=finding.id, unit_id=unit.id))
    return [u.code for u in units]


async def _confirm_recurrence(
    session: AsyncSession, finding: Finding, clock: Clock, ref: Reference
) -> dict[str, Any]:
    """A dispatcher decides that the problem another unit rectified came back, and that it
    counts against the unit now responsible; a recurrence of an exposure-video problem then
    goes on from L3 of its ladder, as at intake. The deadline stays."""
    earlier, finding.possible_recurrence_of = finding.possible_recurrence_of, None
    finding.recurrence_of = earlier
    category = await session.get(Category, finding.category_id)
    assert category is not None  # noqa: S101 - a foreign key
    _, ladder = await dispatch_terms(session, finding, category, clock, ref)
    finding.escalation_plan = ladder.to_json()
    return {"recurrence_of": earlier}


async def _relink_recurrence(
    session: AsyncSession, finding: Finding, unit_id: int
) -> dict[str, Any]:
    """Dispatching decides the unit, and with it whether the problem rectified nearby was its
    own: a recurrence if so, else only a possible one (as at intake)."""
    earlier_id = finding.recurrence_of or finding.possible_recurrence_of
    if earlier_id is None:
        return {}
    earlier = await session.get(Finding, earlier_id)
    own = earlier is not None and earlier.responsible_unit_id == unit_id
    finding.recurrence_of = earlier_id if own else None
    finding.possible_recurrence_of = None if own else earlier_id
    return {
        "recurrence_of": finding.recurrence_of,
        "possible_recurrence_of": finding.possible_recurrence_of,
    }


async def _submit(
    session: AsyncSession,
    finding: Finding,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
) -> dict[str, Any]:
    """A rectification is claimed with after-photos taken since the unit took it on; the
    event records them and their flags for the verifier."""
    photos, unknown = await submission_photos(session, finding, request.evidence)
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        raise FindingError(
            422, f"Not after-photos uploaded for this rectification: {listed}.", "evidence"
        )
    if not photos:
        raise FindingError(
            422,
            "Upload at least one after-photo of the rectification first "
            f"(POST /api/v1/findings/{finding.id}/evidence with kind=after).",
            "evidence",
        )
    finding.submitted_at = clock.now
    finding.submitted_by_id = principal.user_id
    finding.extension_requested_until = None
    return {
        "evidence": [summary(p) for p in photos],
        "flags": union_flags(photos),
        "on_time": finding.due_at is None or clock.now <= finding.due_at,
    }


def _later_deadline(finding: Finding, until: datetime | None, clock: Clock) -> datetime:
    if until is None:
        raise FindingError(422, "Give the new deadline as due_at.", "due_at")
    floor = max(d for d in (finding.due_at, clock.now) if d is not None)
    if until <= floor:
        raise FindingError(
            422, "The new deadline must be later than the current one and than now.", "due_at"
        )
    return until


async def _dispatch(
    session: AsyncSession,
    finding: Finding,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> dict[str, Any]:
    if not request.unit:
        raise FindingError(422, "Name the responsible unit's code to dispatch to.", "unit")
    unit = await _unit_by_code(session, request.unit)
    if unit is None or not principal.covers(unit.path):
        raise FindingError(422, f"Unknown unit {request.unit!r}.", "unit")
    if unit.kind in ("city", "campaign_office", "discipline_commission"):
        raise FindingError(422, f"Unit {unit.code!r} cannot be made responsible.", "unit")
    category = await session.get(Category, finding.category_id)
    assert category is not None  # noqa: S101 - a foreign key
    finding.responsible_unit_id = unit.id
    finding.district_id = await district_of(session, unit)
    finding.dispatched_at = clock.now
    relinked = await _relink_recurrence(session, finding, unit.id)
    finding.due_at, ladder = await dispatch_terms(session, finding, category, clock, ref)
    finding.reminded_at = None
    # A new sign-for deadline (签收时限) runs from this dispatch.
    finding.accept_reminded_at = finding.accept_escalated_at = None
    finding.escalation_plan = ladder.to_json()
    co: dict[str, Any] = {}
    if request.co_units is not None:
        co["co_units"] = await _set_co_units(session, finding, request.co_units, principal)
    elif request.action is Action.TRANSFER:
        # The new lead may not co-handle its own finding.
        await session.execute(
            delete(FindingCoUnit).where(
                FindingCoUnit.finding_id == finding.id, FindingCoUnit.unit_id == unit.id
            )
        )
    return {"unit": unit.code, "due_at": finding.due_at, **relinked, **co}


async def _mark_duplicate(
    session: AsyncSession, finding: Finding, request: TransitionRequest, principal: Principal
) -> dict[str, Any]:
    if request.duplicate_of is None:
        raise FindingError(422, "Name the original finding as duplicate_of.", "duplicate_of")
    if request.duplicate_of == finding.id:
        raise FindingError(422, "A finding cannot duplicate itself.", "duplicate_of")
    original = await get_visible(session, request.duplicate_of, principal)
    if original is None:
        raise FindingError(422, "No such original finding in your scope.", "duplicate_of")
    finding.duplicate_of = original.id
    session.add(await _duplicate_reported(session, original, finding, principal))
    return {"duplicate_of": original.id}


async def _duplicate_reported(
    session: AsyncSession, original: Finding, duplicate: Finding, principal: Principal
) -> Event:
    """An event on the original's trail: another report of the same problem came in, so it
    counts for the original's reporter, who saw it first."""
    reporter = await session.get(User, duplicate.reporter_id)
    # No `at`: the transaction's time (the audit trail is ordered by id anyway).
    return Event(
        finding_id=original.id,
        actor_id=principal.user_id,
        action="duplicate_reported",
        from_status=None,
        to_status=None,
        payload={
            "duplicate": str(duplicate.id),
            "duplicate_reporter": reporter.username if reporter else None,
            "duplicate_reported_at": duplicate.reported_at.isoformat(),
        },
    )


async def dispatch_terms(
    session: AsyncSession, finding: Finding, category: Category, clock: Clock, ref: Reference
) -> tuple[datetime, Ladder]:
    """Deadline and plan of a finding dispatched by hand out of the queue, on the same terms
    the intake would have given it: a segment keeps its video's batch deadline and policy, a
    recurrence of an exposure-video problem starts at L3."""
    video = (
        await session.get(ExposureVideo, finding.exposure_video_id)
        if finding.exposure_video_id
        else None
    )
    original = await session.get(Finding, finding.recurrence_of) if finding.recurrence_of else None
    recurred = (
        Recurred(original.id, original.source, (original.escalation_plan or {}).get("policy"))
        if original is not None
        else None
    )
    terms = IntakeTerms(
        recurrence_window=timedelta(0),
        due_at=video.due_at if video else None,
        policy=video.policy_code if video else None,
    )
    ladder = intake_plan(ref, category.policy_code, terms, recurred)
    # An urgent finding takes the category's urgent limit (e.g. a continuous PT4H).
    limit = time_limit_for(finding.severity, category.time_limit, category.urgent_time_limit)
    return terms.due_at or clock.due(clock.now, limit), ladder
