"""Findings: report (single and batch, idempotent), list, read, transitions, audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.store import city_clock
from services.core.commitments.queries import supervisors
from services.core.desks.service import Outcome, bulk_act
from services.core.escalation.rules import Light
from services.core.findings.intake import IntakeTerms, NewFinding, report
from services.core.findings.queries import (
    FindingFilters,
    Refs,
    accept_within_of,
    events_of,
    get_visible,
    list_findings,
    load_refs,
)
from services.core.findings.rules import (
    ROLES,
    Action,
    Clock,
    FindingError,
    accept_due_at,
    accept_light,
    light_of,
)
from services.core.findings.sources import Way, reporting_roles, source_refusal
from services.core.findings.store import Fresh
from services.core.findings.transitions import TransitionRequest, transition
from services.core.identity.principal import Principal
from services.core.identity.scope import event_links, hidden_findings, without_hidden
from services.core.models import CLOCK_RUNNING, SOURCES, Finding, Status
from services.core.platform.db import checkout, driver_connection
from services.core.platform.errors import UnknownReference
from services.core.platform.metrics import FINDINGS_INTAKE, TRANSITIONS
from services.core.platform.settings import Settings
from services.core.reference.snapshot import Reference
from services.core.sync.queries import current_snapshot
from services.core.sync.rules import Token
from services.core.sync.service import findings_page as sync_findings

from .. import convertors, raw_body  # noqa: F401 - convertors registers {…:not_action}
from ..deps import (
    Caller,
    Ref,
    Session,
    SettingsDep,
    app_state,
    authenticate,
    oauth2,
    utcnow,
)
from ..pagination import CursorKey, Page, PageDep, split_page
from ..problems import Problem, problem_body, problem_from, validation_errors
from ..schemas.findings import (
    BatchResponse,
    BatchResult,
    BulkIn,
    BulkItem,
    BulkResponse,
    BulkResult,
    CategoryRef,
    EventList,
    EventOut,
    Extension,
    FindingBatch,
    FindingCreate,
    FindingOut,
    FindingPage,
    LightName,
    Location,
    Removed,
    Source,
    SuspensionOut,
    TransitionIn,
    UnitRef,
)
from ..schemas.wire import BigId, Timestamp
from ..sync import UpdatedSince, sync_token
from ..xlsx import XLSX_MEDIA_TYPE
from . import exports

router = APIRouter(tags=["findings"])

# Who may report at all: the roles that may report some source (services/core/findings/sources.py).
REPORTER_ROLES = reporting_roles(Way.REPORT)
DEFAULT_SOURCE = FindingCreate.model_fields["source"].default


def _refuse(refusal: str, field: str) -> Problem:
    return Problem(403, refusal, errors=[{"field": field, "message": refusal}])


def check_reporter(caller: Principal, field: str = "source") -> Principal:
    """403 unless the caller's role may report a finding of some source."""
    if caller.role not in REPORTER_ROLES:
        raise _refuse(f"Role {caller.role!r} may report no finding, of any source.", field)
    return caller


def check_source(caller: Principal, raw: Any, field: str = "source") -> None:
    """403 naming the source if the caller may not report a finding of the source the body
    claims (the default one if it names none): before the body is validated, as a role is
    checked before it. A body that is not an object, or names no source there is, is left to
    validation (422)."""
    check_reporter(caller, field)
    source = raw.get("source", DEFAULT_SOURCE) if isinstance(raw, dict) else None
    if isinstance(source, str) and source in SOURCES:
        refusal = source_refusal(source, caller, Way.REPORT)
        if refusal is not None:
            raise _refuse(refusal, field)


async def reporter(caller: Caller) -> Principal:
    return check_reporter(caller)


Reporter = Annotated[Principal, Depends(reporter)]
# Clocks on phones drift; anything further ahead than this is a mistake, not drift.
MAX_CLOCK_SKEW = timedelta(minutes=10)


def make_clock(ref: Reference, settings: Settings) -> Clock:
    """Now, on the working-day calendar of the reference snapshot."""
    return Clock(now=utcnow(), city=city_clock(ref.calendar, settings))


def intake_terms(settings: Settings) -> IntakeTerms:
    return IntakeTerms(recurrence_window=timedelta(days=settings.recurrence_window_days))


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


def _suspension(refs: Refs, finding_id: uuid.UUID, tz: ZoneInfo) -> SuspensionOut | None:
    row = refs.suspensions.get(finding_id)
    if row is None:
        return None
    return SuspensionOut(
        id=row.id,
        state="active" if row.state == "active" else "requested",
        reason=row.reason,
        note=row.note,
        resume_at=row.expected_until.astimezone(tz),
        requested_at=row.requested_at.astimezone(tz),
        suspended_at=_local(row.started_at, tz),
    )


def render(
    f: Finding | Fresh,
    refs: Refs,
    tz: ZoneInfo,
    now: datetime,
    duplicates: list[uuid.UUID] | None = None,
) -> FindingOut:
    def unit(unit_id: int | None) -> UnitRef | None:
        u = refs.units.get(unit_id) if unit_id else None
        return UnitRef(code=u.code, name=u.name) if u else None

    category = refs.categories[f.category_id]
    base = f"/api/v1/findings/{f.id}"
    return FindingOut(
        id=f.id,
        source=f.source,
        category=CategoryRef(code=category.code, name=category.name),
        severity=f.severity,
        description=f.description,
        location=Location(lat=f.lat, lon=f.lon, address=f.address),
        unit=unit(f.place_unit_id),
        responsible_unit=unit(f.responsible_unit_id),
        district=unit(f.district_id),
        point_type=f.point_type,
        observed_at=f.observed_at.astimezone(tz),
        reported_at=f.reported_at.astimezone(tz),
        reporter=refs.usernames.get(f.reporter_id, ""),
        status=f.status,
        close_reason=f.close_reason,
        dispatched_at=_local(f.dispatched_at, tz),
        due_at=_local(f.due_at, tz),
        submitted_at=_local(f.submitted_at, tz),
        closed_at=_local(f.closed_at, tz),
        next_escalation_at=_local(f.next_escalation_at, tz),
        overdue=f.status in CLOCK_RUNNING and f.due_at is not None and f.due_at < now,
        light=light_of(f, now),
        yellow_at=_local(f.yellow_at, tz),
        rework_count=f.rework_count,
        extension=Extension(
            requested_until=_local(f.extension_requested_until, tz), count=f.extension_count
        ),
        # A report just made (Fresh) has no return request yet.
        return_requested_at=_local(f.return_requested_at, tz) if isinstance(f, Finding) else None,
        co_units=[u for u in (unit(i) for i in refs.co_units.get(f.id, ())) if u is not None],
        recurrence_of=refs.link(f.recurrence_of),
        possible_recurrence_of=refs.link(f.possible_recurrence_of),
        duplicate_of=refs.link(f.duplicate_of),
        version=f.version,
        suspension=_suspension(refs, f.id, tz),
        possible_duplicates=duplicates or [],
        links={
            "self": base,
            "events": f"{base}/events",
            "transitions": f"{base}/transitions",
            "evidence": f"{base}/evidence",
            "verification": f"{base}/verification",
        },
    )


def _new_finding(body: FindingCreate, now: datetime) -> NewFinding:
    if body.observed_at > now + MAX_CLOCK_SKEW:
        raise FindingError(422, "observed_at lies in the future.", "observed_at")
    canonical = body.model_dump(mode="json", exclude={"id"})
    return NewFinding(
        id=body.id or uuid.uuid4(),
        source=body.source,
        category=body.category,
        severity=body.severity,
        description=body.description,
        lat=body.location.lat,
        lon=body.location.lon,
        address=body.location.address,
        unit=body.unit,
        point_type=body.point_type,
        observed_at=body.observed_at,
        canonical=canonical,
    )


async def _intake(
    db: Any,
    body: FindingCreate,
    caller: Principal,
    clock: Clock,
    terms: IntakeTerms,
    ref: Reference,
) -> tuple[str, FindingOut | None]:
    new = _new_finding(body, clock.now)
    reported = await report(db, new, caller, clock, terms, ref)
    FINDINGS_INTAKE.labels(body.source, reported.outcome).inc()
    if reported.outcome == "conflict":
        return reported.outcome, None
    # The caller reported it: a replay matches the request hashed with its reporter.
    refs = Refs(ref.units, ref.categories, {caller.user_id: caller.username}, reported.hidden)
    out = render(reported.finding, refs, clock.tz, clock.now, reported.possible_duplicates)
    return reported.outcome, out


async def create_finding(request: Request) -> Response:
    """Report a finding. The client's `id` is the idempotency key: a replay of the same body
    answers 200 with the stored finding; the same id with another body is a 409."""
    # The endpoint reads its body and caller itself, in the order FastAPI would take: the
    # body decoded, the caller (401), their role and the source the body claims (403), the
    # body validated (422). Solving a dependency graph and a typed body cost about a seventh
    # of the API's profiled CPU per report (bench/ANALYSIS.md §25). On a driver connection
    # out of the pool with no session around it: the write is one statement, which commits
    # on its own.
    raw = await raw_body.json_of(request)
    token = await oauth2(request)
    state = app_state(request)
    async with checkout(state.engine) as db:
        caller = await authenticate(request, db, token)
        check_source(caller, raw)
        body = raw_body.validated(FindingCreate, raw)
        revision: int = request.state.config_revision
        ref = state.references.fresh(revision)
        if ref is not None:
            return await _reported(db, body, caller, ref, state.settings)
    # The reference data changed since this process read it: read again on a session, the
    # connection given back first. A request never holds two, or a burst of such requests
    # would empty the pool and wait on each other.
    async with state.sessionmaker() as session:
        ref = await state.references.reload(session, revision)
    async with checkout(state.engine) as db:
        return await _reported(db, body, caller, ref, state.settings)


async def _reported(
    db: Any, body: FindingCreate, caller: Principal, ref: Reference, settings: Settings
) -> Response:
    clock, terms = make_clock(ref, settings), intake_terms(settings)
    try:
        outcome, out = await _intake(db, body, caller, clock, terms, ref)
    except FindingError as exc:
        FINDINGS_INTAKE.labels(body.source, "invalid").inc()
        raise problem_from(exc) from exc
    if out is None:
        raise Problem(
            409,
            _CONFLICT,
            kind="idempotency-conflict",
            errors=[{"field": "id", "message": "already used with a different body"}],
        )
    status = 200 if outcome == "replayed" else 201
    # Sent as encoded here: returned as a model, it would be validated and encoded again.
    return Response(out.model_dump_json(), status_code=status, media_type="application/json")


_CONFLICT = "This id is already used by a different finding; send a new id for a new report."

router.add_api_route(
    "/findings",
    create_finding,
    methods=["POST"],
    response_model=FindingOut,
    status_code=201,
    responses={200: {"model": FindingOut, "description": "identical replay"}},
    openapi_extra=raw_body.documented(FindingCreate, oauth2),
)


def _check_size(count: int, limit: int, field: str, what: str) -> None:
    """A list of findings longer than `limit` is refused whole, naming its field."""
    if count > limit:
        raise Problem(
            422,
            f"{what} at most {limit} findings (got {count}).",
            errors=[{"field": field, "message": f"at most {limit} items"}],
        )


@router.post("/findings/batch", response_model=BatchResponse)
async def create_findings_batch(
    batch: FindingBatch,
    caller: Reporter,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
) -> BatchResponse:
    """Report up to 500 findings; each item stands alone and has its own outcome."""
    _check_size(len(batch.findings), settings.max_batch_size, "findings", "A batch holds")
    clock = make_clock(ref, settings)
    terms = intake_terms(settings)
    results: list[BatchResult] = []
    for index, raw in enumerate(batch.findings):
        results.append(await _batch_item(session, index, raw, caller, clock, terms, ref))
    return BatchResponse(results=results)


async def _batch_item(
    session: AsyncSession,
    index: int,
    raw: dict[str, Any],
    caller: Principal,
    clock: Clock,
    terms: IntakeTerms,
    ref: Reference,
) -> BatchResult:
    raw_id = raw.get("id")
    try:
        check_source(caller, raw, f"findings[{index}].source")
    except Problem as refused:
        FINDINGS_INTAKE.labels("unknown", "invalid").inc()
        return BatchResult(
            id=_as_uuid(raw_id),
            outcome="invalid",
            problem=problem_body(refused.status, refused.detail, errors=refused.errors),
        )
    try:
        body = FindingCreate.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"field": f"findings[{index}].{e['field']}", "message": e["message"]}
            for e in validation_errors(exc.errors())
        ]
        FINDINGS_INTAKE.labels("unknown", "invalid").inc()
        return BatchResult(
            id=_as_uuid(raw_id),
            outcome="invalid",
            problem=problem_body(422, "This item is not valid.", kind="validation", errors=errors),
        )
    try:
        # A savepoint per item: one item's failure leaves the others intact.
        async with session.begin_nested():
            db = await driver_connection(session)
            outcome, out = await _intake(db, body, caller, clock, terms, ref)
    except FindingError as exc:
        FINDINGS_INTAKE.labels(body.source, "invalid").inc()
        field = f"findings[{index}].{exc.field}" if exc.field else f"findings[{index}]"
        return BatchResult(
            id=body.id,
            outcome="invalid",
            problem=problem_body(
                exc.status, exc.message, errors=[{"field": field, "message": exc.message}]
            ),
        )
    if out is None:
        return BatchResult(
            id=body.id,
            outcome="conflict",
            problem=problem_body(409, _CONFLICT, kind="idempotency-conflict"),
        )
    return BatchResult(id=out.id, outcome=outcome, finding=out)


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise Problem(
            422,
            "bbox is min_lon,min_lat,max_lon,max_lat.",
            kind="validation",
            errors=[{"field": "bbox", "message": "expected four numbers, min before max"}],
        )
    return parts[0], parts[1], parts[2], parts[3]


# (reported_at, id) of the last row.
finding_key = CursorKey[tuple[datetime, uuid.UUID]](Timestamp, uuid.UUID)


async def finding_filters(
    status: Annotated[
        str | None, Query(pattern="^(reported|assigned|accepted|submitted|suspended|closed)$")
    ] = None,
    source: Source | None = None,
    category: str | None = None,
    unit: Annotated[
        str | None, Query(description="responsible unit code (with its subtree)")
    ] = None,
    district: str | None = None,
    overdue: bool | None = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    possible_recurrence: Annotated[
        bool | None,
        Query(description="true: only findings with a possible recurrence to decide"),
    ] = None,
    light: Annotated[
        LightName | None,
        Query(description="only findings whose traffic light is this now (clock running)"),
    ] = None,
) -> FindingFilters:
    """The filters of GET /findings, shared by its exports (the audit export too)."""
    return FindingFilters(
        status,
        source,
        category,
        unit,
        district,
        overdue,
        since,
        until,
        _bbox(bbox),
        possible_recurrence,
        Light(light) if light is not None else None,
    )


Filters = Annotated[FindingFilters, Depends(finding_filters)]


def unknown_reference(exc: UnknownReference) -> Problem:
    return Problem(
        422, str(exc), kind="validation", errors=[{"field": exc.field, "message": str(exc)}]
    )


@router.get(
    "/findings",
    response_model=FindingPage,
    responses={
        200: {
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "the page as JSON, or with ?format=xlsx every matching row "
            f"(at most {exports.EXPORT_MAX_ROWS:,}) as an Excel workbook",
        }
    },
)
async def get_findings(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    filters: Filters,
    format: Annotated[Literal["json", "xlsx"], Query()] = "json",
    updated_since: UpdatedSince = None,
) -> FindingPage | Response:
    """Findings in the caller's scope, newest first. With `format=xlsx` every matching row
    (limit and cursor do not apply) up to the export cap comes as an Excel workbook.

    With `updated_since` (a phone's sync): only the findings written since, oldest change
    first, and in `removed` those to drop; `next_cursor` while more of this sync waits, and
    on its last page `sync_cursor`, the `updated_since` of the next sync. The first page of
    a plain list also carries a `sync_cursor`: a phone that loads the list syncs from it."""
    now = utcnow()
    tz = ZoneInfo(settings.timezone)
    if updated_since is not None:
        if format != "json":
            raise Problem(
                422,
                "A sync answers in JSON.",
                kind="validation",
                errors=[{"field": "format", "message": "json only with updated_since"}],
            )
        return await _sync(session, caller, filters, now, tz, updated_since, page)
    after = page.after(finding_key)
    try:
        if format == "xlsx":
            return await exports.findings_xlsx(session, caller, filters, tz, now)
        # Taken before the list is read: whatever this page misses, the sync from it sends.
        start = None if after is not None else Token(await current_snapshot(session))
        fetched = await list_findings(
            session, caller, filters, now=now, limit=page.limit + 1, after=after
        )
    except UnknownReference as exc:
        raise unknown_reference(exc) from exc
    rows, cursor = split_page(fetched, page.limit, lambda f: [f.reported_at.isoformat(), str(f.id)])
    refs = await load_refs(session, rows, caller)
    items = [render(f, refs, tz, now) for f in rows]
    return FindingPage(
        items=await mark_supervised(session, items),
        next_cursor=cursor,
        sync_cursor=start.encode() if start else None,
    )


async def mark_supervised(session: AsyncSession, items: list[FindingOut]) -> list[FindingOut]:
    """The mark of personal supervision (领导包案) on each finding a leader holds."""
    for finding_id, leader in await supervisors(session, findings=[f.id for f in items]):
        for item in items:
            if item.id == finding_id:
                item.personally_supervised_by.append(leader.name)
    return items


async def _sync(
    session: AsyncSession,
    caller: Principal,
    filters: FindingFilters,
    now: datetime,
    tz: ZoneInfo,
    updated_since: str,
    page: Page,
) -> FindingPage:
    token = sync_token(updated_since, page.cursor)
    try:
        found = await sync_findings(session, caller, filters, now, token, page.limit)
    except UnknownReference as exc:
        raise unknown_reference(exc) from exc
    refs = await load_refs(session, found.changed, caller)
    return FindingPage(
        items=await mark_supervised(session, [render(f, refs, tz, now) for f in found.changed]),
        next_cursor=found.next_page.encode() if found.next_page else None,
        removed=[Removed(id=str(i), reason=reason) for i, reason in found.removed],
        sync_cursor=found.next_sync.encode() if found.next_sync else None,
    )


async def visible_or_404(
    session: AsyncSession, finding_id: uuid.UUID, caller: Principal
) -> Finding:
    """The finding in the caller's scope; else 404, as for one that does not exist."""
    finding = await get_visible(session, finding_id, caller)
    if finding is None:
        raise Problem(404, f"No finding {finding_id} in your scope.")
    return finding


@router.get("/findings/{finding_id:not_action}", response_model=FindingOut)
async def get_finding(
    finding_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep, ref: Ref
) -> FindingOut:
    finding = await visible_or_404(session, finding_id, caller)
    refs = await load_refs(session, [finding], caller)
    clock = make_clock(ref, settings)
    (out,) = await mark_supervised(session, [render(finding, refs, clock.tz, clock.now)])
    return await with_clock_details(session, out, finding, clock)


@router.post("/findings/{finding_id}/transitions", response_model=FindingOut)
async def post_transition(
    finding_id: uuid.UUID,
    body: TransitionIn,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
) -> FindingOut:
    """Move a finding through its lifecycle. Send `expected_version` to refuse (409) if
    someone else changed it since you read it."""
    clock = make_clock(ref, settings)
    request = TransitionRequest(
        action=body.action,
        expected_version=body.expected_version,
        note=body.note,
        unit=body.unit,
        due_at=body.due_at,
        duplicate_of=body.duplicate_of,
        evidence=body.evidence,
        co_units=body.co_units,
        attachments=body.attachments,
        reason=body.reason,
        resume_at=body.resume_at,
    )
    finding = await transition(session, finding_id, request, caller, clock, ref)
    TRANSITIONS.labels(body.action.value).inc()
    refs = await load_refs(session, [finding], caller)
    (out,) = await mark_supervised(session, [render(finding, refs, clock.tz, clock.now)])
    return await with_clock_details(session, out, finding, clock)


async def with_clock_details(
    session: AsyncSession, out: FindingOut, finding: Finding, clock: Clock
) -> FindingOut:
    """One finding's answer with its sign-for deadline, which a list leaves out (it costs a
    read and working-hour arithmetic each)."""
    if finding.status == Status.ASSIGNED:
        within = await accept_within_of(session, finding.category_id)
        due = accept_due_at(finding.dispatched_at, within, clock.city)
        out.accept_due_at = _local(due, clock.tz)
        accept = accept_light(finding.status, due, clock.now)
        out.accept_light = accept.value if accept is not None else None
    return out


@router.post("/findings/bulk", response_model=BulkResponse)
async def post_bulk(
    body: BulkIn,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
) -> BulkResponse:
    """One action on up to 500 findings: `dispatch`, `transfer`, `approve_extension`,
    `approve_return` or `close_invalid`. Each item is checked and answered on its own, as a
    transition of its own would be (`done` with the finding, `refused` with the problem),
    and a refused one undoes nothing else; an item that is not valid is `invalid`."""
    action = Action(body.action)
    if caller.role not in ROLES[action]:
        raise Problem(403, f"Only {', '.join(sorted(ROLES[action]))} may {action.value}.")
    _check_size(len(body.items), settings.max_batch_size, "items", "A bulk action takes")
    results: list[BulkResult | None] = []
    requests: list[tuple[uuid.UUID, TransitionRequest]] = []
    for index, raw in enumerate(body.items):
        try:
            item = BulkItem.model_validate(raw)
        except ValidationError as exc:
            errors = [
                {"field": f"items[{index}].{e['field']}", "message": e["message"]}
                for e in validation_errors(exc.errors())
            ]
            problem = problem_body(422, "This item is not valid.", kind="validation", errors=errors)
            results.append(
                BulkResult(id=_as_uuid(raw.get("id")), outcome="invalid", problem=problem)
            )
            continue
        results.append(None)
        requests.append((item.id, _bulk_request(action, body, item)))
    clock = make_clock(ref, settings)
    outcomes = await bulk_act(session, requests, caller, clock, ref)
    done = [o.finding for o in outcomes if o.finding is not None]
    refs = await load_refs(session, done, caller)
    answers = iter(outcomes)
    for index, result in enumerate(results):
        if result is None:
            results[index] = _bulk_result(action, next(answers), refs, clock, index)
    return BulkResponse(results=[r for r in results if r is not None])


def _bulk_request(action: Action, body: BulkIn, item: BulkItem) -> TransitionRequest:
    return TransitionRequest(
        action=action,
        expected_version=item.expected_version,
        note=item.note or body.note,
        unit=item.unit or body.unit,
    )


def _bulk_result(
    action: Action, outcome: Outcome, refs: Refs, clock: Clock, index: int
) -> BulkResult:
    if outcome.finding is not None:
        TRANSITIONS.labels(action.value).inc()
        return BulkResult(
            id=outcome.finding_id,
            outcome="done",
            finding=render(outcome.finding, refs, clock.tz, clock.now),
        )
    error = outcome.error
    assert error is not None  # noqa: S101 - an outcome is a finding or a refusal
    # The problem the item's own transition would have answered, its fields named in the list.
    problem = problem_from(error)
    errors = [
        {"field": f"items[{index}].{e['field']}", "message": e["message"]}
        for e in problem.errors or [{"field": "", "message": error.message}]
    ]
    body = problem_body(problem.status, problem.detail, kind=problem.kind, errors=errors)
    return BulkResult(id=outcome.finding_id, outcome="refused", problem=body)


_event_key = CursorKey[int](BigId)


@router.get("/findings/{finding_id}/events", response_model=EventList)
async def get_events(
    finding_id: uuid.UUID,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
) -> EventList:
    """The finding's audit trail, oldest first."""
    await visible_or_404(session, finding_id, caller)
    fetched = await events_of(
        session, finding_id, limit=page.limit + 1, after=page.after(_event_key)
    )
    rows, cursor = split_page(fetched, page.limit, lambda row: [row[0].id])
    tz = ZoneInfo(settings.timezone)
    # The trail names other findings only to a caller who may see them.
    links = (link for e, _ in rows for link in event_links(e.payload))
    hidden = await hidden_findings(session, caller, links)
    items = [
        EventOut(
            id=e.id,
            action=e.action,
            actor=username,
            from_status=e.from_status,
            to_status=e.to_status,
            payload=without_hidden(e.payload, hidden),
            at=e.at.astimezone(tz),
        )
        for e, username in rows
    ]
    return EventList(items=items, next_cursor=cursor)
