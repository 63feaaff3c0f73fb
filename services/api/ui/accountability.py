"""The accountability page (问责台账): a person's ledger over a period with the posts they held,
the 问责 records the caller may see, and for the discipline commission and admins the
evidence pack of that person or of a commitment by its number. Scoped exactly like the API:
another person's ledger is the 404 page for anyone but its readers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from services.core.accountability import queries, service
from services.core.accountability.pack import Subject, may_make_pack
from services.core.accountability.rules import ACTION_NAMES, LEDGER_READERS, POST_ROLE_NAMES
from services.core.calendar.store import load_city_clock
from services.core.evidence.storage import make_storage
from services.core.models import Person
from services.core.platform.errors import DomainError, NotFound
from services.core.platform.keys import pack_signing_key

from ..deps import Session, State, utcnow
from .pages import PageNotFound, UiCaller, render
from .session import csrf_ok

router = APIRouter(prefix="/ui/accountability", include_in_schema=False)
PERIOD_DAYS = 30
MAX_PEOPLE = 2000


def _day(raw: str | None, default: date) -> tuple[date, bool]:
    """The date asked for, or the default and whether the one asked for was not a date."""
    if not raw:
        return default, False
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return default, True
    return (day, False) if 2000 <= day.year <= 2100 else (default, True)


def _period(request: Request, tz: ZoneInfo) -> tuple[date, date, bool]:
    today = utcnow().astimezone(tz).date()
    since, bad_since = _day(request.query_params.get("since"), today - timedelta(PERIOD_DAYS))
    until, bad_until = _day(request.query_params.get("until"), today)
    if until < since:
        return today - timedelta(PERIOD_DAYS), today, True
    return since, until, bad_since or bad_until


def _bounds(since: date, until: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    # Whole local days: `until` is the last day counted.
    return (
        datetime.combine(since, time.min, tzinfo=tz),
        datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz),
    )


def _person(request: Request, default: int | None) -> int | None:
    raw = request.query_params.get("person", "")
    if raw.isdigit() and 0 < int(raw) < 2**31:
        return int(raw)
    return default


@router.get("")
async def ledger_page(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    tz = ZoneInfo(state.settings.timezone)
    now = utcnow()
    reader = caller.role in LEDGER_READERS
    person_id = _person(request, caller.person_id)
    if person_id is None and not reader:
        raise PageNotFound
    since, until, bad = _period(request, tz)
    context: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "bad_period": bad,
        "person_id": person_id,
        "ledger": None,
        "records": [],
        "people": [],
        "reader": reader,
        "may_pack": may_make_pack(caller),
        "actions": ACTION_NAMES,
        "roles": POST_ROLE_NAMES,
        "levels": range(1, 5),
    }
    if reader:
        rows = await session.execute(
            select(Person.id, Person.name).order_by(Person.name, Person.id).limit(MAX_PEOPLE)
        )
        context["people"] = [(row.id, row.name) for row in rows]
    if person_id is not None:
        start, end = _bounds(since, until, tz)
        clock = await load_city_clock(session, state.settings)
        try:
            context["ledger"] = await service.person_ledger(
                session, caller, person_id, start, end, clock, now
            )
        except NotFound as exc:
            raise PageNotFound from exc
        context["records"] = await queries.records(session, caller, now, person_id=person_id)
    return render(request, "ui/accountability.html", context, caller)


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def _pack_subject(form: Any, tz: ZoneInfo) -> Subject | None:
    """A commitment's pack when its number is given, else the person's over the period."""
    raw_commitment = str(form.get("commitment", "")).strip()
    if raw_commitment:
        commitment = _number(raw_commitment)
        return None if commitment is None else Subject("commitment", commitment=commitment)
    person = _number(str(form.get("person", "")))
    since, bad_since = _day(str(form.get("since", "")), date.min)
    until, bad_until = _day(str(form.get("until", "")), date.min)
    if person is None or bad_since or bad_until:
        return None
    start, end = _bounds(since, until, tz)
    return Subject("person", person=person, since=start, until=end)


@router.post("/pack")
async def pack_download(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    """The evidence pack of the person shown over the period shown, or of the commitment
    whose number was given (the same as the API's)."""
    form = await request.form()
    if not csrf_ok(request, state.jwt_secret, str(form.get("csrf", ""))):
        return Response("CSRF token missing or wrong.", status_code=403)
    if not may_make_pack(caller):
        return Response("Evidence packs are the discipline commission's.", status_code=403)
    tz = ZoneInfo(state.settings.timezone)
    subject = _pack_subject(form, tz)
    if subject is None:
        return Response(
            "A commitment's number, or a person and a period (YYYY-MM-DD), is required.",
            status_code=422,
        )
    try:
        name, archive = await service.make_pack(
            session,
            caller,
            subject,
            storage=make_storage(state.settings),
            key=pack_signing_key(state.settings),
            tz=tz,
            font_path=state.settings.pdf_font,
            now=utcnow(),
        )
    except DomainError as exc:
        return Response(exc.message, status_code=exc.status)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
