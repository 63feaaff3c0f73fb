"""The intake's use case: a report stored and routed in one statement, or recognised as a
replay of one already stored (the client's id is the idempotency key)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from services.core.escalation.plans import UnknownPolicy
from services.core.escalation.rules import Plan as Ladder
from services.core.escalation.rules import next_time, yellow_time
from services.core.findings.rules import Clock, FindingError, time_limit_for
from services.core.findings.sources import SOURCE_RULES, Way, source_refusal
from services.core.findings.spatial import Recurred
from services.core.findings.store import Fresh, NewEvent, Written, write_report
from services.core.identity.principal import Principal
from services.core.models import Status
from services.core.reference.snapshot import CategoryInfo, Reference, UnitInfo


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


@dataclass(frozen=True)
class Reported:
    # As written for a new finding, as stored for a replay.
    finding: Fresh
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
    """The source is a claim the caller must be entitled to (services/core/findings/sources.py): 403
    naming `source` if not. An exposure-video segment comes in with its video's id."""
    way = Way.EXPOSURE_VIDEO if terms.exposure_video_id is not None else Way.REPORT
    refusal = source_refusal(new.source, reporter, way)
    if refusal is not None:
        raise FindingError(403, refusal, "source")
    if SOURCE_RULES[new.source].own_unit and new.unit is None:
        raise FindingError(
            422, f"A {new.source} finding names the unit assessed: your own or one below.", "unit"
        )


# Why a report that names no unit was placed where it was, or was not: on its report event,
# so a dispatcher sees why a finding waits in the queue.
OUTSIDE_EVERY_BOUNDARY = "outside_every_boundary"
NO_BOUNDARIES = "no_boundaries"
OUTSIDE_REPORTER_AREA = "outside_reporter_area"


@dataclass(frozen=True)
class Placed:
    unit: UnitInfo | None
    # Only for a report without `unit`: the unit its location lies in, or why none.
    located: dict[str, str] | None = None


def _place(ref: Reference, code: str | None, reporter: Principal, lat: float, lon: float) -> Placed:
    if code is None:
        return _locate(ref, reporter, lat, lon)
    place = ref.unit_codes.get(code)
    if place is None:
        raise FindingError(422, f"Unknown unit {code!r}.", "unit")
    if not reporter.covers(place.path):
        raise FindingError(422, f"Unit {code!r} is outside your area.", "unit")
    return Placed(place)


def _locate(ref: Reference, reporter: Principal, lat: float, lon: float) -> Placed:
    """The unit of the place from the units' boundaries (数字城管 route by area). One the
    reporter may not name is not taken either: the report waits for a dispatcher."""
    if not ref.places:
        return Placed(None, {"reason": NO_BOUNDARIES})
    unit = ref.unit_at(lat, lon)
    if unit is None:
        return Placed(None, {"reason": OUTSIDE_EVERY_BOUNDARY})
    if not reporter.covers(unit.path):
        return Placed(None, {"reason": OUTSIDE_REPORTER_AREA, "unit": unit.code})
    return Placed(unit, {"by": "boundary", "unit": unit.code})


async def report(
    db: Any,
    new: NewFinding,
    reporter: Principal,
    clock: Clock,
    terms: IntakeTerms,
    ref: Reference,
) -> Reported:
    """Store a reported finding and route it, or recognise a replay of one already stored.
    A finding near one of its category that its responsible unit rectified within the
    recurrence window is recorded as its recurrence; near one another unit rectified (or any,
    when no rule routes it), as a possible recurrence for a dispatcher to decide. An
    exposure-video segment takes the video's deadline and policy.

    One call of the database function `intake_report` (migration 0015) on the driver
    connection `db`: the look-up and the write; everything else comes from the reference
    snapshot `ref`. Outside a transaction (a single report) it commits by itself, inside one
    (a batch, an exposure video) it joins it. A recurrence of an exposure-video problem takes
    another escalation plan, from L3: the function leaves it to a second call with the row
    built for it. First of all, the source claimed must be the reporter's to claim."""
    _check_source(new, reporter, terms)
    digest = request_hash(new.canonical, reporter.user_id)
    category = _category(ref, new.category)
    placed = _place(ref, new.unit, reporter, new.lat, new.lon)
    place = placed.unit
    responsible = ref.route(category, place) if place is not None else None
    intake = _Intake(
        new, reporter, clock, terms, ref, category, place, responsible, digest, placed.located
    )
    # Written as a first report: most are, and a recurrence is known only once looked up.
    fresh, events = intake.row(recurred=None, possible=None)

    async def write(fresh: Fresh, events: list[NewEvent]) -> Written:
        return await write_report(
            db,
            fresh,
            events,
            radius_m=category.duplicate_radius_m,
            closed_since=clock.now - terms.recurrence_window,
            caller=reporter,
            restart_sources=RESTART_SOURCES,
        )

    written = await write(fresh, events)
    if written.restart is not None:
        # The row built for the recurrence (its ladder from L3) is what is written and shown.
        fresh, events = intake.row(written.restart, None)
        written = await write(fresh, events)
    if written.stored is not None:
        taken: Outcome = "replayed" if written.outcome == "replayed" else "conflict"
        return Reported(written.stored, taken, written.duplicates, written.hidden)
    # As written: with the recurrence, or the possible one, the function found.
    if (written.recurrence_of, written.possible_recurrence_of) != (
        fresh.recurrence_of,
        fresh.possible_recurrence_of,
    ):
        fresh = replace(
            fresh,
            recurrence_of=written.recurrence_of,
            possible_recurrence_of=written.possible_recurrence_of,
        )
    return Reported(fresh, "created", written.duplicates, written.hidden)


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
    located: dict[str, str] | None = None

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
                    "located": self.located,
                },
                clock.now,
            )
        ]
        # Set when a rule routes the finding at once.
        dispatched_at: datetime | None = None
        due: datetime | None = None
        plan_json: dict[str, Any] | None = None
        next_at: datetime | None = None
        yellow: datetime | None = None
        if responsible is not None:
            plan = intake_plan(self.ref, self.category.policy_code, terms, recurred)
            dispatched_at, plan_json = clock.now, plan.to_json()
            # An urgent report takes the category's urgent limit, when it has one.
            limit = time_limit_for(
                new.severity, self.category.time_limit, self.category.urgent_time_limit
            )
            due = terms.due_at or clock.due(clock.now, limit)
            next_at = next_time(
                plan,
                due_at=due,
                dispatched_at=clock.now,
                fired=(),
                reminded=False,
                clock=clock.city,
            )
            # What the database generates for the row; the answer shows it without a read.
            yellow = yellow_time(plan.reminder_at, clock.now, due)
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
            yellow_at=yellow,
        )
        return fresh, events


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
# The sources of an earlier finding whose recurrence takes another plan (`intake_plan`).
RESTART_SOURCES = (EXPOSURE_SOURCE,)


def intake_plan(
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
