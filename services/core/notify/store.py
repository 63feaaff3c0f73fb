"""The outbox as the delivery side sees it: claim one row, record the outcome, find what is
due, and the supervisors' view (list, retry a failed delivery).

A row is claimed with FOR UPDATE SKIP LOCKED and stays locked while it is being delivered,
so however many jobs exist for one notification (the sweep's, a deferred retry, the rescan's,
an admin's), only one sends it at a time and none sends it after it was recorded as sent.
Functions flush at most; the job or request commits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.core.models import ContactPoint, Notification, NotificationAttempt, Person, Unit
from services.core.platform.backoff import RetryPolicy, next_attempt

# The worker job that delivers one notification, and its arq job id. The id includes the
# attempts made so far, so re-enqueueing the same attempt (sweep, rescan, deferred retry)
# collapses into one job while the next attempt gets a fresh id.
DELIVER_JOB = "deliver_notification"
# Every pending row is the worker's: a job delivers it, or, for inbox rows held to working
# hours, the rescan releases them (an inbox row due at once is written as sent). Spelled as
# in the partial index
# ix_notifications_pending so the planner uses it.
_DELIVERED = Notification.status == "pending"
ERROR_MAX = 500


# A delivery job can be lost while its id stays taken in arq: a worker killed in the middle of
# it leaves the job marked in progress until the job timeout (minutes), and a job whose data
# Redis lost (restart, FLUSHALL) gets a stored "failed" result for an hour. Either blocks every
# re-enqueue under that id. When a delivery is still due this long after its time and its
# job id is held like that, the outbox rescan queues it again under a fresh id (one per window
# of lateness): should the job be alive after all, the spare finds the row locked or sent.
STALE_AFTER = timedelta(seconds=30)


def delivery_job_id(notification_id: int, attempts: int) -> str:
    return f"deliver:{notification_id}:{attempts}"


def spare_job_id(notification_id: int, attempts: int, due_at: datetime, now: datetime) -> str:
    """The id of a further job for a stale delivery whose own job seems lost."""
    return f"{delivery_job_id(notification_id, attempts)}:late{(now - due_at) // STALE_AFTER}"


def stale(due_at: datetime, now: datetime) -> bool:
    return now - due_at >= STALE_AFTER


class NotRetriable(Exception):
    """Only a failed delivery can be retried by hand."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


async def claim(session: AsyncSession, notification_id: int, now: datetime) -> Notification | None:
    """Lock the notification if it is pending and due; None if it is locked by another job,
    already sent or failed, not due yet, or gone."""
    return (
        await session.execute(
            select(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "pending",
                _DELIVERED,
                Notification.next_attempt_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()


def _attempted(n: Notification, now: datetime) -> None:
    n.attempts += 1
    n.last_attempt_at = now
    if n.first_attempt_at is None:
        n.first_attempt_at = now


def record_sent(n: Notification, now: datetime) -> None:
    _attempted(n, now)
    n.status = "sent"
    n.sent_at = now
    n.next_attempt_at = None


def record_failure(
    n: Notification,
    error: str,
    now: datetime,
    policy: RetryPolicy,
    rand: float,
    *,
    permanent: bool = False,
) -> None:
    """Schedule the next attempt, or mark the notification failed when the horizon has
    passed (or the failure cannot heal by waiting, e.g. a malformed address)."""
    _attempted(n, now)
    n.last_error = error[:ERROR_MAX]
    assert n.first_attempt_at is not None  # noqa: S101 - set by _attempted
    at = None if permanent else next_attempt(policy, n.first_attempt_at, n.attempts, now, rand)
    if at is None:
        n.status = "failed"
        n.next_attempt_at = None
    else:
        n.next_attempt_at = at


async def release_inbox(session: AsyncSession, now: datetime, limit: int = 10_000) -> int:
    """Mark sent, in one statement, up to `limit` inbox rows held to working hours whose
    time has come: no sender is involved, so a job each would only flip its status, and the
    morning's opening would queue a night's notices ahead of the next sweep. Rows a job
    holds are skipped (it is sending them). How many were released."""
    due = (
        select(Notification.id)
        .where(
            _DELIVERED,
            Notification.channel == "inbox",
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Notification)
        .where(Notification.id.in_(due.scalar_subquery()))
        .values(
            status="sent",
            sent_at=now,
            next_attempt_at=None,
            attempts=Notification.attempts + 1,
            last_attempt_at=now,
            first_attempt_at=func.coalesce(Notification.first_attempt_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def due_for_delivery(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[int, int, datetime]]:
    """(id, attempts, next_attempt_at) of pending deliveries whose time has come, oldest
    first (and in the order they were written: notices held overnight go out in order)."""
    rows = await session.execute(
        select(Notification.id, Notification.attempts, Notification.next_attempt_at)
        .where(
            Notification.status == "pending",
            _DELIVERED,
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    return [(row.id, row.attempts, row.next_attempt_at) for row in rows]


@dataclass(frozen=True)
class Listed:
    notification: Notification
    person_name: str | None
    unit_code: str | None
    unit_name: str | None


def _listed() -> Select[Notification, str, str, str]:
    return (
        select(Notification, Person.name, Unit.code, Unit.name)
        .outerjoin(Person, Person.id == Notification.recipient_person_id)
        .outerjoin(Unit, Unit.id == Notification.recipient_unit_id)
    )


async def get_listed(session: AsyncSession, notification_id: int) -> Listed | None:
    row = (await session.execute(_listed().where(Notification.id == notification_id))).first()
    return Listed(*row) if row is not None else None


async def list_notifications(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    before_id: int | None,
    limit: int,
) -> list[Listed]:
    """Newest first, with the recipient's name and unit; `limit` rows after `before_id`."""
    query = _listed().order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Notification.status == status)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return [Listed(*row) for row in await session.execute(query)]


async def retry_failed(
    session: AsyncSession, notification_id: int, now: datetime
) -> Notification | None:
    """Give a failed delivery a fresh start: pending, due now, attempts and horizon reset
    (last_error stays until the next attempt). None if there is no such notification;
    NotRetriable if it is not failed."""
    n = await session.get(Notification, notification_id, with_for_update=True)
    if n is None:
        return None
    if n.status != "failed":
        raise NotRetriable(n.status)
    n.status = "pending"
    n.next_attempt_at = now
    n.first_attempt_at = None
    n.attempts = 0
    await session.flush()
    return n


# ---- attempts: written before the provider is called, on a connection of their own ----

_START = text(
    "INSERT INTO notification_attempts (notification_id, contact_point_id, channel, started_at)"
    " VALUES (:nid, :point, :channel, :at) RETURNING id"
)


async def start_attempt(engine: AsyncEngine, n: Notification, now: datetime) -> int:
    """Record, and commit at once, that `n` is about to be sent. The sending transaction
    holds the row's lock; if it never finishes the attempt (its worker died), the next
    claim finds the attempt unfinished and knows the message may have gone out."""
    async with engine.begin() as conn:
        return int(
            (
                await conn.execute(
                    _START,
                    {"nid": n.id, "point": n.contact_point_id, "channel": n.channel, "at": now},
                )
            ).scalar_one()
        )


async def finish_attempt(
    session: AsyncSession,
    attempt_id: int,
    outcome: str,
    now: datetime,
    code: str | None,
    answer: str | None,
) -> None:
    await session.execute(
        update(NotificationAttempt)
        .where(NotificationAttempt.id == attempt_id)
        .values(
            finished_at=now,
            outcome=outcome,
            provider_code=code[:64] if code else None,
            answer=answer[:ERROR_MAX] if answer else None,
        )
    )


async def settle_unfinished(session: AsyncSession, notification_id: int, now: datetime) -> bool:
    """Mark the row's unfinished attempts in doubt; whether there were any. Called with the
    row locked, so no live worker is in the middle of one."""
    done = await session.execute(
        update(NotificationAttempt)
        .where(
            NotificationAttempt.notification_id == notification_id,
            NotificationAttempt.finished_at.is_(None),
        )
        .values(finished_at=now, outcome="in_doubt", answer="the worker stopped while sending")
        .returning(NotificationAttempt.id)
    )
    return bool(done.all())


# ---- destinations: one sender at a time, within the rate limit ----

# The advisory lock space of destinations (two-int form: this class, the contact point id).
_LOCK_CLASS = 0x6475


async def lock_destination(session: AsyncSession, point_id: int) -> bool:
    """Take the destination for this transaction, or False when another worker is sending
    to it: a robot's messages go out one at a time, in order, and the rate count is exact."""
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:c, :p)"), {"c": _LOCK_CLASS, "p": point_id}
    )
    return bool(got)


async def rate_slot(
    session: AsyncSession, point_id: int, per_minute: int, now: datetime
) -> datetime | None:
    """None when the destination may take a message now, else when it may next."""
    window = now - RATE_WINDOW
    recent = (
        (
            await session.execute(
                select(NotificationAttempt.started_at)
                .where(
                    NotificationAttempt.contact_point_id == point_id,
                    NotificationAttempt.started_at > window,
                )
                .order_by(NotificationAttempt.started_at.desc())
                .limit(per_minute)
            )
        )
        .scalars()
        .all()
    )
    if len(recent) < per_minute:
        return None
    return recent[-1] + RATE_WINDOW


# A provider counts its minute by its own clock, from when each message arrived: a second's
# margin keeps the 21st message of a robot's minute from landing inside the provider's.
RATE_WINDOW = timedelta(minutes=1, seconds=1)


@dataclass(frozen=True)
class PointRow:
    id: int
    kind: str
    target: str
    sealed: bytes | None
    active: bool


async def contact_point(session: AsyncSession, point_id: int) -> PointRow | None:
    row = (
        await session.execute(
            select(
                ContactPoint.id,
                ContactPoint.kind,
                ContactPoint.target,
                ContactPoint.sealed,
                ContactPoint.active,
            ).where(ContactPoint.id == point_id)
        )
    ).first()
    return PointRow(*row) if row is not None else None


# ---- fallback chains ----


async def skip_rest_of_chain(session: AsyncSession, chain: str | None) -> None:
    """The recipient was reached: the later channels of their order are not needed."""
    if chain is None:
        return
    await session.execute(
        update(Notification)
        .where(Notification.chain == chain, Notification.status == "standby")
        .values(status="skipped")
    )


async def next_in_chain(session: AsyncSession, chain: str | None, now: datetime) -> int | None:
    """Wake the recipient's next channel after this one gave up; its id, or None when the
    order is exhausted."""
    if chain is None:
        return None
    woken = await session.scalar(
        text(
            """
            UPDATE notifications SET status = 'pending', next_attempt_at = :now
            WHERE id = (SELECT id FROM notifications WHERE chain = :chain AND status = 'standby'
                        ORDER BY rank, id LIMIT 1 FOR UPDATE)
            RETURNING id
            """
        ),
        {"chain": chain, "now": now},
    )
    return int(woken) if woken is not None else None


_REACH = text(
    """
    SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
           count(*) FILTER (WHERE status IN ('pending', 'standby', 'digested')) AS open
    FROM notifications WHERE escalation_id = :e AND channel <> 'inbox'
    """
)


async def escalation_unreached(session: AsyncSession, escalation_id: int) -> bool:
    """Every channel of every recipient of the escalation has given up (or was in doubt),
    and none reached anyone."""
    row = (await session.execute(_REACH, {"e": escalation_id})).one()
    return bool(row.sent == 0 and row.open == 0)


# ---- the trail ----

_TRAIL = text(
    """
    INSERT INTO events (finding_id, actor_id, action, from_status, to_status, payload, at)
    SELECT f.id, NULL, e.action, f.status, f.status, e.payload::jsonb, :at
    FROM unnest(CAST(:finding_id AS uuid[]), CAST(:action AS text[]), CAST(:payload AS text[]))
         WITH ORDINALITY AS e(finding_id, action, payload, ord)
    JOIN findings f ON f.id = e.finding_id
    ORDER BY e.ord
    """
)


async def add_trail(
    session: AsyncSession, entries: list[tuple[uuid.UUID, str, dict[str, Any]]], at: datetime
) -> None:
    """Events on the findings' trails (by the system: no actor), in one statement."""
    if not entries:
        return
    await session.execute(
        _TRAIL,
        {
            "finding_id": [e[0] for e in entries],
            "action": [e[1] for e in entries],
            "payload": [json.dumps(e[2], ensure_ascii=False) for e in entries],
            "at": at,
        },
    )


# ---- digests ----


async def form_digest(
    session: AsyncSession, notification_id: int, now: datetime, threshold: int, most: int
) -> int | None:
    """When `threshold` or more notices of the same kind and level are due for the
    destination of `notification_id`, fold them into one digest row (pending, due now) and
    mark them `digested`; the digest's id. None: send them one by one."""
    n = (
        await session.execute(
            select(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "pending",
                Notification.next_attempt_at <= now,
                Notification.contact_point_id.is_not(None),
                Notification.kind.in_(("escalation", "reminder")),
            )
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if n is None or n.contact_point_id is None:
        return None
    if not await lock_destination(session, n.contact_point_id):
        return None
    members = (
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.contact_point_id == n.contact_point_id,
                    Notification.status == "pending",
                    Notification.next_attempt_at <= now,
                    Notification.kind == n.kind,
                    Notification.level.is_not_distinct_from(n.level),
                    Notification.attempts == 0,
                )
                .order_by(Notification.id)
                .limit(most)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if len(members) < threshold:
        return None
    payloads = [m.payload for m in members]
    districts = {p.get("district_name") for p in payloads}
    scope = districts.pop() if len(districts) == 1 else None
    level_part = f"第{n.level}级" if n.level else "整改提醒"
    digest = Notification(
        dedupe_key=f"digest:{members[0].id}",
        kind="digest",
        recipient_person_id=n.recipient_person_id,
        recipient_unit_id=n.recipient_unit_id,
        channel=n.channel,
        contact_point_id=n.contact_point_id,
        level=n.level,
        subject=f"【督办汇总·{level_part}】{scope or ''}共{len(members)}项",
        payload={
            "type": "digest",
            "of": n.kind,
            "level": n.level,
            "count": len(members),
            "scope": scope,
            "district": _common(payloads, "district"),
            "since": min(m.created_at for m in members).isoformat(),
            "items": payloads[:DIGEST_ITEMS_SHOWN],
        },
        status="pending",
        next_attempt_at=now,
    )
    session.add(digest)
    await session.flush()
    await session.execute(
        update(Notification)
        .where(Notification.id.in_([m.id for m in members]))
        .values(status="digested", digest_id=digest.id, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return digest.id


# A digest message lists the first few items; its link shows them all.
DIGEST_ITEMS_SHOWN = 10


def _common(payloads: list[dict[str, Any]], key: str) -> Any:
    values = {p.get(key) for p in payloads}
    return values.pop() if len(values) == 1 else None


async def digest_members(session: AsyncSession, digest_id: int) -> list[Notification]:
    return list(
        (
            await session.execute(
                select(Notification)
                .where(Notification.digest_id == digest_id)
                .order_by(Notification.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )


# ---- telling the campaign office ----

_OFFICE = text(
    """
    WITH office AS (SELECT id FROM units WHERE kind = 'campaign_office' ORDER BY id LIMIT 1),
    head AS (
      SELECT po.person_id FROM posts po JOIN office o ON o.id = po.unit_id
      WHERE po.role = 'head' AND po.valid_from <= :now
        AND (po.valid_to IS NULL OR po.valid_to > :now)
      ORDER BY po.valid_from DESC, po.id LIMIT 1),
    points AS (
      SELECT cp.id, cp.kind, cp.person_id, cp.unit_id,
             CASE WHEN cp.unit_id IS NOT NULL THEN 'u' || cp.unit_id ELSE 'p' || cp.person_id END
               AS owner,
             row_number() OVER (PARTITION BY cp.person_id, cp.unit_id
                                ORDER BY cp.position, cp.id) - 1 AS rank
      FROM contact_points cp
      WHERE cp.active AND (cp.unit_id IN (SELECT id FROM office)
                           OR cp.person_id IN (SELECT person_id FROM head)))
    INSERT INTO notifications (dedupe_key, kind, recipient_person_id, recipient_unit_id,
                               channel, contact_point_id, chain, rank, subject, payload,
                               status, sent_at, next_attempt_at)
    SELECT :key || '\\:p' || h.person_id || '\\:inbox', 'undelivered', h.person_id,
           (SELECT id FROM office), 'inbox', NULL, NULL, 0, :subject, CAST(:payload AS jsonb),
           CASE WHEN :at <= :now THEN 'sent' ELSE 'pending' END,
           CASE WHEN :at <= :now THEN CAST(:now AS timestamptz) END,
           CASE WHEN :at > :now THEN CAST(:at AS timestamptz) END
    FROM head h
    UNION ALL
    SELECT :key || '\\:' || p.owner || '\\:cp' || p.id, 'undelivered', p.person_id,
           coalesce(p.unit_id, (SELECT id FROM office)), p.kind, p.id, :key || '\\:' || p.owner,
           p.rank, :subject, CAST(:payload AS jsonb),
           CASE WHEN p.rank = 0 THEN 'pending' ELSE 'standby' END, NULL,
           CASE WHEN p.rank = 0 THEN CAST(:at AS timestamptz) END
    FROM points p
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, status
    """
)


async def tell_office(
    session: AsyncSession,
    key: str,
    items: list[dict[str, Any]],
    now: datetime,
    at: datetime,
) -> list[int]:
    """An office notice (kind `undelivered`) listing `items`, to the campaign office head's
    inbox and down the office's and its head's channels; idempotent by `key`. The ids to
    deliver. Office notices never cause further office notices."""
    payload = {
        "type": "undelivered",
        "count": len(items),
        "items": items[:DIGEST_ITEMS_SHOWN],
        "escalation_ids": [i.get("escalation_id") for i in items],
    }
    rows = await session.execute(
        _OFFICE,
        {
            "key": key,
            "subject": f"【督办未送达】{len(items)}项督办未能送达领导本人",
            "payload": json.dumps(payload, ensure_ascii=False),
            "now": now,
            "at": at,
        },
    )
    return [row.id for row in rows if row.status == "pending"]


# ---- the signed link in a message ----


async def link_opened(
    session: AsyncSession, notification_id: int, now: datetime
) -> Notification | None:
    """Record that the link of this message was opened (the first time stays); the row."""
    return (
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(opened_at=func.coalesce(Notification.opened_at, now))
            .returning(Notification)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()


async def use_link(session: AsyncSession, notification_id: int, now: datetime) -> bool:
    """Spend the link's one acknowledgement; False when it was spent already (a reuse)."""
    spent = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.link_used_at.is_(None))
        .values(link_used_at=now)
        .returning(Notification.id)
    )
    return spent.first() is not None


async def digest_escalations(session: AsyncSession, digest_id: int) -> list[int]:
    rows = await session.execute(
        select(Notification.escalation_id)
        .where(Notification.digest_id == digest_id, Notification.escalation_id.is_not(None))
        .order_by(Notification.id)
    )
    return [int(r) for r in rows.scalars() if r is not None]
