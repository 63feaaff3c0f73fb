"""The outbox as the delivery side sees it: claim one row, record the outcome, find what is
due, and the supervisors' view (list, retry a failed delivery).

A row is claimed with FOR UPDATE SKIP LOCKED and stays locked while it is being delivered,
so however many jobs exist for one notification (the sweep's, a deferred retry, the rescan's,
an admin's), only one sends it at a time and none sends it after it was recorded as sent.
Functions flush at most; the job or request commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Notification, Person, Unit
from services.core.platform.backoff import RetryPolicy, next_attempt

# The worker job that delivers one notification, and its arq job id. The id includes the
# attempts made so far, so re-enqueueing the same attempt (sweep, rescan, deferred retry)
# collapses into one job while the next attempt gets a fresh id.
DELIVER_JOB = "deliver_notification"
# Every channel but the inbox is delivered by a job (inbox rows are written as sent); the
# condition is spelled as in the partial index ix_notifications_pending so the planner uses it.
_DELIVERED = Notification.channel != "inbox"
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


async def due_for_delivery(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[int, int, datetime]]:
    """(id, attempts, next_attempt_at) of pending deliveries whose time has come, oldest
    first."""
    rows = await session.execute(
        select(Notification.id, Notification.attempts, Notification.next_attempt_at)
        .where(
            Notification.status == "pending",
            _DELIVERED,
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.next_attempt_at)
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
