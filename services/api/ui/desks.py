"""The work desks at /ui/desk/…: the dispatcher's queue (assign with the routing suggestion,
bulk dispatch, duplicates side by side on a small map, close invalid, extensions, possible
recurrences), the verifier's submissions (before and after photos with their flags) and the
leader's escalations. Every action goes through the lifecycle's own transition, the same the
API's `POST /findings/{id}/transitions` calls; every form carries the session's CSRF token;
a button is shown only when the lifecycle table would allow it."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from services.core.desks import queries as desk_queries
from services.core.desks.rules import (
    DISPATCH_DESK,
    VERIFY_DESK,
    age_words,
    allowed_actions,
    dispatchable_units,
    distance_m,
    suggestion,
    waited,
)
from services.core.desks.service import act, bulk_act, bulk_dispatch
from services.core.evidence.service import verification_photos
from services.core.findings.queries import FindingFilters, list_findings
from services.core.findings.rules import Action, FindingError, light_of
from services.core.findings.transitions import TransitionRequest
from services.core.identity.principal import Actor, Principal
from services.core.models import Evidence, Finding, Suspension
from services.core.reference.snapshot import Reference, UnitInfo
from services.core.stats.queries import ranking

from ..deps import Session, State, app_state, utcnow
from ..routes.findings import make_clock
from .pages import PageNotFound, UiCaller, render
from .session import csrf_ok

router = APIRouter(prefix="/ui/desk", include_in_schema=False)
DESKS = ("dispatch", "verify", "lead")
NOTE_MAX = 2000


def _actor(principal: Principal, ref: Reference, f: Finding) -> Actor:
    # As the transition decides it: the responsible unit lies in the caller's own subtree
    # (not merely in what they may see).
    unit = ref.units.get(f.responsible_unit_id) if f.responsible_unit_id else None
    holds = unit is not None and unit.path.startswith(principal.unit_path)
    return Actor(principal.user_id, principal.role, holds_responsible_unit=holds)


def _name(ref: Reference, unit_id: int | None) -> str:
    unit = ref.units.get(unit_id) if unit_id else None
    return unit.name if unit else "—"


def _category(ref: Reference, f: Finding) -> str:
    category = ref.categories.get(f.category_id)
    return category.name if category else "—"


# --- the dispatcher's desk --------------------------------------------------------------


@dataclass
class QueueRow:
    f: Finding
    category: str
    place: str
    reason: desk_queries.QueueReason | None
    suggested: UnitInfo | None
    actions: list[Action]
    candidates: list[tuple[int, Finding, float]] = field(default_factory=list)
    minimap: Markup | None = None


def minimap(f: Finding, near: list[Finding], labels: dict[uuid.UUID, int]) -> Markup:
    """The report (the centre, a ring) and its duplicate candidates (numbered dots) on a
    small SVG in metres around it: no tiles, only the positions relative to each other."""
    size, pad = 160, 18
    offsets = []
    for n in near:
        north = (n.lat - f.lat) * 111_195
        east = (n.lon - f.lon) * 111_195 * math.cos(math.radians(f.lat))
        offsets.append((n, east, north))
    reach = max([abs(v) for _, e, no in offsets for v in (e, no)] + [10.0])
    scale = (size / 2 - pad) / reach
    c = size / 2
    parts = [
        f'<svg class="minimap" viewBox="0 0 {size} {size}" width="{size}" height="{size}"'
        f' role="img" aria-label="{round(reach)} m">',
        f'<circle class="here" cx="{c}" cy="{c}" r="7"/>',
    ]
    for n, east, north in offsets:
        x, y = round(c + east * scale, 1), round(c - north * scale, 1)
        parts.append(
            f'<circle class="cand" cx="{x}" cy="{y}" r="8"/>'
            f'<text x="{x}" y="{y + 4}" class="candno">{labels[n.id]}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers only


async def _suspension_rows(
    session: Session, caller: Principal, ref: Reference, state: str
) -> list[tuple[Finding, Suspension, str, str]]:
    return [
        (f, s, _category(ref, f), _name(ref, f.responsible_unit_id))
        for f, s in await desk_queries.suspensions_in(session, caller, state)
    ]


async def _dispatch_context(session: Session, caller: Principal, ref: Reference) -> dict[str, Any]:
    queue = await desk_queries.dispatch_queue(session, caller)
    reasons = await desk_queries.queue_reasons(session, [f.id for f in queue])
    near = await desk_queries.duplicate_candidates(session, caller, queue)
    rows = []
    for f in queue:
        labels = {n.id: i for i, n in enumerate(near.get(f.id, []), start=1)}
        row = QueueRow(
            f,
            _category(ref, f),
            _name(ref, f.place_unit_id),
            reasons.get(f.id),
            suggestion(ref, f.category_id, f.lat, f.lon, f.place_unit_id),
            allowed_actions(f, _actor(caller, ref, f), DISPATCH_DESK),
            [
                (labels[n.id], n, round(distance_m(f.lat, f.lon, n.lat, n.lon)))
                for n in near.get(f.id, [])
            ],
            minimap(f, near.get(f.id, []), labels) if near.get(f.id) else None,
        )
        rows.append(row)
    extensions = [
        (f, _category(ref, f), _name(ref, f.responsible_unit_id))
        for f in await desk_queries.extension_requests(session, caller)
    ]
    recurrences = [
        (f, _category(ref, f), _name(ref, f.responsible_unit_id))
        for f in await desk_queries.possible_recurrences(session, caller)
    ]
    asked = await desk_queries.return_requests(session, caller)
    why = await desk_queries.return_reasons(session, [f.id for f in asked])
    returns = [
        (f, _category(ref, f), _name(ref, f.responsible_unit_id), why.get(f.id)) for f in asked
    ]
    suspension_requests = await _suspension_rows(session, caller, ref, "requested")
    suspended = await _suspension_rows(session, caller, ref, "active")
    covers = [""] if caller.city_wide else [caller.unit_path]
    return {
        "rows": rows,
        "extensions": extensions,
        "recurrences": recurrences,
        "returns": returns,
        "suspension_requests": suspension_requests,
        "suspended": suspended,
        "units": dispatchable_units(ref, covers),
        "unit_name": lambda code: ref.unit_codes[code].name if code in ref.unit_codes else code,
        "outcomes": [],
        "error": None,
    }


def _require(caller: Principal, role: str) -> None:
    # Another role's desk is not theirs to see: the same answer as a page out of scope.
    if caller.role != role:
        raise PageNotFound


async def _ref(request: Request, session: Session) -> Reference:
    return await app_state(request).references.at(session, request.state.config_revision)


DeskContext = Callable[[Session, Principal, Reference], Awaitable[dict[str, Any]]]


async def _desk(
    request: Request, caller: Principal, session: Session, role: str, build: DeskContext, page: str
) -> Response:
    """A desk for `role` only, with the note of what was just done (if anything)."""
    _require(caller, role)
    context = await build(session, caller, await _ref(request, session))
    context["done"] = request.query_params.get("done")
    return render(request, page, context, caller)


@router.get("/dispatch")
async def dispatch_desk(request: Request, caller: UiCaller, session: Session) -> Response:
    return await _desk(
        request, caller, session, "dispatcher", _dispatch_context, "ui/desk_dispatch.html"
    )


def _version(raw: object) -> int | None:
    try:
        return int(str(raw))
    except ValueError:
        return None


def _uuid_or_none(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


@router.post("/dispatch")
async def dispatch_submit(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    """Dispatch the ticked rows (or the one row whose own button was pressed), each to the
    unit chosen in its row (the routing suggestion unless changed)."""
    form = await request.form()
    if not csrf_ok(request, state.jwt_secret, str(form.get("csrf", ""))):
        return Response("CSRF token missing or wrong.", status_code=403)
    _require(caller, "dispatcher")
    only = form.get("only")
    picked = [str(only)] if only else [str(v) for v in form.getlist("pick")]
    choices = []
    for raw in picked[: state.settings.max_batch_size]:
        fid = _uuid_or_none(raw)
        if fid is not None:
            unit = str(form.get(f"unit:{fid}", "")).strip()[:64] or None
            choices.append((fid, unit, _version(form.get(f"version:{fid}", ""))))
    ref = await _ref(request, session)
    outcomes = await bulk_dispatch(session, choices, caller, make_clock(ref, state.settings), ref)
    refused = [o for o in outcomes if o.refusal]
    if not refused:
        return RedirectResponse(f"/ui/desk/dispatch?done=dispatch&n={len(outcomes)}", 303)
    context = await _dispatch_context(session, caller, ref)
    context |= {"outcomes": outcomes, "done": None}
    return render(request, "ui/desk_dispatch.html", context, caller, status=422)


# The dispatcher's bulk actions on the ticked rows besides dispatch (which has its own form).
DESK_BULK = frozenset({Action.CLOSE_INVALID, Action.APPROVE_EXTENSION, Action.APPROVE_RETURN})


@router.post("/bulk")
async def bulk_submit(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    """One action on every ticked row (as `POST /api/v1/findings/bulk`), each row standing
    alone; the refused ones are listed with their reason."""
    form = await request.form()
    if not csrf_ok(request, state.jwt_secret, str(form.get("csrf", ""))):
        return Response("CSRF token missing or wrong.", status_code=403)
    _require(caller, "dispatcher")
    try:
        action = Action(str(form.get("bulk_action", "")))
    except ValueError:
        raise PageNotFound from None
    if action not in DESK_BULK:
        raise PageNotFound
    note = str(form.get("note", "")).strip()[:NOTE_MAX] or None
    requests = []
    for raw in form.getlist("pick")[: state.settings.max_batch_size]:
        fid = _uuid_or_none(raw)
        if fid is not None:
            version = _version(form.get(f"version:{fid}", ""))
            requests.append(
                (fid, TransitionRequest(action=action, note=note, expected_version=version))
            )
    ref = await _ref(request, session)
    clock = make_clock(ref, state.settings)
    outcomes = await bulk_act(session, requests, caller, clock, ref)
    if not any(o.refusal for o in outcomes):
        return RedirectResponse(f"/ui/desk/dispatch?done=bulk&n={len(outcomes)}", 303)
    context = await _dispatch_context(session, caller, ref)
    context |= {"outcomes": outcomes, "done": None}
    return render(request, "ui/desk_dispatch.html", context, caller, status=422)


# --- one action from a desk -------------------------------------------------------------


@router.post("/act")
async def act_submit(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    """One lifecycle action on one finding (the fields of the API's transition body), then
    back to the desk it came from; a refusal re-renders that desk with the reason."""
    form = await request.form()
    if not csrf_ok(request, state.jwt_secret, str(form.get("csrf", ""))):
        return Response("CSRF token missing or wrong.", status_code=403)
    desk = str(form.get("desk", ""))
    if desk not in DESKS:
        desk = "dispatch"
    fid = _uuid_or_none(form.get("finding"))
    try:
        action = Action(str(form.get("action", "")))
    except ValueError:
        action = None
    if fid is None or action is None:
        raise PageNotFound
    note = str(form.get("note", "")).strip()[:NOTE_MAX] or None
    ref = await _ref(request, session)
    # No due_at: approving an extension grants the date the unit asked for.
    request_ = TransitionRequest(
        action=action,
        expected_version=_version(form.get("version", "")),
        note=note,
        duplicate_of=_uuid_or_none(form.get("duplicate_of")),
        unit=str(form.get("unit", "")).strip()[:64] or None,
        # A transfer form always names its co-handling units (none ticked: none).
        co_units=[str(c)[:64] for c in form.getlist("co_units")][:20]
        if action is Action.TRANSFER
        else None,
    )
    try:
        await act(session, fid, request_, caller, make_clock(ref, state.settings), ref)
    except FindingError as exc:
        if exc.status == 404:
            raise PageNotFound from exc
        return await _desk_with_error(request, caller, session, ref, desk, exc)
    return RedirectResponse(f"/ui/desk/{desk}?done={action.value}", 303)


async def _desk_with_error(
    request: Request,
    caller: Principal,
    session: Session,
    ref: Reference,
    desk: str,
    exc: FindingError,
) -> Response:
    if desk == "verify":
        context = await _verify_context(session, caller, ref)
        name = "ui/desk_verify.html"
    else:
        context = await _dispatch_context(session, caller, ref)
        name = "ui/desk_dispatch.html"
    context |= {"error": exc.message, "done": None}
    return render(request, name, context, caller, status=exc.status)


# --- the verifier's desk ----------------------------------------------------------------


@dataclass
class AfterPhoto:
    photo: Evidence
    distance_m: int | None
    # Taken how long after the dispatch (negative: before it).
    after_dispatch_h: float | None


@dataclass
class Submission:
    f: Finding
    category: str
    unit: str
    waited: tuple[int, int]
    before: list[Evidence]
    after: list[AfterPhoto]
    actions: list[Action]


def _after(f: Finding, p: Evidence) -> AfterPhoto:
    far = (
        round(distance_m(f.lat, f.lon, p.gps_lat, p.gps_lon))
        if p.gps_lat is not None and p.gps_lon is not None
        else None
    )
    hours = (
        round((p.taken_at - f.dispatched_at).total_seconds() / 3600, 1)
        if p.taken_at is not None and f.dispatched_at is not None
        else None
    )
    return AfterPhoto(p, far, hours)


async def _verify_context(session: Session, caller: Principal, ref: Reference) -> dict[str, Any]:
    now = utcnow()
    rows = []
    for f in await desk_queries.verification_queue(session, caller):
        photos = await verification_photos(session, f)
        rows.append(
            Submission(
                f,
                _category(ref, f),
                _name(ref, f.responsible_unit_id),
                age_words(waited(f.submitted_at, now)),
                photos.before,
                [_after(f, p) for p in photos.after],
                allowed_actions(f, _actor(caller, ref, f), VERIFY_DESK),
            )
        )
    return {"rows": rows, "error": None}


@router.get("/verify")
async def verify_desk(request: Request, caller: UiCaller, session: Session) -> Response:
    return await _desk(request, caller, session, "verifier", _verify_context, "ui/desk_verify.html")


# --- the leader's desk ------------------------------------------------------------------


@router.get("/lead")
async def lead_desk(request: Request, caller: UiCaller, session: Session) -> Response:
    """The escalations addressed to the caller by level (highest first) and age, each with
    the 批示 form while unacknowledged, and what happened to the finding after the 批示."""
    if caller.person_id is None:
        raise PageNotFound
    now = utcnow()
    rows = await desk_queries.my_escalations(session, caller)
    events = await desk_queries.events_after(session, [r.escalation.finding_id for r in rows])
    items = []
    for r in rows:
        e = r.escalation
        since = [
            (action, at)
            for action, at in events.get(e.finding_id, [])
            if e.acknowledged_at is not None and at > e.acknowledged_at
        ]
        items.append((r, age_words(waited(e.fired_at, now)), since))
    levels = sorted({r.escalation.level for r in rows}, reverse=True)
    context = {
        "items": items,
        "levels": levels,
        "now": now,
        "done": request.query_params.get("done"),
        "light_of": light_of,
    } | await _district_head(session, caller, await _ref(request, session), now)
    return render(request, "ui/desk_lead.html", context, caller)


DISTRICT_OVERDUE_ROWS = 20


async def _district_head(
    session: Session, caller: Principal, ref: Reference, now: datetime
) -> dict[str, Any]:
    """For a leader of a district: where the district stands among the districts (the
    published 红黑榜), its streets ranked, and its most overdue findings (scoped in SQL)."""
    if caller.unit_kind != "district":
        return {"district": None}
    districts = (await ranking(session, "district", since=None, until=None, now=now)).units
    streets = (await ranking(session, "street", since=None, until=None, now=now)).units
    mine = [
        u
        for u in streets
        if u.unit_id in ref.units and ref.units[u.unit_id].path.startswith(caller.unit_path)
    ]
    overdue = await list_findings(
        session,
        caller,
        FindingFilters(overdue=True),
        now=now,
        limit=DISTRICT_OVERDUE_ROWS,
        after=None,
    )
    overdue.sort(key=lambda f: f.due_at or now)
    return {
        "district": next((u for u in districts if u.unit_id == caller.unit_id), None),
        "district_count": len(districts),
        "streets": mine,
        "overdue": [(f, _category(ref, f), _name(ref, f.responsible_unit_id)) for f in overdue],
    }
