"""The dashboard's pages: server-rendered, scoped exactly like the API (same core queries,
same Principal), out of scope is the 404 page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.store import load_city_clock
from services.core.desks.rules import allowed_actions, dispatchable_units
from services.core.escalation.acknowledge import (
    AcknowledgeError,
    acknowledge,
    acknowledge_event,
    may_acknowledge,
)
from services.core.escalation.queries import (
    ESCALATION_STATUSES,
    LIGHTS,
    EscalationFilters,
    filter_clauses,
    list_escalations,
    status_of,
)
from services.core.escalation.rules import Light
from services.core.evidence.attachments import claim, link, summary, upload
from services.core.evidence.service import EvidenceError, EvidencePolicy, verification_photos
from services.core.evidence.storage import make_storage
from services.core.exposure.service import get_video, list_videos, progress_of, segments_of
from services.core.findings.queries import (
    accept_within_of,
    co_units_of,
    events_of,
    open_suspension_of,
)
from services.core.findings.rules import Action, accept_due_at, accept_light, light_of
from services.core.identity.principal import Actor, Principal
from services.core.identity.security import issue_access_token, read_access_token
from services.core.inspection.queries import blind_spots, coverage_rows, map_points
from services.core.models import CLOCK_RUNNING, SOURCES, Attachment, Escalation, User
from services.core.notify.queries import delivery_state, delivery_states, receipts
from services.core.platform.db import driver_connection
from services.core.platform.errors import UnknownReference
from services.core.platform.settings import Settings
from services.core.stats.queries import REPORTED_LEVELS, ranking

from ..deps import Session, State, access_token_caller, app_state, utcnow
from ..login import password_user, retry_after
from ..pagination import CursorKey, K, decode_cursor, encode_cursor
from ..problems import Problem
from ..routes.escalations import cursor_key
from ..schemas.wire import FIRST_YEAR, LAST_YEAR
from . import charts, queries
from .i18n import DEFAULT_LANG, LANGS, translator
from .session import (
    COOKIE,
    LANG_COOKIE,
    clear_session,
    csrf_ok,
    csrf_token,
    login_csrf_ok,
    login_csrf_token,
    login_nonce,
    set_login_nonce,
    set_session,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
PAGE_SIZE = 50
SUPERVISORS = frozenset({"supervisor", "admin"})
LEAD_DESK = "/ui/desk/lead"


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageNotFound(Exception):
    pass


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    stored = request.cookies.get(LANG_COOKIE)
    return stored if stored in LANGS else DEFAULT_LANG


def _with_lang(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    return f"{request.url.path}?{urlencode(params)}"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    user: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    state = request.app.state.duban
    lang = _lang(request)
    session_token = request.cookies.get(COOKIE)
    tz = ZoneInfo(state.settings.timezone)
    base = {
        "t": translator(lang),
        "lang": lang,
        "user": user,
        "is_supervisor": user is not None and user.role in SUPERVISORS,
        "csrf": csrf_token(session_token, state.jwt_secret) if session_token else "",
        "other_lang_url": _with_lang(request, "en" if lang == "zh" else "zh"),
        "fmt": lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else "—",
        "fmt_iso": lambda v: datetime.fromisoformat(v).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, name, base | context, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax")
    return response


async def ui_caller(request: Request, state: State, session: Session) -> Principal:
    token = request.cookies.get(COOKIE)
    db = await driver_connection(session)
    found = await access_token_caller(db, token, state.jwt_secret) if token else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    # The reference revision read with the caller, as the API's `authenticate` leaves it:
    # a desk's routing suggestion and actions read the snapshot as of it.
    request.state.config_revision = found.revision
    return found.principal


UiCaller = Annotated[Principal, Depends(ui_caller)]


def _safe_next(value: str | None) -> str:
    # Only paths of this dashboard: never an open redirect to another site.
    if value and value.startswith("/ui") and not value.startswith("//"):
        return value
    return "/ui"


# --- login ------------------------------------------------------------------------------


def _login_form(request: Request, next: str, error: str | None, status: int = 200) -> Response:
    """The login page, its form carrying the CSRF token of the browser's login nonce."""
    secret: str = request.app.state.duban.jwt_secret
    nonce = login_nonce(request)
    csrf = login_csrf_token(nonce, secret)
    context = {"next": _safe_next(next), "error": error, "login_csrf": csrf}
    response = render(request, "ui/login.html", context, status=status)
    set_login_nonce(response, request, nonce)
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return _login_form(request, next or "/ui", None)


@router.post("/login")
async def login_submit(
    request: Request,
    state: State,
    session: Session,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=1000)] = "/ui",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    # Before the password is looked at: another site's page must not log this browser in.
    if not login_csrf_ok(request, state.jwt_secret, csrf):
        return _login_form(request, next, "login_expired", status=403)
    if await retry_after(state, request, username) is not None:
        return _login_form(request, next, "login_throttled", status=429)
    user = await password_user(state, session, request, username, password)
    if user is None:
        return _login_form(request, next, "login_failed", status=401)
    minutes = state.settings.access_token_minutes
    token = issue_access_token(user.id, user.token_version, state.jwt_secret, utcnow(), minutes)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session(response, request, token, minutes)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    state: State,
    session: Session,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """End the session here and everywhere: every dashboard session and access token of the
    user (other browsers, the phone app's bearer tokens) stops at once. API tokens stay: they
    belong to devices and scripts, and are revoked one by one (`duban token revoke`)."""
    if not csrf_ok(request, state.jwt_secret, csrf):
        return Response("CSRF token missing or wrong.", status_code=403)
    claims = read_access_token(request.cookies.get(COOKIE, ""), state.jwt_secret)
    if claims is not None:
        # Only a session still valid ends the others: an old cookie's logout changes nothing.
        await session.execute(
            update(User)
            .where(User.id == claims.user_id, User.token_version == claims.version)
            .values(token_version=User.token_version + 1)
        )
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session(response)
    return response


# --- overview ---------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def overview(request: Request, caller: UiCaller, session: Session, state: State) -> Response:
    now = utcnow()
    tz = ZoneInfo(state.settings.timezone)
    context: dict[str, Any] = {"levels": REPORTED_LEVELS, "now": now}
    if caller.role in SUPERVISORS:
        await queries.plan_with_parameters(session)
        weeks = queries.trend_weeks(now, tz)
        ranked = await ranking(session, "district", since=None, until=None, now=now, windows=weeks)
        stats = ranked.units
        exposure = await queries.exposure_by_district(session)
        worst = max(stats, key=lambda s: s.counts.overdue_open, default=None)
        trend = await queries.weekly_trend(session, weeks, ranked.open_reported)
        context |= {
            "stats": stats,
            "exposure": exposure,
            "worst": worst if worst is not None and worst.counts.overdue_open > 0 else None,
            "trend": charts.trend(trend),
        }
    else:
        rows = await list_escalations(
            session, caller, [Escalation.resolved_at.is_(None)], after=None, limit=20
        )
        context["mine"] = rows
    return render(request, "ui/overview.html", context, caller)


# --- escalations ------------------------------------------------------------------------

FILTER_NAMES = ("district", "unit", "level", "status", "source", "since", "until", "light")


def list_params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The query's filters (those of `names`) and its cursor; anything else is dropped."""
    return {k: v for k, v in request.query_params.items() if k in (*names, "cursor")}


def cursor_after(params: dict[str, str], key: CursorKey[K]) -> K | None:
    """Where the page starts; none for page one."""
    if not params.get("cursor"):
        return None
    try:
        return decode_cursor(params["cursor"], key)
    except Problem:
        # A malformed cursor restarts at page one rather than answering an error page.
        return None


async def list_context(
    session: Session, path: str, params: dict[str, str], bad: str | None, last: list[Any] | None
) -> dict[str, Any]:
    """What every filtered list's form and pager read: the filters as given, the refused one
    (if any), the page links, and the choices the filters offer."""
    return {
        "params": params,
        "bad": bad,
        **pager(path, params, last),
        "districts": await queries.district_choices(session),
        "sources": SOURCES,
        "lights": LIGHTS,
    }


def pager(path: str, params: dict[str, str], last: list[Any] | None) -> dict[str, Any]:
    """The pager's links, keeping the filters: page one, and the next page after `last` (the
    sort key of this page's last row) when there is more."""
    keep = {k: v for k, v in params.items() if k != "cursor" and v}
    return {
        "next_url": None
        if last is None
        else f"{path}?" + urlencode(keep | {"cursor": encode_cursor(last)}),
        "paged": bool(params.get("cursor")),
        "first_url": f"{path}?" + urlencode(keep),
    }


def _day(value: str, tz: ZoneInfo) -> datetime:
    day = date.fromisoformat(value)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:  # far-off days overflow once moved to UTC
        raise ValueError(value)
    return datetime.combine(day, time(0), tzinfo=tz)


def read_form(
    params: dict[str, str], names: tuple[str, ...], field: Callable[[str, str], Any]
) -> tuple[dict[str, Any], str | None]:
    """The form's filled-in values, each read by `field` (which raises KeyError or ValueError
    on a bad one); on the first bad one, nothing and that field's name."""
    values: dict[str, Any] = {}
    for name in names:
        raw = params.get(name, "").strip()
        if not raw:
            continue
        try:
            values[name] = field(name, raw)
        except (KeyError, ValueError):
            return {}, name
    return values, None


def api_query(filters: object, names: tuple[str, ...]) -> dict[str, str]:
    """The filters set among `names` as the API's list reads them (the screen's CSV and
    XLSX links ask the API for the same rows)."""
    out: dict[str, str] = {}
    for name in names:
        value = getattr(filters, name)
        if value is None:
            continue
        if isinstance(value, datetime):
            out[name] = value.isoformat()
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, tuple):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)  # a Light is a StrEnum: its value
    return out


def common_field(name: str, raw: str, tz: ZoneInfo, statuses: Collection[str]) -> Any:
    """The filters every list reads alike: a day, a light, a status or source of its
    vocabulary, anything else as text (cut to 64)."""
    if name in ("since", "until"):
        return _day(raw, tz)
    if name == "light":
        return Light(raw)
    if (name == "status" and raw not in statuses) or (name == "source" and raw not in SOURCES):
        raise ValueError(raw)
    return raw[:64]


def _filters(params: dict[str, str], tz: ZoneInfo) -> tuple[EscalationFilters, str | None]:
    """The form's values as the API's filters; the name of the first bad field, if any."""

    def field(name: str, raw: str) -> Any:
        if name == "level":
            level = int(raw)
            if not 1 <= level <= 9:
                raise ValueError(raw)
            return level
        return common_field(name, raw, tz, ESCALATION_STATUSES)

    values, bad = read_form(params, FILTER_NAMES, field)
    return EscalationFilters(**values), bad


@router.get("/escalations")
async def escalations_page(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    tz = ZoneInfo(state.settings.timezone)
    now = utcnow()
    params = list_params(request, FILTER_NAMES)
    filters, bad = _filters(params, tz)
    rows: list[Any] = []
    last: list[Any] | None = None
    if bad is None:
        try:
            clauses = await filter_clauses(session, filters, now=now)
        except UnknownReference as exc:
            bad, clauses = exc.field, []
    if bad is None:
        after = cursor_after(params, cursor_key)
        fetched = await list_escalations(session, caller, clauses, after=after, limit=PAGE_SIZE + 1)
        rows = fetched[:PAGE_SIZE]
        if len(fetched) > PAGE_SIZE:
            e = rows[-1].escalation
            last = [e.fired_at.isoformat(), e.id]
    api = urlencode(api_query(filters, FILTER_NAMES))
    context = {
        **await list_context(session, "/ui/escalations", params, bad, last),
        "rows": rows,
        "csv_url": f"/api/v1/escalations?format=csv&{api}".rstrip("&"),
        "xlsx_url": f"/api/v1/escalations?format=xlsx&{api}".rstrip("&"),
        "statuses": ESCALATION_STATUSES,
        "levels": REPORTED_LEVELS,
        "now": now,
        "status_of": status_of,
        "delivery": await delivery_states(session, [r.escalation.id for r in rows], utcnow()),
    }
    return render(request, "ui/escalations.html", context, caller, status=422 if bad else 200)


# --- one finding ------------------------------------------------------------------------


async def _finding_context(
    session: Session, caller: Principal, finding_id: uuid.UUID, settings: Settings
) -> dict[str, Any]:
    view = await queries.one_finding(session, caller, finding_id)
    if view is None:
        raise PageNotFound
    f = view.finding
    # The sign-for deadline (签收时限) of an assigned finding whose category has one.
    accept_due = None
    if f.status == "assigned":
        within = await accept_within_of(session, f.category_id)
        if within:
            accept_due = accept_due_at(
                f.dispatched_at, within, await load_city_clock(session, settings)
            )
    events = await events_of(session, finding_id, limit=1000, after=None)
    photos = await verification_photos(session, view.finding)
    escalations = await list_escalations(
        session, caller, [Escalation.finding_id == finding_id], after=None, limit=50
    )
    escalations.sort(key=lambda r: r.escalation.level)
    now = utcnow()
    found = {r.escalation.id: await receipts(session, r.escalation.id, now) for r in escalations}
    return {
        "receipts": {
            eid: {"state": delivery_state(rs), "recipients": rs} for eid, rs in found.items()
        },
        "view": view,
        "f": view.finding,
        "events": events,
        "photos": photos,
        "escalations": escalations,
        "may_ack": {
            r.escalation.id
            for r in escalations
            if r.escalation.acknowledged_at is None and may_acknowledge(caller, r.escalation)
        },
        "light": light_of(view.finding, utcnow()),
        "accept_due": accept_due,
        "accept_light": accept_light(f.status, accept_due, now),
        "suspension": await open_suspension_of(session, finding_id),
        "status_of": status_of,
        "error": None,
        "done": False,
    }


def _uuid(text: str) -> uuid.UUID:
    """The id in a page's URL; one that is not a UUID names no page."""
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise PageNotFound from exc


@router.get("/findings/{finding_id}")
async def finding_page(
    request: Request, finding_id: str, caller: UiCaller, session: Session, state: State
) -> Response:
    context = await _finding_context(session, caller, _uuid(finding_id), state.settings)
    context["done"] = request.query_params.get("acknowledged") == "1"
    f = context["f"]
    ref = await app_state(request).references.at(session, request.state.config_revision)
    co = (await co_units_of(session, [f.id])).get(f.id, [])
    context["co_units"] = [ref.units[u].name for u in co if u in ref.units]
    # A dispatcher transfers (转办) from here an item a unit holds.
    actor = Actor(caller.user_id, caller.role, holds_responsible_unit=False)
    if allowed_actions(f, actor, (Action.TRANSFER,)):
        covers = [""] if caller.city_wide else [caller.unit_path]
        context["transfer_units"] = dispatchable_units(ref, covers)
    return render(request, "ui/finding.html", context, caller)


@router.post("/escalations/{escalation_id}/acknowledge")
async def acknowledge_submit(
    request: Request,
    escalation_id: int,
    caller: UiCaller,
    session: Session,
    state: State,
    instruction: Annotated[str, Form(max_length=4000)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
    back: Annotated[str, Form(max_length=64)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if not csrf_ok(request, state.jwt_secret, csrf):
        return Response("CSRF token missing or wrong.", status_code=403)
    e = await session.scalar(select(Escalation).where(Escalation.id == escalation_id))
    if e is None:
        raise PageNotFound
    try:
        # A savepoint: a refusal after the file was stored leaves neither row nor reply.
        async with session.begin_nested():
            attached = await _reply_file(session, e, caller, file, instruction, state.settings)
            extra = {"attachments": [summary(a) for a in attached]} if attached else None
            await acknowledge(session, escalation_id, caller, instruction, utcnow(), extra)
            if attached:
                await link(session, attached, await acknowledge_event(session, e))
    except (AcknowledgeError, EvidenceError) as exc:
        if exc.status == 404:
            raise PageNotFound from exc
        # Refused, and nothing of it kept: the page is re-rendered with the reason.
        context = await _finding_context(session, caller, e.finding_id, state.settings)
        context["error"] = exc.message
        return render(request, "ui/finding.html", context, caller, status=exc.status)
    if back == LEAD_DESK:  # the leader's desk: back to the list of what is addressed to them
        return RedirectResponse(f"{LEAD_DESK}?done=acknowledge", status_code=303)
    return RedirectResponse(f"/ui/findings/{e.finding_id}?acknowledged=1", status_code=303)


async def _reply_file(
    session: AsyncSession,
    e: Escalation,
    caller: Principal,
    file: UploadFile | None,
    instruction: str,
    settings: Settings,
) -> list[Attachment]:
    """The file chosen in the 批示 form, stored for the reply, as the API's two calls would
    (upload, then name it). Only for a reply that will be taken: a refused one stores none."""
    if file is None or not file.filename:
        return []
    if not instruction.strip() or e.acknowledged_at is not None or not may_acknowledge(caller, e):
        return []  # acknowledge() refuses it, with its own reason
    data = await file.read(settings.evidence_max_bytes + 1)
    stored, _ = await upload(
        session,
        e.finding_id,
        file.filename,
        data,
        caller,
        now=utcnow(),
        policy=EvidencePolicy.from_settings(settings),
        storage=make_storage(settings),
    )
    return await claim(session, e.finding_id, [stored.id], caller)


# --- exposure videos --------------------------------------------------------------------


@router.get("/exposure-videos")
async def videos_page(request: Request, caller: UiCaller, session: Session) -> Response:
    videos = await list_videos(session, caller, limit=200, after=None)
    progress = await progress_of(session, [v.id for v in videos], caller, utcnow())
    return render(request, "ui/videos.html", {"videos": videos, "progress": progress}, caller)


@router.get("/exposure-videos/{video_id}")
async def video_page(
    request: Request, video_id: str, caller: UiCaller, session: Session
) -> Response:
    vid = _uuid(video_id)
    video = await get_video(session, vid, caller)
    if video is None:
        raise PageNotFound
    now = utcnow()
    progress = (await progress_of(session, [vid], caller, now))[vid]
    segments = await segments_of(session, vid, caller)
    context = {
        "video": video,
        "p": progress,
        "segments": segments,
        "now": now,
        "running": CLOCK_RUNNING,
    }
    return render(request, "ui/video.html", context, caller)


# --- map --------------------------------------------------------------------------------


# A point's class and radius by its light; one whose clock does not run is just open.
MAP_CLASSES = {Light.RED: ("overdue", 6), Light.YELLOW: ("yellow", 5), Light.GREEN: ("green", 4)}


def _points_svg(
    points: list[queries.MapPoint], canvas: charts.Canvas, words: dict[Light, str]
) -> Markup:
    """The map's points as SVG in one pass: the template's escapes and attribute look-ups
    per point cost more than the query (bench/ANALYSIS.md §4, §15). Only the description is
    text; the rest are numbers, a UUID and fixed words."""
    out = []
    for p in points:
        at = canvas.at(p.lat, p.lon)
        # The light's colour, and its name in the title for those who do not see colour.
        kind, r = MAP_CLASSES[p.light] if p.light else ("open", 4)
        label = f"{words[p.light]} · " if p.light else ""
        out.append(
            f'<a href="/ui/findings/{p.id}"><circle cx="{at.x}" cy="{at.y}" r="{r}"'
            f' class="pt {kind}"><title>{escape(label + p.description)}</title></circle></a>'
        )
    return Markup("\n  ".join(out))  # noqa: S704 - the only text in it is escaped above


@router.get("/map")
async def map_page(request: Request, caller: UiCaller, session: Session) -> Response:
    points = await queries.open_points(session, caller, utcnow())
    places = await queries.districts(session)
    canvas = charts.Canvas(places, points)
    t = translator(_lang(request))
    words = {light: t(f"light_{light.value}") for light in Light}
    context = {
        "canvas": canvas,
        "points": points,
        "points_svg": _points_svg(points, canvas, words),
        "places": [(d, canvas.at(d.lat, d.lon)) for d in places],
        "overdue_count": sum(p.light is Light.RED for p in points),
        "yellow_count": sum(p.light is Light.YELLOW for p in points),
        "limit": queries.MAP_POINTS,
    }
    return render(request, "ui/map.html", context, caller)


# --- coverage ---------------------------------------------------------------------------


def _coverage_svg(
    spots: list[tuple[str, str, float, float, datetime | None]],
    canvas: charts.Canvas,
    blind_before: datetime,
    words: tuple[str, str, str],
) -> Markup:
    """The points on the map: never inspected, blind (not for N days), or covered."""
    out = []
    for code, name, lat, lon, last in spots:
        at = canvas.at(lat, lon)
        kind, word = (
            ("overdue", words[0]) if last is None
            else ("yellow", words[1]) if last < blind_before
            else ("green", words[2])
        )  # fmt: skip
        out.append(
            f'<circle cx="{at.x}" cy="{at.y}" r="4" class="pt {kind}">'
            f"<title>{escape(f'{word} · {name} ({code})')}</title></circle>"
        )
    return Markup("\n  ".join(out))  # noqa: S704 - the only text in it is escaped above


@router.get("/coverage")
async def coverage_page(request: Request, caller: UiCaller, session: Session) -> Response:
    """This month's coverage per district, the blind spots and the coverage map."""
    settings = request.app.state.duban.settings
    tz = ZoneInfo(settings.timezone)
    now = utcnow()
    first = now.astimezone(tz).date().replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    since, until = datetime.combine(first, time(0), tz), datetime.combine(nxt, time(0), tz)
    days = settings.blind_spot_days
    rows = await coverage_rows(
        session, caller, "district", since=since, until=until, now=now, blind_days=days
    )
    spots = await blind_spots(session, caller, now=now, days=days, limit=50)
    on_map = await map_points(session, caller)
    places = await queries.districts(session)
    canvas = charts.Canvas(places, [])
    t = translator(_lang(request))
    words = (t("never_inspected"), t("blind_spot"), t("covered"))
    context = {
        "rows": rows,
        "spots": spots,
        "days": days,
        "month": first.strftime("%Y-%m"),
        "canvas": canvas,
        "places": [(d, canvas.at(d.lat, d.lon)) for d in places],
        "points_svg": _coverage_svg(on_map, canvas, now - timedelta(days=days), words),
        "now": now,
    }
    return render(request, "ui/coverage.html", context, caller)
