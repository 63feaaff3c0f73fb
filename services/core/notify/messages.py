"""Messages in Chinese from the templates in services/core/notify/templates: what, where,
which unit, the level, the deadline in local time, the days overdue and the signed link, as
markdown (robots), plain text and HTML (email), template parameters (SMS) and the webhook's
JSON. Rendering is pure: the row, the time and the link settings in, the message out; the
same row renders the same bytes on every retry once it has been tried."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2

from services.core.models import Notification
from services.core.notify.channels.base import Message
from services.core.notify.links import link_url, make_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Aliyun refuses a template parameter longer than this.
SMS_PARAM_MAX = 35
TARGET_LABELS = {
    "unit_head": "责任单位主要负责人",
    "district_head": "区（市）第一责任人",
    "city_leader": "联系区（市）的市领导",
    "discipline_commission": "市纪委监委",
}
# Fullwidth look-alikes: a description cannot smuggle a link or HTML into a leader's group.
_MD = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "(": "（", ")": "）"})


def _md(value: object) -> str:
    return str(value or "").translate(_MD)


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,  # noqa: S701 - markdown and text are not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters["md"] = _md
    return env


_PLAIN = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@dataclass(frozen=True)
class LinkSettings:
    public_url: str
    secret: str
    ttl: timedelta


def link_expiry(n: Notification, links: LinkSettings, now: datetime) -> datetime:
    """Counted from the first attempt (fixed once made), so a notice held over a long
    holiday does not arrive with a stale link, and a retry carries the same link."""
    return (n.first_attempt_at or now) + links.ttl


def local(value: str | None, tz: ZoneInfo) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def days_overdue(due: str | None, now: datetime) -> int:
    if not due:
        return 0
    return max(0, (now - datetime.fromisoformat(due)).days)


def _item(facts: Mapping[str, Any], tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    return {
        "unit": facts.get("responsible_unit_name") or "",
        "district": facts.get("district_name") or "",
        "what": facts.get("category_name") or "",
        "description": facts.get("description") or "",
        "address": facts.get("address"),
        "due": local(facts.get("due_at"), tz),
        "days_overdue": days_overdue(facts.get("due_at"), now),
        "level": facts.get("level"),
        "target_name": facts.get("target_name"),
        "target_title": facts.get("target_title"),
        "target_unit": facts.get("target_unit_name") or facts.get("target_unit") or "",
        "why": facts.get("why") or "",
    }


def list_url(public_url: str, p: Mapping[str, Any]) -> str:
    """The dashboard's escalation list filtered as a digest is (district, level): where the
    whole backlog is, behind the login."""
    filters = {k: p[k] for k in ("district", "level") if p.get(k)}
    query = f"?{urlencode(filters)}" if filters else ""
    return f"{public_url.rstrip('/')}/ui/escalations{query}"


def context(
    n: Notification, tz: ZoneInfo, now: datetime, link: str, links: LinkSettings
) -> dict[str, Any]:
    p: Mapping[str, Any] = n.payload or {}
    item = _item(p, tz, now)
    ttl = links.ttl
    return {
        **item,
        "list_url": list_url(links.public_url, p),
        "notification_id": n.id,
        "subject": n.subject,
        "kind": n.kind,
        "level": p.get("level"),
        "target": p.get("target"),
        "target_label": TARGET_LABELS.get(str(p.get("target")), ""),
        "reason": p.get("reason"),
        "due_label": p.get("due_label") or "整改期限",
        "link": link,
        "link_days": max(1, round(ttl.total_seconds() / 86400)),
        "count": int(p.get("count", 1)),
        "scope": p.get("scope"),
        "items": [_item(i, tz, now) for i in p.get("items", [])],
    }


def sms_params(kind: str, c: Mapping[str, Any], token: str) -> dict[str, str]:
    """The parameters each approved template names (README lists them)."""
    if kind == "escalation":
        values = {
            "level": c["level"],
            "unit": c["unit"],
            "what": c["what"],
            "days": c["days_overdue"],
            "code": token,
        }
    elif kind in ("reminder", "notice"):
        values = {"unit": c["unit"], "what": c["what"], "due": c["due"], "code": token}
    elif kind == "digest":
        values = {"scope": c["scope"] or "", "level": c["level"] or "", "count": c["count"]}
        values["code"] = token
    else:
        values = {"count": c["count"], "code": token}
    return {k: str(v)[:SMS_PARAM_MAX] for k, v in values.items()}


def webhook_body(n: Notification, tz: ZoneInfo, link: str | None = None) -> bytes:
    """The exact bytes POSTed (and signed) to a webhook; the same on every retry."""
    document: dict[str, Any] = {
        "id": n.id,
        "kind": n.kind,
        "subject": n.subject,
        "payload": n.payload,
        "created_at": n.created_at.astimezone(tz).isoformat(),
    }
    if link is not None:
        document["link"] = link
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# The template of each kind of notice that leaves the inbox; a sign-for reminder or
# escalation, a suspension's reminder and an overdue inspection task's notices share the
# plain one (their subject says what).
_TEMPLATES = {
    "escalation": "escalation",
    "reminder": "reminder",
    "digest": "digest",
    "undelivered": "undelivered",
    "sign_for": "notice",
    "suspension": "notice",
    "task_reminder": "notice",
    "task_escalation": "notice",
}


def render(n: Notification, *, tz: ZoneInfo, now: datetime, links: LinkSettings) -> Message:
    token = make_token(links.secret, n.id, link_expiry(n, links, now))
    link = link_url(links.public_url, token)
    c = context(n, tz, now, link, links)
    name = _TEMPLATES.get(n.kind, "escalation")
    return Message(
        notification_id=n.id,
        kind=n.kind,
        subject=n.subject,
        markdown=_PLAIN.get_template(f"{name}.md.j2").render(c),
        text=_PLAIN.get_template(f"{name}.txt.j2").render(c),
        html=_HTML.get_template(f"{name}.html.j2").render(c),
        link=link,
        sms_params=sms_params(name, c, token),
        body=webhook_body(n, tz, link),
    )
