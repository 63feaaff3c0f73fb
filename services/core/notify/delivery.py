"""Deliver one outbox notification over its channel and record the outcome.

`deliver` is one attempt inside the caller's transaction:

1. claim the row (FOR UPDATE SKIP LOCKED; pending and due), so however many jobs exist for
   it, one sends it at a time and none after it was recorded;
2. an inbox row held to working hours is simply marked sent;
3. an attempt a dead worker left unfinished means the message may already have gone out: a
   channel whose receiver drops copies by our key (the webhook) sends again; any other (a
   robot, email, SMS) never sends it twice: the row is `in_doubt` and the recipient's next
   channel takes over;
4. a contact point is taken for this transaction (one sender per robot, mailbox or phone,
   so its messages go out in order) and its rate limit checked; a busy or saturated
   destination defers the row without counting an attempt;
5. the attempt is recorded and committed on a connection of its own, then the adapter
   sends, then the answer is recorded: sent (and delivered, where the provider tells), a
   retry with backoff (a rate-limit answer waits out the minute), or failed;
6. a recipient reached skips the rest of their fallback order; one whose channel gave up
   wakes the next; one with none left is written on the finding's trail, and an escalation
   that reached nobody is told to the campaign office.

Every outcome of a recipient's order (reached, or not) is on the finding's trail. The caller
commits, then queues `Outcome.wake` and, when a retry is scheduled, a job for
`next_attempt_at`; the worker's rescan finds them anyway. Secrets, addresses and message
bodies are never logged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.core.models import Notification
from services.core.notify import store
from services.core.notify.channels.base import Attempt, Destination, Sender, shown_url
from services.core.notify.channels.webhook import USER_AGENT, Webhook
from services.core.notify.channels.webhook import post as _post
from services.core.notify.messages import LinkSettings, render, webhook_body
from services.core.notify.secrets import SealError, unseal
from services.core.platform.backoff import RetryPolicy

log = structlog.get_logger("duban.delivery")

__all__ = [
    "USER_AGENT",
    "Attempt",
    "Channels",
    "Outcome",
    "deliver",
    "gave_up",
    "host_of",
    "post_webhook",
    "redacted_address",
    "webhook_body",
]

# A destination another worker is sending to is tried again this much later.
BUSY_WAIT = timedelta(seconds=1)
DEFAULT_LINK_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Channels:
    """What delivery needs besides the row: an adapter per channel, the key the contact
    points are sealed with, the link settings, the per-destination rate limits and after how
    many failed attempts a recipient's next channel takes over."""

    senders: Mapping[str, Sender]
    channel_key: str
    links: LinkSettings
    rate_per_minute: Mapping[str, int] = field(default_factory=dict)
    fallback_after: int = 3


@dataclass(frozen=True)
class Outcome:
    notification_id: int
    status: str  # sent | pending (retry at next_attempt_at) | failed | in_doubt
    attempts: int
    next_attempt_at: datetime | None
    # Rows this outcome made due: a recipient's next channel, the office's notice.
    wake: tuple[int, ...] = ()


def host_of(address: str | None) -> str | None:
    """For logs: where it went, without path or query (tokens live there)."""
    shown = shown_url(address or "")
    return None if shown == "…" else shown


def redacted_address(address: str | None) -> str | None:
    """For people reading the outbox: scheme and host only. Webhook URLs often carry their
    access token in the path or the query."""
    return shown_url(address) if address else None


async def post_webhook(
    client: httpx.AsyncClient, n: Notification, secret: str, tz: ZoneInfo
) -> Attempt:
    """One POST of the notification's webhook body (kept for receivers' tests)."""
    return await _post(client, n.address or "", webhook_body(n, tz), n.id, secret)


def _default_channels(client: httpx.AsyncClient, secret: str) -> Channels:
    return Channels(
        senders={"webhook": Webhook(client, secret)},
        channel_key=secret,
        links=LinkSettings("http://127.0.0.1:8000", secret, DEFAULT_LINK_TTL),
    )


async def deliver(
    session: AsyncSession,
    notification_id: int,
    *,
    client: httpx.AsyncClient,
    secret: str,
    policy: RetryPolicy,
    tz: ZoneInfo,
    now: datetime,
    rand: Callable[[], float] = random.random,
    channels: Channels | None = None,
) -> Outcome | None:
    """One delivery attempt if the notification is pending, due at `now` and not being
    delivered by someone else; None otherwise (nothing to do — every caller may just stop).
    Flushes; the caller commits."""
    n = await store.claim(session, notification_id, now)
    if n is None:
        return None
    chans = channels or _default_channels(client, secret)
    if n.channel == "inbox":
        # Held to working hours, now due: it appears in the person's inbox.
        store.record_sent(n, now)
        await session.flush()
        return Outcome(n.id, n.status, n.attempts, None)
    sender = chans.senders.get(n.channel)
    fields = {"notification": n.id, "channel": n.channel, "point": n.contact_point_id}
    if await store.settle_unfinished(session, n.id, now) and not (sender and sender.idempotent):
        n.status, n.next_attempt_at = "in_doubt", None
        n.last_error = (
            "a worker stopped while sending it: it may have arrived, so it is not sent again"
        )
        log.warning("delivery_in_doubt", **fields)
        wake = await gave_up(session, n, now)
        await session.flush()
        return Outcome(n.id, n.status, n.attempts, None, wake)
    to, refused = await _destination(session, n, chans, now)
    if to is None and refused is None:
        await session.flush()  # deferred: busy or at its rate limit
        return Outcome(n.id, n.status, n.attempts, n.next_attempt_at)
    if sender is None:
        refused = Attempt(ok=False, error=f"no {n.channel} channel here", permanent=True)
    attempt = refused
    attempt_id = await store.start_attempt(_engine(session), n, now)
    if attempt is None and sender is not None and to is not None:
        message = render(n, tz=tz, now=now, links=chans.links)
        attempt = await sender.send(message, to)
    assert attempt is not None  # noqa: S101 - one of the branches above set it
    wake = await _record(session, n, attempt, attempt_id, now, policy, rand(), chans)
    await session.flush()
    _log(n, attempt, fields)
    return Outcome(n.id, n.status, n.attempts, n.next_attempt_at, wake)


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    assert isinstance(bind, AsyncEngine)  # noqa: S101 - sessions are made on an engine
    return bind


async def _destination(
    session: AsyncSession, n: Notification, chans: Channels, now: datetime
) -> tuple[Destination | None, Attempt | None]:
    """Where the row goes, or why it cannot go (an Attempt to record), or (None, None) when
    it was deferred: the destination is busy or at its rate limit."""
    if n.contact_point_id is None:
        # A person's or unit's webhook_url, copied onto the row when it was written.
        return Destination("webhook", n.address or "", {"url": n.address or ""}), None
    point = await store.contact_point(session, n.contact_point_id)
    if point is None or not point.active:
        # An admin switched it off: the recipient's next channel takes over at once.
        return None, Attempt(
            ok=False, error="the contact point was removed or disabled", permanent=True
        )
    if not await store.lock_destination(session, point.id):
        n.next_attempt_at = now + BUSY_WAIT
        return None, None
    limit = chans.rate_per_minute.get(n.channel)
    if limit is not None:
        slot = await store.rate_slot(session, point.id, limit, now)
        if slot is not None:
            n.next_attempt_at = slot
            return None, None
    try:
        secrets = unseal(chans.channel_key, point.id, point.sealed)
    except SealError:
        return None, Attempt(
            ok=False,
            error="the contact point's credentials do not open with this channel key",
            permanent=True,
        )
    return Destination(point.kind, point.target, secrets), None


async def _record(
    session: AsyncSession,
    n: Notification,
    attempt: Attempt,
    attempt_id: int,
    now: datetime,
    policy: RetryPolicy,
    rand: float,
    chans: Channels,
) -> tuple[int, ...]:
    if attempt.ok:
        store.record_sent(n, now)
        if attempt.delivered:
            n.delivered_at = now
        n.provider_ref = attempt.provider_ref
        await store.finish_attempt(
            session, attempt_id, "sent", now, attempt.provider_code, attempt.answer
        )
        await _reached(session, n, now)
        return ()
    store.record_failure(
        n, attempt.error or "failed", now, policy, rand, permanent=attempt.permanent
    )
    if n.status == "pending" and attempt.retry_after is not None:
        assert n.next_attempt_at is not None  # noqa: S101 - pending rows have a time
        n.next_attempt_at = max(n.next_attempt_at, now + attempt.retry_after)
    if n.status == "pending" and n.chain is not None and n.attempts >= chans.fallback_after:
        # Do not keep a leader waiting on one dead channel for a day: the next one starts
        # now (this one stops).
        woken = await store.next_in_chain(session, n.chain, now)
        if woken is not None:
            n.status, n.next_attempt_at = "failed", None
            await store.finish_attempt(
                session, attempt_id, "failed", now, attempt.provider_code, attempt.answer
            )
            await _trail_channel_failed(session, n, now)
            return (woken,)
    outcome = "failed" if n.status == "failed" else "retry"
    await store.finish_attempt(
        session, attempt_id, outcome, now, attempt.provider_code, attempt.answer or attempt.error
    )
    if n.status == "failed":
        return await gave_up(session, n, now)
    return ()


def _recipient(n: Notification) -> dict[str, Any]:
    p = n.payload or {}
    group = (n.chain or "").rsplit(":", 1)[-1].startswith("u")
    return {
        "notification_id": n.id,
        "escalation_id": n.escalation_id,
        "level": n.level,
        "kind": n.kind,
        "channel": n.channel,
        "recipient": "group" if group else "person",
        "person_id": None if group else n.recipient_person_id,
        "unit_id": n.recipient_unit_id,
        "name": p.get("target_unit_name") if group else p.get("target_name"),
    }


async def _reached(session: AsyncSession, n: Notification, now: datetime) -> None:
    """The recipient has it: the rest of their order is not needed; on the trail."""
    rows = [n]
    if n.kind == "digest":
        rows = await store.digest_members(session, n.id)
        for m in rows:
            m.status, m.sent_at, m.delivered_at = "sent", now, n.delivered_at
    entries = []
    for m in rows:
        await store.skip_rest_of_chain(session, m.chain)
        if m.finding_id is not None and m.kind in ("escalation", "reminder"):
            detail = _recipient(m) | {"delivered": n.delivered_at is not None}
            if n.kind == "digest":
                detail["digest_id"] = n.id
            entries.append((m.finding_id, "notice_delivered", detail))
    await store.add_trail(session, entries, now)


async def _trail_channel_failed(session: AsyncSession, n: Notification, now: datetime) -> None:
    if n.finding_id is not None and n.kind in ("escalation", "reminder"):
        detail = _recipient(n) | {"error": n.last_error, "next": True}
        await store.add_trail(session, [(n.finding_id, "notice_failed", detail)], now)


async def gave_up(session: AsyncSession, n: Notification, now: datetime) -> tuple[int, ...]:
    """This channel will not carry it: wake the recipient's next one, or, with none left,
    put it on the trail and, for an escalation that reached nobody, tell the office."""
    rows = [n]
    if n.kind == "digest":
        rows = await store.digest_members(session, n.id)
        for m in rows:
            m.status, m.last_error = n.status, n.last_error
    # The statements below read these rows' statuses: they must see the ones just set.
    await session.flush()
    wake: list[int] = []
    entries = []
    unreached: list[Notification] = []
    for m in rows:
        woken = await store.next_in_chain(session, m.chain, now)
        if woken is not None:
            wake.append(woken)
        if m.finding_id is None or m.kind not in ("escalation", "reminder"):
            continue
        detail = _recipient(m) | {"error": n.last_error, "next": woken is not None}
        entries.append((m.finding_id, "notice_failed", detail))
        if woken is None and m.escalation_id is not None:
            unreached.append(m)
    for m in unreached:
        assert m.escalation_id is not None  # noqa: S101 - filtered above
        if not await store.escalation_unreached(session, m.escalation_id):
            continue
        assert m.finding_id is not None  # noqa: S101 - filtered above
        entries.append(
            (
                m.finding_id,
                "not_delivered",
                {"escalation_id": m.escalation_id, "level": m.level, "why": "every channel failed"},
            )
        )
        p = m.payload or {}
        item = {**p, "why": "所有渠道发送失败", "escalation_id": m.escalation_id}
        wake += await store.tell_office(
            session, f"undelivered:e{m.escalation_id}", [item], now, now
        )
    await store.add_trail(session, entries, now)
    return tuple(wake)


def _log(n: Notification, attempt: Attempt, fields: dict[str, Any]) -> None:
    fields = fields | {"attempt": n.attempts, "code": attempt.provider_code}
    if attempt.ok:
        log.info("notice_sent", delivered=n.delivered_at is not None, **fields)
    elif n.status in ("failed", "in_doubt"):
        log.error("notice_failed_for_good", error=n.last_error, **fields)
    else:
        log.warning(
            "notice_attempt_failed",
            error=n.last_error,
            retry_at=n.next_attempt_at.isoformat() if n.next_attempt_at else None,
            **fields,
        )
