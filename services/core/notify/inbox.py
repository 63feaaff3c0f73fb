"""A person's in-app inbox: the outbox rows of channel `inbox` addressed to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Notification


async def inbox_page(
    session: AsyncSession,
    person_id: int,
    *,
    unread_only: bool,
    before_id: int | None,
    limit: int,
) -> Sequence[Notification]:
    """Newest first; `limit` rows after the keyset `before_id`."""
    query = (
        select(Notification)
        .where(
            Notification.recipient_person_id == person_id,
            Notification.channel == "inbox",
            # held to working hours: not in the inbox before its time
            Notification.status == "sent",
        )
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return (await session.execute(query)).scalars().all()


async def mark_read(
    session: AsyncSession, person_id: int, notification_id: int, now: datetime
) -> Notification | None:
    """Mark one of the person's inbox rows read (the first reading time stays); None when it
    is not theirs."""
    return (
        await session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.recipient_person_id == person_id,
                Notification.channel == "inbox",
                Notification.status == "sent",
            )
            .values(read_at=func.coalesce(Notification.read_at, now))
            .returning(Notification)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
