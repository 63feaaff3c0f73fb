"""Receipts: what became of an escalation's messages, per recipient — sent, delivered
(where the provider tells), opened (its signed link, or the inbox item read), acknowledged —
and every attempt with the provider's answer. Reads only; the caller checks the escalation
is in scope first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.models import ContactPoint, Notification, NotificationAttempt
from services.core.notify.channels.base import shown_url

# Rows still on their way.
OPEN = ("pending", "standby", "digested")


@dataclass(frozen=True)
class AttemptView:
    at: datetime
    finished_at: datetime | None
    outcome: str | None
    provider_code: str | None
    answer: str | None


@dataclass
class ChannelView:
    notification_id: int
    channel: str
    target: str | None  # a mailbox, a phone, a robot's host; never a token
    rank: int
    status: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    digest_id: int | None
    last_error: str | None
    attempts: list[AttemptView] = field(default_factory=list)


@dataclass
class RecipientView:
    """One recipient of an escalation: its target person, or a unit's work group."""

    kind: str  # person | group
    person_id: int | None
    unit_id: int | None
    name: str | None
    channels: list[ChannelView] = field(default_factory=list)
    inbox_sent_at: datetime | None = None
    inbox_read_at: datetime | None = None
    now: datetime | None = None

    @property
    def sent_at(self) -> datetime | None:
        return _first(c.sent_at for c in self.channels if c.status == "sent")

    @property
    def delivered_at(self) -> datetime | None:
        return _first(c.delivered_at for c in self.channels)

    @property
    def opened_at(self) -> datetime | None:
        return _first([*(c.opened_at for c in self.channels), self.inbox_read_at])

    @property
    def state(self) -> str:
        """delivered | sent | held | sending | not_delivered | inbox_only"""
        if not self.channels:
            return "inbox_only"
        if any(c.status == "sent" for c in self.channels):
            return "delivered" if self.delivered_at is not None else "sent"
        live = [c for c in self.channels if c.status in OPEN]
        if not live:
            return "not_delivered"
        if self.now is not None and all(
            c.status == "pending" and c.next_attempt_at and c.next_attempt_at > self.now
            for c in live
        ):
            return "held"
        return "sending"


def _first(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None


def delivery_state(recipients: list[RecipientView]) -> str:
    """The escalation as a whole: delivered to someone beyond the inbox, on its way, or not
    delivered (no channel configured, or every one gave up)."""
    states = {r.state for r in recipients if r.state != "inbox_only"}
    if states & {"delivered", "sent"}:
        return "delivered"
    if states & {"sending", "held"}:
        return "held" if states == {"held"} else "sending"
    return "not_delivered"


async def receipts(session: AsyncSession, escalation_id: int, now: datetime) -> list[RecipientView]:
    digest = aliased(Notification)
    rows = (
        await session.execute(
            select(
                Notification,
                ContactPoint.target,
                func.coalesce(Notification.opened_at, digest.opened_at).label("opened"),
            )
            .outerjoin(ContactPoint, ContactPoint.id == Notification.contact_point_id)
            .outerjoin(digest, digest.id == Notification.digest_id)
            .where(Notification.escalation_id == escalation_id)
            .order_by(Notification.chain, Notification.rank, Notification.id)
        )
    ).all()
    ids = [n.digest_id or n.id for n, _, _ in rows]
    attempts: dict[int, list[AttemptView]] = {}
    for a in (
        await session.execute(
            select(NotificationAttempt)
            .where(NotificationAttempt.notification_id.in_(ids))
            .order_by(NotificationAttempt.id)
        )
    ).scalars():
        attempts.setdefault(a.notification_id, []).append(
            AttemptView(a.started_at, a.finished_at, a.outcome, a.provider_code, a.answer)
        )
    people: dict[str, RecipientView] = {}
    for n, target, opened in rows:
        if n.channel == "inbox":
            r = _recipient(people, f"p{n.recipient_person_id}", n, now)
            r.inbox_sent_at, r.inbox_read_at = n.sent_at, n.read_at
            continue
        owner = (n.chain or "").rsplit(":", 1)[-1] or f"u{n.recipient_unit_id}"
        r = _recipient(people, owner, n, now)
        shown = target if target is not None else _shown(n.address)
        r.channels.append(
            ChannelView(
                n.id,
                n.channel,
                shown,
                n.rank,
                n.status,
                n.next_attempt_at,
                n.sent_at,
                n.delivered_at,
                opened,
                n.digest_id,
                n.last_error,
                attempts.get(n.digest_id or n.id, []),
            )
        )
    return list(people.values())


def _shown(address: str | None) -> str | None:
    return shown_url(address) if address else None


def _recipient(
    people: dict[str, RecipientView], owner: str, n: Notification, now: datetime
) -> RecipientView:
    found = people.get(owner)
    if found is None:
        group = owner.startswith("u")
        p = n.payload or {}
        found = people[owner] = RecipientView(
            kind="group" if group else "person",
            person_id=None if group else n.recipient_person_id,
            unit_id=n.recipient_unit_id,
            name=p.get("target_unit_name") if group else p.get("target_name"),
            now=now,
        )
    return found


async def delivery_states(
    session: AsyncSession, escalation_ids: list[int], now: datetime
) -> dict[int, str]:
    """The delivery state of each escalation of a page, in one query: delivered, sending,
    held or not_delivered."""
    if not escalation_ids:
        return {}
    rows = await session.execute(
        select(
            Notification.escalation_id,
            func.count().filter(Notification.status == "sent").label("sent"),
            func.count().filter(Notification.status.in_(OPEN)).label("open"),
            func.count()
            .filter(Notification.status == "pending", Notification.next_attempt_at > now)
            .label("waiting"),
        )
        .where(Notification.escalation_id.in_(escalation_ids), Notification.channel != "inbox")
        .group_by(Notification.escalation_id)
    )
    states = dict.fromkeys(escalation_ids, "not_delivered")
    for row in rows:
        if row.sent:
            states[row.escalation_id] = "delivered"
        elif row.open:
            states[row.escalation_id] = "held" if row.waiting == row.open else "sending"
    return states
