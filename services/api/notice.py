"""The page every message links to: `/n/<token>`, server-rendered for a phone, no login.

Threat model (README "The link in every message"). The link travels through group chats,
mailboxes and SMS, so anyone it reaches may hold it: a group member, a forwarded email, a
phone's lock screen, a link scanner. It therefore

- only names one outbox row, is signed (HMAC-SHA256 under the installation's link secret,
  96 bits checked) and expires (DUBAN_LINK_TTL_HOURS): a stolen or forwarded link stops
  working by itself;
- shows what the message itself already said (the escalation, or a digest's list), nothing
  more of the system, and records when it was first opened (a scanner that fetches it counts
  as an opening: "opened" is evidence the message was seen by something, the 批示 is the
  proof a leader read it);
- acknowledges without a password only from a message addressed to the escalation's own
  target person (never a group's message, never a digest), only while fresh
  (DUBAN_LINK_ACK_HOURS after it was sent), and only once: the first 批示 spends it, a
  second post is refused (410). The 批示 is recorded with `via: link` and the message id on
  the finding's trail, so an acknowledgement made with a leaked link is visible and
  attributable to the message that leaked. Anything else needs the dashboard's login.

The page sets no cookie; the strict content security policy of every answer applies, and
`Referrer-Policy: no-referrer` keeps the token out of other sites' logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.core.escalation.acknowledge import AcknowledgeError, acknowledge_by_link
from services.core.escalation.queries import EscalationRow, linked_escalations, status_of
from services.core.models import Notification
from services.core.notify import store
from services.core.notify.links import ExpiredLink, InvalidLink, read_token
from services.core.platform.keys import link_secret

from .deps import Session, State, utcnow
from .state import AppState

router = APIRouter(prefix="/n", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
# Spent or stale links are gone for good; an acknowledged or resolved escalation conflicts.
REFUSAL_STATUS = {"used": 410, "stale": 410, "acknowledged": 409, "resolved": 409}
# A digest's page lists at most this many of its escalations; the dashboard has them all.
LISTED = 200


def _page(
    request: Request, state: AppState, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    tz = ZoneInfo(state.settings.timezone)
    base = {
        "fmt": lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else "—",
        "status_of": status_of,
        "error": None,
        "done": False,
    }
    return templates.TemplateResponse(request, "notice.html", base | context, status_code=status)


def _notification_id(state: AppState, token: str, now: datetime) -> int | ExpiredLink | None:
    try:
        return read_token(link_secret(state.settings), token, now)
    except ExpiredLink as exc:
        return exc
    except InvalidLink:
        return None


def ack_refusal(
    n: Notification, row: EscalationRow | None, now: datetime, window: timedelta
) -> str | None:
    """Why this link may not acknowledge without a password (None: it may)."""
    if row is None or n.kind != "escalation":
        return "not_for_ack"
    e = row.escalation
    if e.target_person_id is None or not (n.chain or "").endswith(f":p{e.target_person_id}"):
        return "group"
    if n.link_used_at is not None:
        return "used"
    if e.acknowledged_at is not None:
        return "acknowledged"
    if e.resolved_at is not None:
        return "resolved"
    if now >= (n.sent_at or n.created_at) + window:
        return "stale"
    return None


async def _context(
    session: Session, state: AppState, n: Notification, now: datetime
) -> dict[str, Any]:
    ids: list[int] = []
    if n.kind == "escalation" and n.escalation_id is not None:
        ids = [n.escalation_id]
    elif n.kind == "digest":
        ids = (await store.digest_escalations(session, n.id))[:LISTED]
    elif n.kind == "undelivered":
        ids = [int(i) for i in (n.payload or {}).get("escalation_ids", [])][:LISTED]
    rows = await linked_escalations(session, ids) if ids else []
    one = rows[0] if n.kind == "escalation" and rows else None
    window = timedelta(hours=state.settings.link_ack_hours)
    payload = n.payload or {}
    filters = {
        k: v
        for k, v in {"district": payload.get("district"), "level": payload.get("level")}.items()
        if v
    }
    return {
        "n": n,
        "rows": rows,
        "one": one,
        "refusal": ack_refusal(n, one, now, window),
        "count": int(payload.get("count", len(rows))),
        "list_url": "/ui/escalations" + (f"?{urlencode(filters)}" if filters else ""),
        "finding_url": f"/ui/findings/{n.finding_id}" if n.finding_id else None,
    }


def _gone(request: Request, state: AppState, expired: ExpiredLink | None) -> HTMLResponse:
    return _page(
        request, state, {"gone": "expired" if expired else "invalid"}, 410 if expired else 404
    )


@router.get("/{token}")
async def open_link(request: Request, token: str, session: Session, state: State) -> Response:
    now = utcnow()
    found = _notification_id(state, token, now)
    if not isinstance(found, int):
        return _gone(request, state, found)
    n = await store.link_opened(session, found, now)
    if n is None:
        return _gone(request, state, None)
    context = await _context(session, state, n, now)
    context["done"] = request.query_params.get("done") == "1"
    return _page(request, state, context)


@router.post("/{token}")
async def acknowledge_link(
    request: Request,
    token: str,
    session: Session,
    state: State,
    instruction: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    now = utcnow()
    found = _notification_id(state, token, now)
    if not isinstance(found, int):
        return _gone(request, state, found)
    n = await session.get(Notification, found, with_for_update=True)
    if n is None:
        return _gone(request, state, None)
    context = await _context(session, state, n, now)
    refusal = context["refusal"]
    if refusal is not None:
        context["error"] = refusal
        return _page(request, state, context, REFUSAL_STATUS.get(refusal, 403))
    if not instruction.strip():
        context["error"] = "instruction"
        return _page(request, state, context, 422)
    assert n.escalation_id is not None  # noqa: S101 - an escalation's message (refusal above)
    person = context["one"].escalation.target_person_id
    # Spent first, in the same transaction: two posts at once cannot both acknowledge.
    if not await store.use_link(session, n.id, now):
        context["error"] = "used"
        return _page(request, state, context, 410)
    try:
        await acknowledge_by_link(session, n.escalation_id, person, instruction, now, n.id)
    except AcknowledgeError as exc:
        context["error"] = "acknowledged" if exc.status == 409 else "instruction"
        return _page(request, state, context, exc.status)
    return RedirectResponse(f"/n/{token}?done=1", status_code=303)
