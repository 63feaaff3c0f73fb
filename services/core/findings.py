"""Findings: intake (idempotent on the client's id), dispatch and lifecycle transitions.

Every function takes the session, flushes, and leaves the commit to the caller's boundary.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.callers import Known
from services.core.db import Connections
from services.core.deadlines import CityClock, due_at
from services.core.errors import DomainError
from services.core.escalation import Plan as Ladder
from services.core.escalation import next_time
from services.core.escalation_store import UnknownPolicy, reschedule, resolve
from services.core.evidence import submission_photos, summary, union_flags
from services.core.intake_store import (
    Fresh,
    NewEvent,
    insert_finding,
    look_around_and_write,
)
from services.core.lifecycle import Action, Actor, Plan, Refusal, Status, plan_transition
from services.core.models import Category, Event, ExposureVideo, Finding, Unit, User
from services.core.principal import Principal
from services.core.reference import CategoryInfo, Reference, UnitInfo
from services.core.routing import district_of
from services.core.scope import hidden_findings, links_of, visible_findings
from services.core.sources import SOURCE_RULES, Way, source_refusal
from services.core.spatial import Recurred


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


@dataclass(frozen=True)
class NewFinding:
    id: uuid.UUID
    source: str
    category: str
    severity: str
    description: str
    lat: float
    lon: float
    address: str | None
    unit: str | None
    point_type: str | None
    observed_at: datetime
    # The canonical request, hashed with the reporter: a replay must match it exactly.
    canonical: dict[str, Any] = field(repr=False)


Outcome = Literal["created", "replayed", "conflict"]


def request_hash(canonical: dict[str, Any], reporter_id: int) -> str:
    blob = json.dumps([reporter_id, canonical], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


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
class Reported:
    # As stored: read back for a replay, as written for a new finding.
    finding: Finding | Fresh
    outcome: Outcome
    # Open findings of the category nearby that the reporter may see (DESIGN §7).
    possible_duplicates: list[uuid.UUID]
    # The findings it links to that the reporter may not see: the answer does not name them.
    hidden: frozenset[uuid.UUID] = frozenset()


def _category(ref: Reference, code: str) -> CategoryInfo:
    category = ref.category_codes.get(code)
    if category is None or not category.active:
        raise FindingError(422, f"Unknown category {code!r}.", "category")
    return category


def _check_source(new: NewFinding, reporter: Principal, terms: IntakeTerms) -> None:
    """The source is a claim the caller must be entitled to (services/core/sources.py): 403
    naming `source` if not. An exposure-video segment comes in with its video's id."""
    way = Way.EXPOSURE_VIDEO if terms.exposure_video_id is not None else Way.REPORT
    refusal = source_refusal(new.source, reporter, way)
    if refusal is not None:
        raise FindingError(403, refusal, "source")
    if SOURCE_RULES[new.source].own_unit and new.unit is None:
        raise FindingError(
            422, f"A {new.source} finding names the unit assessed: your own or one below.", "unit"
        )


def _place(ref: Reference, code: str | None, reporter: Principal) -> UnitInfo | None:
    if code is None:
        return None
    place = ref.unit_codes.get(code)
    if place is None:
        raise FindingError(422, f"Unknown unit {code!r}.", "unit")
    if not reporter.covers(place.path):
        raise FindingError(422, f"Unit {code!r} is outside your area.", "unit")
    return place


async def report(
    conns: Connections,
    new: NewFinding,
    reporter: Principal,
    clock: Clock,
    terms: IntakeTerms,
    ref: Reference,
    *,
    confirm: Known | None = None,
) -> Reported:
    """Store a reported finding and route it, or recognise a replay of one already stored.
    A finding near one of its category that its responsible unit rectified within the
    recurrence window is recorded as its recurrence; near one another unit rectified (or any,
    when no rule routes it), as a possible recurrence for a dispatcher to decide. An
    exposure-video segment takes the video's deadline and policy.

    One statement (services/core/intake_store.py): the look-up, and the write behind it
    unless the id is taken or the finding is a recurrence, possible or not, which a second
    statement writes; everything else comes from the reference snapshot `ref`. Each is
    atomic on its own: outside a transaction (a single report) it commits by itself, inside
    one (a batch, an exposure video) it joins it. With `confirm`, the reporter as
    remembered, which the first statement confirms before it writes (CallerChangedError if
    it cannot). First of all, the source claimed must be the reporter's to claim."""
    _check_source(new, reporter, terms)
    digest = request_hash(new.canonical, reporter.user_id)
    category = _category(ref, new.category)
    place = _place(ref, new.unit, reporter)
    responsible = ref.route(category, place) if place is not None else None
    intake = _Intake(new, reporter, clock, terms, ref, category, place, responsible, digest)
    # Written as a first report: most are, and a recurrence is known only once looked up.
    fresh, events = intake.row(recurred=None, possible=None)
    nearby = await look_around_and_write(
        await conns.driver(),
        fresh,
        events,
        confirm=confirm,
        finding_id=new.id,
        category_id=category.id,
        lat=new.lat,
        lon=new.lon,
        radius_m=category.duplicate_radius_m,
        closed_since=clock.now - terms.recurrence_window,
        caller=reporter,
        responsible_unit_id=responsible.id if responsible is not None else None,
    )
    if nearby.taken_hash is not None:
        return await _stored(await conns.orm(), new.id, digest, nearby.duplicates, reporter)
    written = nearby.written
    if not written and nearby.earlier is not None:
        fresh, events = intake.row(nearby.recurred, nearby.possible_recurrence)
        written = await insert_finding(await conns.driver(), fresh, events)
    if not written:
        # Another copy of the same report won the race and has committed meanwhile.
        return await _stored(await conns.orm(), new.id, digest, nearby.duplicates, reporter)
    earlier = nearby.earlier
    hidden = frozenset({earlier}) if earlier and not nearby.earlier_visible else frozenset()
    return Reported(fresh, "created", nearby.duplicates, hidden)


@dataclass(frozen=True)
class _Intake:
    """What a report's row is made of, besides the recurrence the look-up may find."""

    new: NewFinding
    reporter: Principal
    clock: Clock
    terms: IntakeTerms
    ref: Reference
    category: CategoryInfo
    place: UnitInfo | None
    # The unit a rule routes it to, if one does.
    responsible: UnitInfo | None
    digest: str

    def row(
        self, recurred: Recurred | None, possible: uuid.UUID | None
    ) -> tuple[Fresh, list[NewEvent]]:
        """The finding as written and its first events: reported, and dispatched if a rule
        routes it."""
        new, clock, terms, place = self.new, self.clock, self.terms, self.place
        responsible = self.responsible
        district_unit = responsible or place
        events = [
            NewEvent(
                self.reporter.user_id,
                "report",
                None,
                Status.REPORTED,
                {
                    "exposure_video": terms.exposure_video_id,
                    "video_offset": terms.video_offset,
                    "recurrence_of": recurred.id if recurred else None,
                    "possible_recurrence_of": possible,
                },
                clock.now,
            )
        ]
        # Set when a rule routes the finding at once.
        dispatched_at: datetime | None = None
        due: datetime | None = None
        plan_json: dict[str, Any] | None = None
        next_at: datetime | None = None
        if responsible is not None:
            plan = _intake_plan(self.ref, self.category.policy_code, terms, recurred)
            dispatched_at, plan_json = clock.now, plan.to_json()
            due = terms.due_at or clock.due(clock.now, dict(self.category.time_limit))
            next_at = next_time(
                plan,
                due_at=due,
                dispatched_at=clock.now,
                fired=(),
                reminded=False,
                clock=clock.city,
            )
            events.append(
                NewEvent(
                    None,
                    "dispatch",
                    Status.REPORTED,
                    Status.ASSIGNED,
                    {"unit": responsible.code, "due_at": due, "routed": "rule"},
                    clock.now,
                )
            )
        fresh = Fresh(
            id=new.id,
            source=new.source,
            category_id=self.category.id,
            severity=new.severity,
            description=new.description,
            lat=new.lat,
            lon=new.lon,
            address=new.address,
            place_unit_id=place.id if place else None,
            responsible_unit_id=responsible.id if responsible else None,
            district_id=district_unit.district_id if district_unit else None,
            point_type=new.point_type,
            observed_at=new.observed_at,
            reported_at=clock.now,
            reporter_id=self.reporter.user_id,
            status=Status.ASSIGNED if responsible else Status.REPORTED,
            request_hash=self.digest,
            updated_at=clock.now,
            recurrence_of=recurred.id if recurred else None,
            possible_recurrence_of=possible,
            exposure_video_id=terms.exposure_video_id,
            video_offset=terms.video_offset,
            dispatched_at=dispatched_at,
            due_at=due,
            escalation_plan=plan_json,
            next_escalation_at=next_at,
        )
        return fresh, events


async def _stored(
    session: AsyncSession,
    finding_id: uuid.UUID,
    digest: str,
    duplicates: list[uuid.UUID],
    reporter: Principal,
) -> Reported:
    """The finding already stored under the id: a replay if the request matches it."""
    stored = await session.get(Finding, finding_id, populate_existing=True)
    assert stored is not None  # noqa: S101 - the id is taken by definition
    if stored.request_hash != digest:
        return Reported(stored, "conflict", duplicates)
    hidden = await hidden_findings(session, reporter, links_of([stored]))
    return Reported(stored, "replayed", duplicates, hidden)


async def get_visible(
    session: AsyncSession, finding_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Finding | None:
    stmt = select(Finding).where(Finding.id == finding_id, visible_findings(principal))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class TransitionRequest:
    action: Action
    expected_version: int | None = None
    note: str | None = None
    unit: str | None = None
    due_at: datetime | None = None
    duplicate_of: uuid.UUID | None = None
    evidence: list[uuid.UUID] | None = None


_NOTE_REQUIRED = frozenset(
    {
        Action.RETURN,
        Action.REJECT,
        Action.CLOSE_INVALID,
        Action.REQUEST_EXTENSION,
        Action.DENY_EXTENSION,
    }
)


async def _holds(session: AsyncSession, principal: Principal, unit_id: int | None) -> bool:
    if unit_id is None:
        return False
    unit = await session.get(Unit, unit_id)
    return unit is not None and unit.path.startswith(principal.unit_path)


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
    )
    plan = plan_transition(
        request.action,
        Status(finding.status),
        actor,
        submitted_by=finding.submitted_by_id,
        extension_pending=finding.extension_requested_until is not None,
        recurrence_pending=finding.possible_recurrence_of is not None,
    )
    if isinstance(plan, Refusal):
        raise FindingError(plan.status, plan.reason, "action")
    if request.action in _NOTE_REQUIRED and not request.note:
        raise FindingError(422, f"A note is required to {request.action.value}.", "note")
    payload = await _apply(session, finding, plan, request, principal, clock, ref)
    finding.status = plan.to_status
    finding.close_reason = plan.close_reason
    if plan.to_status is Status.CLOSED:
        finding.closed_at = clock.now
    finding.version += 1
    finding.updated_at = clock.now
    await reschedule(session, finding, clock.city)
    if plan.to_status is Status.CLOSED:
        await resolve(session, finding.id, clock.now)
    session.add(
        _event(
            finding.id,
            principal.user_id,
            plan.action.value,
            plan.from_status.value,
            plan.to_status.value,
            clock.now,
            note=request.note,
            **payload,
        )
    )
    await session.flush()
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
    if action is Action.DISPATCH:
        return await _dispatch(session, finding, request, principal, clock, ref)
    if action is Action.RETURN:
        returned_by = finding.responsible_unit_id
        finding.responsible_unit_id = None
        finding.dispatched_at = None
        finding.due_at = None
        finding.extension_requested_until = None
        unit = await session.get(Unit, returned_by) if returned_by else None
        return {"returned_by_unit": unit.code if unit else None}
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
    finding.escalation_plan = ladder.to_json()
    return {"unit": unit.code, "due_at": finding.due_at, **relinked}


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


@dataclass(frozen=True)
class IntakeTerms:
    """What the intake takes from the installation and, for an exposure-video segment, from
    the video: its batch deadline and policy replace the category's."""

    recurrence_window: timedelta
    due_at: datetime | None = None
    policy: str | None = None
    exposure_video_id: uuid.UUID | None = None
    video_offset: str | None = None


EXPOSURE_SOURCE = "exposure_video"
# DESIGN §6: a recurrence of an exposure-video problem starts its ladder at L3.
EXPOSURE_RECURRENCE_START_LEVEL = 3


def _intake_plan(
    plans: Reference, policy_code: str | None, terms: IntakeTerms, recurred: Recurred | None
) -> Ladder:
    """The escalation plan snapshotted when a finding is routed."""
    if recurred is None or recurred.source != EXPOSURE_SOURCE:
        return plans.plan(terms.policy or policy_code)
    # The problem came back after an exposure video: it is supervised on the ladder the
    # original was (the exposure-video one), from L3.
    preferred = terms.policy or recurred.policy
    if preferred:
        try:
            return plans.plan(preferred, start_level=EXPOSURE_RECURRENCE_START_LEVEL)
        except UnknownPolicy:
            pass  # the original's policy was deleted since; the category's will do
    return plans.plan(policy_code, start_level=EXPOSURE_RECURRENCE_START_LEVEL)


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
    ladder = _intake_plan(ref, category.policy_code, terms, recurred)
    return terms.due_at or clock.due(clock.now, category.time_limit), ladder
