"""The commitments ledger's screens: the list in the caller's scope (the office sees the
city, a unit its subtree), one commitment with its progress reports, and the forms each
role has there: the unit reports progress, the office accepts or returns a report, a leader
takes or ends personal charge. Every form carries the session's CSRF token and goes through
the same use cases as the API; another district's commitment is the 404 page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from services.core.commitments import photos, queries, rules, service, supervision
from services.core.commitments.queries import Filters
from services.core.commitments.rules import STATUSES
from services.core.identity.principal import Principal
from services.core.models import Unit
from services.core.platform.errors import DomainError, NotFound
from services.core.reference.snapshot import Reference

from ..deps import Session, SettingsDep, State, app_state, utcnow
from ..routes.findings import make_clock
from .pages import PageNotFound, UiCaller, render
from .session import csrf_ok

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE_SIZE = 200


@router.get("/commitments")
async def commitments_page(request: Request, caller: UiCaller, session: Session) -> Response:
    params = {k: v for k, v in request.query_params.items() if v}
    status = params.get("status") if params.get("status") in STATUSES else None
    meeting = params.get("meeting")
    filters = Filters(
        meeting=int(meeting) if meeting and meeting.isdigit() and len(meeting) < 10 else None,
        status=status,
        supervised_by=caller.person_id if params.get("mine") == "1" else None,
    )
    now = utcnow()
    rows = await queries.commitments_page(
        session, caller, filters, now, after=None, limit=PAGE_SIZE
    )
    context = {"rows": rows, "now": now, "statuses": STATUSES, "params": params}
    return render(request, "ui/commitments.html", context, caller)


async def _context(session: Session, caller: Principal, cid: int) -> dict[str, Any]:
    try:
        view = await queries.get_view(session, caller, cid)
    except NotFound as exc:
        raise PageNotFound from exc
    unit_path = await session.scalar(select(Unit.path).where(Unit.id == view.commitment.unit_id))
    progress = await queries.progress_of(session, cid)
    return {
        "v": view,
        "now": utcnow(),
        "progress": progress,
        "photos": await photos.photos_of(session, [p.id for p in progress]),
        "office": rules.is_office(caller),
        "reports": rules.may_report(caller, unit_path or ""),
        "leads": rules.may_take_charge(caller),
        "holds": any(s.person_id == caller.person_id for s in view.supervisors),
    }


@router.get("/commitments/{commitment_id}")
async def commitment_page(
    request: Request, commitment_id: int, caller: UiCaller, session: Session
) -> Response:
    context = await _context(session, caller, _id(commitment_id))
    context["done"] = request.query_params.get("done", "")
    return render(request, "ui/commitment.html", context, caller)


def _id(value: int) -> int:
    if not 1 <= value <= 2**31 - 1:
        raise PageNotFound
    return value


async def _refused(
    request: Request, session: Session, caller: Principal, cid: int, exc: DomainError
) -> Response:
    """A refusal before anything was written: the page again with the reason."""
    if exc.status == 404:
        raise PageNotFound from exc
    context = await _context(session, caller, cid)
    context["error"] = exc.message
    return render(request, "ui/commitment.html", context, caller, status=exc.status)


def _back(cid: int, done: str) -> Response:
    return RedirectResponse(f"/ui/commitments/{cid}?done={done}", status_code=303)


@router.post("/commitments/{commitment_id}/progress")
async def progress_submit(
    request: Request, commitment_id: int, caller: UiCaller, session: Session, state: State,
    settings: SettingsDep, text: Annotated[str, Form(max_length=4000)] = "",
    percent: Annotated[str, Form(max_length=3)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:  # fmt: skip
    if not csrf_ok(request, state.jwt_secret, csrf):
        return Response("CSRF token missing or wrong.", status_code=403)
    cid = _id(commitment_id)
    try:
        if not text.strip() or "\x00" in text:
            raise DomainError(422, "Say what was done.", "text")
        if not percent.isdigit() or not 0 <= int(percent) <= 100:
            raise DomainError(422, "The percent is a whole number 0..100.", "percent")
        clock = make_clock(await _reference(request, session), settings)
        await service.report_progress(session, cid, text.strip(), int(percent), caller, clock)
    except DomainError as exc:
        return await _refused(request, session, caller, cid, exc)
    return _back(cid, "progress")


@router.post("/commitments/{commitment_id}/progress/{progress_id}/review")
async def review_submit(
    request: Request, commitment_id: int, progress_id: int, caller: UiCaller, session: Session,
    state: State, settings: SettingsDep, decision: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:  # fmt: skip
    if not csrf_ok(request, state.jwt_secret, csrf):
        return Response("CSRF token missing or wrong.", status_code=403)
    cid = _id(commitment_id)
    try:
        if decision not in ("accept", "return") or "\x00" in note:
            raise DomainError(422, "Accept or return the report.", "decision")
        clock = make_clock(await _reference(request, session), settings)
        await service.review_progress(
            session, cid, _id(progress_id), decision == "accept", note.strip() or None, caller,
            clock,
        )  # fmt: skip
    except DomainError as exc:
        return await _refused(request, session, caller, cid, exc)
    return _back(cid, "review")


@router.post("/commitments/{commitment_id}/supervision")
async def supervision_submit(
    request: Request, commitment_id: int, caller: UiCaller, session: Session, state: State,
    settings: SettingsDep, end: Annotated[str, Form(max_length=1)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:  # fmt: skip
    if not csrf_ok(request, state.jwt_secret, csrf):
        return Response("CSRF token missing or wrong.", status_code=403)
    cid = _id(commitment_id)
    item = supervision.Item(commitment=cid)
    try:
        clock = make_clock(await _reference(request, session), settings)
        if end == "1":
            await supervision.release(session, caller, item, clock)
        else:
            await supervision.take_charge(session, caller, item, None, clock)
    except DomainError as exc:
        return await _refused(request, session, caller, cid, exc)
    return _back(cid, "supervision")


async def _reference(request: Request, session: Session) -> Reference:
    """The reference snapshot (its calendar) as of the revision read with the caller."""
    return await app_state(request).references.at(session, request.state.config_revision)
