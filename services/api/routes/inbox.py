"""The caller's in-app inbox (DESIGN §7 GET /inbox): notifications addressed to the person
the account acts as. An account without a person (admin, supervisor, …) has an empty inbox."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from services.core.models import Notification
from services.core.notify.inbox import inbox_page, mark_read

from ..deps import Caller, Session, SettingsDep, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..problems import Problem
from ..schemas.notifications import InboxItem, InboxPage
from ..schemas.wire import BigId, local

router = APIRouter(tags=["inbox"])

NotificationId = Annotated[BigId, Path()]


# A cursor written as `[id]` with a 64-bit notification id.
notification_key = CursorKey[int](BigId)


def render_item(n: Notification, tz: ZoneInfo) -> InboxItem:
    return InboxItem(
        id=n.id,
        kind=n.kind,
        subject=n.subject,
        payload=n.payload,
        finding_id=n.finding_id,
        task_id=n.task_id,
        commitment_id=n.commitment_id,
        escalation_id=n.escalation_id,
        created_at=n.created_at.astimezone(tz),
        read_at=local(n.read_at, tz),
        read=n.read_at is not None,
        links={"read": f"/api/v1/inbox/{n.id}/read"}
        | ({"finding": f"/api/v1/findings/{n.finding_id}"} if n.finding_id else {})
        | ({"task": f"/api/v1/inspection-tasks/{n.task_id}"} if n.task_id else {})
        | ({"commitment": f"/api/v1/commitments/{n.commitment_id}"} if n.commitment_id else {}),
    )


@router.get("/inbox", response_model=InboxPage)
async def list_inbox(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="only what has not been read")] = False,
) -> InboxPage:
    """The caller's notifications, newest first."""
    before = page.after(notification_key)
    if caller.person_id is None:
        return InboxPage(items=[], next_cursor=None)
    rows = await inbox_page(
        session, caller.person_id, unread_only=unread, before_id=before, limit=page.limit + 1
    )
    items, cursor = split_page(rows, page.limit, lambda n: [n.id])
    tz = ZoneInfo(settings.timezone)
    return InboxPage(items=[render_item(n, tz) for n in items], next_cursor=cursor)


@router.post("/inbox/{notification_id}/read", response_model=InboxItem)
async def read_notification(
    notification_id: NotificationId, caller: Caller, session: Session, settings: SettingsDep
) -> InboxItem:
    """Mark one of the caller's notifications read (again: no change)."""
    n = None
    if caller.person_id is not None:
        n = await mark_read(session, caller.person_id, notification_id, utcnow())
    if n is None:
        raise Problem(404, f"No notification {notification_id} in your inbox.")
    return render_item(n, ZoneInfo(settings.timezone))
