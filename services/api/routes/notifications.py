"""The outbox for the supervision office: which deliveries are pending or failed, and an
admin's retry of a failed one (DESIGN §6: delivery retried with backoff, then `failed`)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, Query

from services.core.identity.principal import Principal
from services.core.notify.delivery import redacted_address
from services.core.notify.store import (
    DELIVER_JOB,
    Listed,
    NotRetriable,
    delivery_job_id,
    get_listed,
    list_notifications,
    retry_failed,
)
from services.core.platform.queue import enqueue

from ..deps import Admin, Session, SettingsDep, State, require_roles, utcnow
from ..pagination import PageDep, split_page
from ..problems import Problem
from ..schemas.notifications import (
    Channel,
    NotificationOut,
    NotificationPage,
    Recipient,
    Status,
)
from ..schemas.wire import local
from ..state import AppState
from .inbox import NotificationId, notification_key

router = APIRouter(tags=["notifications"])
log = structlog.get_logger("duban.api.notifications")

Reader = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]


def render(row: Listed, tz: ZoneInfo) -> NotificationOut:
    n = row.notification
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        channel=n.channel,
        status=n.status,
        recipient=Recipient(person=row.person_name, unit=row.unit_code, unit_name=row.unit_name),
        address=redacted_address(n.address),
        subject=n.subject,
        finding_id=n.finding_id,
        task_id=n.task_id,
        escalation_id=n.escalation_id,
        contact_point_id=n.contact_point_id,
        chain_rank=n.rank,
        digest_id=n.digest_id,
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=n.created_at.astimezone(tz),
        first_attempt_at=local(n.first_attempt_at, tz),
        last_attempt_at=local(n.last_attempt_at, tz),
        next_attempt_at=local(n.next_attempt_at, tz),
        sent_at=local(n.sent_at, tz),
        delivered_at=local(n.delivered_at, tz),
        opened_at=local(n.opened_at, tz),
    )


@router.get("/notifications", response_model=NotificationPage)
async def list_outbox(
    _: Reader,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    status: Annotated[Status | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
) -> NotificationPage:
    """Every notification, newest first; `?status=failed` is the list of deliveries that
    gave up after the retry horizon."""
    rows = await list_notifications(
        session,
        status=status,
        channel=channel,
        before_id=page.after(notification_key),
        limit=page.limit + 1,
    )
    items, cursor = split_page(rows, page.limit, lambda r: [r.notification.id])
    tz = ZoneInfo(settings.timezone)
    return NotificationPage(items=[render(r, tz) for r in items], next_cursor=cursor)


async def _enqueue(state: AppState, notification_id: int, attempts: int) -> None:
    # Runs after the response, so after the commit. If Redis is down the worker's outbox
    # rescan finds the notification anyway.
    try:
        await enqueue(
            state.redis,
            DELIVER_JOB,
            notification_id,
            job_id=delivery_job_id(notification_id, attempts),
        )
    except Exception as exc:
        log.warning("retry_enqueue_failed", notification=notification_id, error=type(exc).__name__)


@router.post("/notifications/{notification_id}/retry", response_model=NotificationOut)
async def retry_notification(
    notification_id: NotificationId,
    _: Admin,
    session: Session,
    settings: SettingsDep,
    state: State,
    background: BackgroundTasks,
) -> NotificationOut:
    """Deliver a failed notification again, with a fresh retry horizon; 409 unless failed."""
    try:
        n = await retry_failed(session, notification_id, utcnow())
    except NotRetriable as exc:
        raise Problem(
            409, f"Notification {notification_id} is {exc.status}; only a failed one is retried."
        ) from exc
    if n is None:
        raise Problem(404, f"No notification {notification_id}.")
    background.add_task(_enqueue, state, n.id, n.attempts)
    row = await get_listed(session, n.id)
    assert row is not None  # noqa: S101 - it was just updated in this transaction
    return render(row, ZoneInfo(settings.timezone))
