"""The sign-for deadline (签收时限) as a worker sweep: an assigned finding whose category sets
one and that nobody accepted in time turns red on its own track, its unit's handlers are
reminded at the deadline, and the unit's head is told once as long again has passed.

Idempotent (arq delivers at least once): the marks on the finding and the notices' dedupe
keys make a second run change nothing. A re-dispatch clears the marks (transitions.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock, next_opening
from services.core.escalation import store as escalation_store
from services.core.escalation.store import Directory, PersonRef, UnitRef
from services.core.escalation.sweep import ALL_CHANNELS, outbox_rows
from services.core.findings.rules import accept_due_at

# Assigned findings not yet escalated whose category has a sign-for deadline, and whose
# earliest possible next step has come (the limit as plain time, once for the reminder and
# twice for the escalation; working hours only add to it): a coarse filter in SQL, the exact
# times in Python. Locked for this sweep only.
_CLAIM = text("""
SELECT f.id, f.dispatched_at, f.accept_reminded_at, f.responsible_unit_id, f.category_id,
       f.severity, f.description, f.address, c.accept_within
FROM findings f JOIN categories c ON c.id = f.category_id
WHERE f.status = 'assigned' AND f.accept_escalated_at IS NULL AND f.dispatched_at IS NOT NULL
  AND c.accept_within IS NOT NULL
  AND f.dispatched_at + CASE WHEN f.accept_reminded_at IS NULL THEN 1 ELSE 2 END * coalesce(
        CAST(c.accept_within ->> 'duration' AS interval),
        CAST(c.accept_within ->> 'working_hours' AS double precision) * interval '1 hour'
      ) <= :now
ORDER BY f.dispatched_at, f.id
LIMIT :limit
FOR UPDATE OF f SKIP LOCKED
""")

_MARK = text("""
UPDATE findings SET accept_reminded_at = coalesce(accept_reminded_at, :reminded),
                    accept_escalated_at = coalesce(accept_escalated_at, :escalated)
WHERE id = :id
""")


@dataclass
class SignForSwept:
    reminded: int = 0
    escalated: int = 0
    # Outbox rows to deliver once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


@dataclass
class _Notice:
    row: Any
    step: str  # "remind" or "escalate"
    accept_due: datetime


async def sweep_sign_for(
    session: AsyncSession, city: CityClock, now: datetime, batch: int = 500
) -> SignForSwept:
    """Remind and escalate the findings not signed for in time (one batch)."""
    swept = SignForSwept()
    notices: list[_Notice] = []
    for row in (await session.execute(_CLAIM, {"now": now, "limit": batch})).all():
        due = accept_due_at(row.dispatched_at, row.accept_within, city)
        if due is None or now < due:
            continue
        reminded = row.accept_reminded_at
        if reminded is None:
            notices.append(_Notice(row, "remind", due))
            swept.reminded += 1
        # As long again after the deadline, the head of the unit is told.
        escalate_at = accept_due_at(due, row.accept_within, city)
        escalated = escalate_at is not None and now >= escalate_at
        if escalated:
            notices.append(_Notice(row, "escalate", due))
            swept.escalated += 1
        await session.execute(
            _MARK,
            {"id": row.id, "reminded": now, "escalated": now if escalated else None},
        )
    if notices:
        swept.deliveries = await _write(session, notices, now, city)
    await session.flush()
    return swept


async def _write(
    session: AsyncSession, notices: list[_Notice], now: datetime, city: CityClock
) -> list[int]:
    units = {n.row.responsible_unit_id for n in notices}
    directory = await escalation_store.load_directory(
        session, units, {n.row.category_id for n in notices}, now
    )
    opening = next_opening(now, city.hours, city.calendar, city.tz)
    rows: list[tuple[Any, ...]] = []
    trail: list[tuple[uuid.UUID, str, str, str]] = []
    for notice in notices:
        found = _notice_rows(directory, notice, now, opening, city)
        if found is None:
            continue
        rows += found[0]
        trail.append((notice.row.id, f"sign_for_{notice.step}", "assigned", found[1]))
    deliveries = await escalation_store.insert_notifications(session, rows, now)
    await escalation_store.insert_trail(session, trail, now)
    return deliveries


def _notice_rows(
    directory: Directory, notice: _Notice, now: datetime, opening: datetime, city: CityClock
) -> tuple[list[tuple[Any, ...]], str] | None:
    """The outbox rows of one reminder (to the handlers and the unit's group) or escalation
    (to the head; the campaign office's head when the post is vacant), and the trail's
    payload. Urgent findings' notices go out at any hour."""
    row = notice.row
    unit = directory.units.get(row.responsible_unit_id)
    if unit is None:
        return None
    _, category_name = directory.categories.get(row.category_id, ("", ""))
    facts = {
        "type": "sign_for",
        "step": notice.step,
        "finding_id": str(row.id),
        "category_name": category_name,
        "description": row.description,
        "address": row.address,
        "responsible_unit": unit.code,
        "responsible_unit_name": unit.name,
        "dispatched_at": row.dispatched_at.astimezone(city.tz).isoformat(),
        "accept_due_at": notice.accept_due.astimezone(city.tz).isoformat(),
        # What the message templates show (services/core/notify/templates/notice.*).
        "due_at": notice.accept_due.astimezone(city.tz).isoformat(),
        "due_label": "签收期限",
        "severity": row.severity,
    }
    payload = json.dumps(facts, ensure_ascii=False)
    # The dispatch instant in the key: a finding dispatched again has a new deadline.
    key = f"sign_for:{row.id}:{int(row.dispatched_at.timestamp())}:{notice.step}"
    common: dict[str, Any] = {
        "kind": "sign_for",
        "finding_id": row.id,
        "key": key,
        "payload": payload,
        "now": now,
        "points": directory.points,
        "at": now if row.severity == "urgent" else opening,
    }
    rows: list[tuple[Any, ...]] = []
    if notice.step == "remind":
        subject = f"【签收超时】{unit.name}：{category_name}派遣后未按时签收"
        for handler in directory.holders.get((unit.id, "handler"), []):
            rows += outbox_rows(
                channels=ALL_CHANNELS, person=handler, unit=unit, subject=subject, group=False,
                **common,
            )[0]  # fmt: skip
        rows += outbox_rows(
            channels=ALL_CHANNELS, person=None, unit=unit, subject=subject, **common
        )[0]
        return rows, payload
    subject = f"【签收超时·督办】{unit.name}：{category_name}派遣后仍未签收"
    heads = directory.holders.get((unit.id, "head"))
    target_unit: UnitRef = unit
    person: PersonRef | None = heads[0] if heads else None
    if person is None:
        # A vacant head post never swallows the notice: the campaign office gets it.
        office = directory.unit_of_kind("campaign_office")
        office_heads = directory.holders.get((office.id, "head")) if office else None
        if office is not None:
            target_unit, person = office, office_heads[0] if office_heads else None
    rows += outbox_rows(
        channels=ALL_CHANNELS, person=person, unit=target_unit, subject=subject, **common
    )[0]
    return rows, payload
