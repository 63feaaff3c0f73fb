"""Suspension (挂账): a unit asks to stop the clock with a reason and an expected date, the
campaign office approves or refuses; while suspended neither the rectification clock nor the
ladder runs; it resumes by hand or, at the expected date, by the worker (with a reminder to
the unit before), and the deadline moves by what the suspension took (rules
`resumed_deadline`).

The use cases take the session and flush; the request or the job commits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock, next_opening
from services.core.escalation import store as escalation_store
from services.core.escalation.plans import reschedule
from services.core.escalation.sweep import ALL_CHANNELS, outbox_rows
from services.core.findings.rules import (
    Action,
    FindingError,
    continuous,
    resumed_deadline,
    time_limit_for,
)
from services.core.models import (
    SUSPENSION_REASONS,
    Category,
    Event,
    Finding,
    Status,
    Suspension,
)

# A suspension longer than this is not a suspension but a decision to close or re-plan.
MAX_SUSPENSION = timedelta(days=366)
# The unit is reminded this long before the expected date that the clock will run again.
REMINDER_BEFORE = timedelta(days=3)


@dataclass(frozen=True)
class SuspensionTerms:
    """What a request to suspend carries beside its note."""

    reason: str | None
    resume_at: datetime | None


async def open_suspension(session: AsyncSession, finding_id: uuid.UUID) -> Suspension | None:
    """The finding's pending request or running suspension (at most one), locked."""
    found = await session.execute(
        select(Suspension)
        .where(Suspension.finding_id == finding_id, Suspension.state.in_(("requested", "active")))
        .with_for_update()
    )
    return found.scalar_one_or_none()


def _resume_at(terms: SuspensionTerms, now: datetime, *, required: bool) -> datetime | None:
    until = terms.resume_at
    if until is None:
        if required:
            raise FindingError(422, "Give the expected date to resume as resume_at.", "resume_at")
        return None
    if until <= now:
        raise FindingError(422, "The expected date to resume must be in the future.", "resume_at")
    if until - now > MAX_SUSPENSION:
        raise FindingError(422, "A suspension may last a year at most.", "resume_at")
    return until


async def apply(
    session: AsyncSession,
    finding: Finding,
    action: Action,
    terms: SuspensionTerms,
    note: str | None,
    actor_id: int,
    now: datetime,
    city: CityClock,
) -> dict[str, Any]:
    """The side effects of a suspension action on the finding; the event payload."""
    row = await open_suspension(session, finding.id)
    if action is Action.REQUEST_SUSPENSION:
        if terms.reason not in SUSPENSION_REASONS:
            allowed = ", ".join(SUSPENSION_REASONS)
            raise FindingError(422, f"Give the reason as one of {allowed}.", "reason")
        until = _resume_at(terms, now, required=True)
        assert until is not None  # noqa: S101 - required
        assert finding.responsible_unit_id is not None  # noqa: S101 - the clock runs
        session.add(
            Suspension(
                finding_id=finding.id,
                responsible_unit_id=finding.responsible_unit_id,
                reason=terms.reason,
                note=note or "",
                expected_until=until,
                state="requested",
                requested_by_id=actor_id,
                requested_at=now,
            )
        )
        return {"reason": terms.reason, "resume_at": until}
    assert row is not None  # noqa: S101 - the lifecycle table checked it is pending or active
    if action is Action.APPROVE_SUSPENSION:
        # The office may approve a shorter or longer suspension than asked.
        until = _resume_at(terms, now, required=False) or row.expected_until
        if until <= now:
            raise FindingError(
                422, "The date asked for has passed: give another as resume_at.", "resume_at"
            )
        row.state, row.decided_by_id, row.decided_at = "active", actor_id, now
        row.expected_until, row.started_at = until, now
        row.resume_status, row.previous_due_at = finding.status, finding.due_at
        return {"suspension": row.id, "reason": row.reason, "resume_at": until}
    if action is Action.REFUSE_SUSPENSION:
        row.state, row.decided_by_id, row.decided_at = "refused", actor_id, now
        return {"suspension": row.id, "reason": row.reason}
    # RESUME by hand.
    return await end(session, finding, row, now, actor_id, city)


async def end(
    session: AsyncSession,
    finding: Finding,
    row: Suspension,
    now: datetime,
    actor_id: int | None,
    city: CityClock,
) -> dict[str, Any]:
    """End a running suspension: the deadline gives back what the suspension took."""
    category = await session.get(Category, finding.category_id)
    assert category is not None  # noqa: S101 - a foreign key
    assert row.started_at is not None  # noqa: S101 - active
    limit = time_limit_for(finding.severity, category.time_limit, category.urgent_time_limit)
    previous = finding.due_at
    finding.due_at = resumed_deadline(
        previous, row.started_at, now, on_continuous=continuous(limit), city=city
    )
    row.state, row.ended_at, row.ended_by_id = "ended", now, actor_id
    row.resumed_due_at = finding.due_at
    return {
        "suspension": row.id,
        "suspended_at": row.started_at,
        "previous_due_at": previous,
        "due_at": finding.due_at,
        "automatic": actor_id is None or None,
    }


async def settle_on_leaving(
    session: AsyncSession,
    finding: Finding,
    to_status: Status,
    now: datetime,
    actor_id: int,
    *,
    to_another_unit: bool = False,
) -> dict[str, Any]:
    """A finding that leaves the unit's hands (returned, transferred to another unit,
    submitted, closed) takes its pending request (lapsed) or running suspension (ended) with
    it: the unit that asked no longer holds it."""
    if to_status in (Status.ASSIGNED, Status.ACCEPTED, Status.SUSPENDED) and not to_another_unit:
        return {}
    row = await open_suspension(session, finding.id)
    if row is None:
        return {}
    if row.state == "requested":
        row.state, row.decided_at = "lapsed", now
        return {"suspension_lapsed": row.id}
    row.state, row.ended_at, row.ended_by_id = "ended", now, actor_id
    return {"suspension_ended": row.id}


# Running suspensions due to resume, with their findings, locked for this sweep only.
_DUE = text("""
SELECT s.id AS suspension_id, f.id AS finding_id
FROM suspensions s JOIN findings f ON f.id = s.finding_id
WHERE s.state = 'active' AND s.expected_until <= :now AND f.status = 'suspended'
ORDER BY s.expected_until, s.id
LIMIT :limit
FOR UPDATE OF s, f SKIP LOCKED
""")

# Running suspensions whose expected date is near and whose unit has not been told.
_NEAR = text("""
SELECT s.id, s.finding_id, s.expected_until, s.reason, f.responsible_unit_id,
       f.category_id, f.severity, f.description, f.address, f.status
FROM suspensions s JOIN findings f ON f.id = s.finding_id
WHERE s.state = 'active' AND s.reminded_at IS NULL
  AND s.expected_until > :now AND s.expected_until <= :horizon
ORDER BY s.expected_until, s.id
LIMIT :limit
FOR UPDATE OF s SKIP LOCKED
""")


@dataclass
class Swept:
    resumed: int = 0
    reminded: int = 0
    # Outbox rows to deliver once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


async def sweep_suspensions(
    session: AsyncSession, city: CityClock, now: datetime, batch: int = 200
) -> Swept:
    """Resume the suspensions whose expected date has come, and remind the units of those
    about to end. Idempotent: a resumed suspension is `ended` and a reminded one marked, so a
    second run (arq delivers at least once) changes nothing."""
    swept = Swept()
    for due in (await session.execute(_DUE, {"now": now, "limit": batch})).all():
        finding = await session.get(Finding, due.finding_id)
        row = await session.get(Suspension, due.suspension_id)
        assert finding is not None  # noqa: S101 - locked just now
        assert row is not None  # noqa: S101 - locked just now
        await resume_by_worker(session, finding, row, now, city)
        swept.resumed += 1
    params = {"now": now, "horizon": now + REMINDER_BEFORE, "limit": batch}
    near = list((await session.execute(_NEAR, params)).all())
    if near:
        swept.deliveries = await _remind(session, near, now, city)
        swept.reminded = len(near)
    await session.flush()
    return swept


async def resume_by_worker(
    session: AsyncSession, finding: Finding, row: Suspension, now: datetime, city: CityClock
) -> None:
    """The expected date has come: the finding resumes where it was, on the trail as the
    system's doing."""
    payload = await end(session, finding, row, now, None, city)
    to_status = Status(row.resume_status or Status.ACCEPTED)
    session.add(
        Event(
            finding_id=finding.id,
            actor_id=None,
            action=Action.RESUME.value,
            from_status=finding.status,
            to_status=to_status.value,
            payload=json.loads(json.dumps({k: v for k, v in payload.items() if v}, default=str)),
            at=now,
        )
    )
    finding.status = to_status
    finding.version += 1
    finding.updated_at = now
    await reschedule(session, finding, city)


async def _remind(
    session: AsyncSession, near: list[Any], now: datetime, city: CityClock
) -> list[int]:
    """A notice to the unit's handlers and its work group that the clock runs again soon."""
    units = {r.responsible_unit_id for r in near}
    directory = await escalation_store.load_directory(
        session, units, {r.category_id for r in near}, now
    )
    opening = next_opening(now, city.hours, city.calendar, city.tz)
    rows: list[tuple[Any, ...]] = []
    trail: list[tuple[uuid.UUID, str, str, str]] = []
    for r in near:
        unit = directory.units.get(r.responsible_unit_id)
        if unit is None:
            continue
        _, category_name = directory.categories.get(r.category_id, ("", ""))
        until = r.expected_until.astimezone(city.tz)
        facts = {
            "type": "suspension",
            "finding_id": str(r.finding_id),
            "category_name": category_name,
            "description": r.description,
            "address": r.address,
            "resume_at": until.isoformat(),
            "reason": r.reason,
            "responsible_unit_name": unit.name,
            # What the message templates show (services/core/notify/templates/notice.*).
            "due_at": until.isoformat(),
            "due_label": "恢复计时",
        }
        common: dict[str, Any] = {
            "kind": "suspension",
            "finding_id": r.finding_id,
            "key": f"suspension:{r.id}:reminder",
            "unit": unit,
            "subject": f"【挂账到期提醒】{unit.name}：{category_name}将于{until:%m月%d日}恢复计时",
            "payload": json.dumps(facts, ensure_ascii=False),
            "now": now,
            "points": directory.points,
            "at": now if r.severity == "urgent" else opening,
        }
        for person in directory.holders.get((unit.id, "handler"), []):
            rows += outbox_rows(channels=ALL_CHANNELS, person=person, group=False, **common)[0]
        rows += outbox_rows(channels=ALL_CHANNELS, person=None, **common)[0]
        trail.append((r.finding_id, "suspension_reminder", r.status, json.dumps(facts)))
    await session.execute(
        text("UPDATE suspensions SET reminded_at = :now WHERE id = ANY(:ids)"),
        {"now": now, "ids": [r.id for r in near]},
    )
    deliveries = await escalation_store.insert_notifications(session, rows, now)
    await escalation_store.insert_trail(session, trail, now)
    return deliveries
