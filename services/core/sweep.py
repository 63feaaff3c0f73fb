"""The escalation sweep: claim due findings, fire what is due, write the outbox, reschedule.

One call of `sweep_batch` is one transaction. Findings are claimed with FOR UPDATE SKIP
LOCKED, so any number of workers share the work without waiting for each other, and
UNIQUE(finding_id, level) with ON CONFLICT DO NOTHING makes a level fire once, ever, even if
two sweeps somehow saw the same finding. Nothing here depends on Redis: after a crash or a
flush, the next sweep re-reads the database and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.deadlines import CityClock
from services.core.escalation import Level, Plan, due_levels, level_time, reminder_due
from services.core.escalation_store import fired_levels, schedule
from services.core.lifecycle import CLOCK_RUNNING
from services.core.models import Category, Escalation, Finding, Notification, Person, Post, Unit

# Which post of which unit each ladder target addresses.
TARGET_ROLE = {
    "unit_head": "head",
    "district_head": "head",
    "city_leader": "city_leader",
    "discipline_commission": "head",
}


@dataclass
class Target:
    unit: Unit
    person: Person | None
    reason: str


@dataclass
class BatchResult:
    claimed: int = 0
    escalations: int = 0
    reminders: int = 0
    # Outbox rows that need a delivery job once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


class _Directory:
    """Units and post holders looked up once per batch (one transaction, so never stale)."""

    def __init__(self, session: AsyncSession, at: datetime) -> None:
        self.session = session
        self.at = at
        self._units: dict[int, Unit | None] = {}
        self._holders: dict[tuple[int, str], list[Person]] = {}
        self._by_kind: dict[str, Unit | None] = {}

    async def unit(self, unit_id: int | None) -> Unit | None:
        if unit_id is None:
            return None
        if unit_id not in self._units:
            self._units[unit_id] = await self.session.get(Unit, unit_id)
        return self._units[unit_id]

    async def unit_of_kind(self, kind: str) -> Unit | None:
        if kind not in self._by_kind:
            self._by_kind[kind] = (
                await self.session.execute(
                    select(Unit).where(Unit.kind == kind).order_by(Unit.id).limit(1)
                )
            ).scalar_one_or_none()
        return self._by_kind[kind]

    async def holders(self, unit_id: int, role: str) -> list[Person]:
        key = (unit_id, role)
        if key not in self._holders:
            rows = await self.session.execute(
                select(Person)
                .join(Post, Post.person_id == Person.id)
                .where(
                    Post.unit_id == unit_id,
                    Post.role == role,
                    Post.valid_from <= self.at,
                    (Post.valid_to.is_(None)) | (Post.valid_to > self.at),
                )
                .order_by(Post.valid_from.desc(), Post.id)
            )
            self._holders[key] = list(rows.scalars())
        return self._holders[key]


async def _resolve_target(finding: Finding, target: str, directory: _Directory) -> Target:
    if target == "unit_head":
        unit = await directory.unit(finding.responsible_unit_id)
    elif target in ("district_head", "city_leader"):
        unit = await directory.unit(finding.district_id)
    else:
        unit = await directory.unit_of_kind("discipline_commission")
    if unit is not None:
        holders = await directory.holders(unit.id, TARGET_ROLE[target])
        if holders:
            return Target(unit, holders[0], "overdue")
    # A vacant post never swallows an escalation: the campaign office gets it instead.
    office = await directory.unit_of_kind("campaign_office")
    if office is None:
        raise LookupError("no campaign_office unit to receive vacant-post escalations")
    heads = await directory.holders(office.id, "head")
    return Target(office, heads[0] if heads else None, "vacant_post")


def _outbox_rows(
    *,
    kind: str,
    finding: Finding,
    key: str,
    channels: tuple[str, ...],
    person: Person | None,
    unit: Unit,
    subject: str,
    payload: dict[str, Any],
    now: datetime,
    escalation_id: int | None = None,
) -> list[dict[str, Any]]:
    rows = []
    recipient = f"p{person.id}" if person is not None else f"u{unit.id}"
    for channel in channels:
        if channel == "inbox":
            if person is None:
                continue  # an inbox belongs to a person; a vacant post has none
            address, status, sent_at, next_at = None, "sent", now, None
        elif channel == "webhook":
            address = (person.webhook_url if person is not None else None) or unit.webhook_url
            if not address:
                continue
            status, sent_at, next_at = "pending", None, now
        else:
            continue
        rows.append(
            {
                "dedupe_key": f"{key}:{recipient}:{channel}",
                "kind": kind,
                "escalation_id": escalation_id,
                "finding_id": finding.id,
                "recipient_person_id": person.id if person is not None else None,
                "recipient_unit_id": unit.id,
                "channel": channel,
                "address": address,
                "subject": subject,
                "payload": payload,
                "status": status,
                "sent_at": sent_at,
                "next_attempt_at": next_at,
            }
        )
    return rows


async def _write_outbox(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert notifications (idempotent by dedupe_key); ids of those awaiting delivery."""
    if not rows:
        return []
    inserted = await session.execute(
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id, Notification.status)
    )
    return [row.id for row in inserted if row.status == "pending"]


def _finding_facts(finding: Finding, category: Category, unit: Unit | None) -> dict[str, Any]:
    return {
        "finding_id": str(finding.id),
        "category": category.code,
        "category_name": category.name,
        "description": finding.description,
        "address": finding.address,
        "responsible_unit": unit.code if unit else None,
        "responsible_unit_name": unit.name if unit else None,
        "due_at": finding.due_at.isoformat() if finding.due_at else None,
        "source": finding.source,
    }


async def _fire(
    session: AsyncSession,
    finding: Finding,
    level: Level,
    directory: _Directory,
    facts: dict[str, Any],
    clock: CityClock,
    now: datetime,
) -> list[int] | None:
    """Fire one level; None if it had already fired (another sweep won)."""
    assert finding.due_at is not None  # noqa: S101 - only findings on the clock get here
    target = await _resolve_target(finding, level.target, directory)
    person = target.person
    escalation_id = (
        await session.execute(
            insert(Escalation)
            .values(
                finding_id=finding.id,
                level=level.level,
                target=level.target,
                fired_at=now,
                due_for=level_time(level, finding.due_at, clock),
                reason=target.reason,
                target_person_id=person.id if person else None,
                target_name=person.name if person else None,
                target_title=person.title if person else None,
                target_unit_id=target.unit.id,
                target_unit_name=target.unit.name,
                responsible_unit_id=finding.responsible_unit_id,
                district_id=finding.district_id,
                source=finding.source,
            )
            .on_conflict_do_nothing(constraint="uq_escalations_finding_level")
            .returning(Escalation.id)
        )
    ).scalar_one_or_none()
    if escalation_id is None:
        return None
    unit_name = facts.get("responsible_unit_name") or ""
    subject = f"【督办·第{level.level}级】{unit_name}：{facts['category_name']}逾期未整改"
    payload = {
        "type": "escalation",
        "escalation_id": escalation_id,
        "level": level.level,
        "target": level.target,
        "reason": target.reason,
        "target_unit": target.unit.code,
        "target_name": person.name if person else None,
        "fired_at": now.isoformat(),
        **facts,
    }
    rows = _outbox_rows(
        kind="escalation",
        finding=finding,
        key=f"escalation:{finding.id}:{level.level}",
        channels=level.channels,
        person=person,
        unit=target.unit,
        subject=subject,
        payload=payload,
        now=now,
        escalation_id=escalation_id,
    )
    return await _write_outbox(session, rows)


async def _remind(
    session: AsyncSession,
    finding: Finding,
    directory: _Directory,
    facts: dict[str, Any],
    now: datetime,
) -> list[int]:
    unit = await directory.unit(finding.responsible_unit_id)
    if unit is None:
        return []
    subject = f"【整改提醒】{unit.name}：{facts['category_name']}即将到期"
    payload = {"type": "reminder", **facts}
    key = f"reminder:{finding.id}"
    rows: list[dict[str, Any]] = []
    for person in await directory.holders(unit.id, "handler"):
        rows += _outbox_rows(
            kind="reminder",
            finding=finding,
            key=key,
            channels=("inbox",),
            person=person,
            unit=unit,
            subject=subject,
            payload=payload,
            now=now,
        )
    rows += _outbox_rows(
        kind="reminder",
        finding=finding,
        key=key,
        channels=("webhook",),
        person=None,
        unit=unit,
        subject=subject,
        payload=payload,
        now=now,
    )
    return await _write_outbox(session, rows)


async def process(
    session: AsyncSession,
    finding: Finding,
    directory: _Directory,
    clock: CityClock,
    now: datetime,
    result: BatchResult,
) -> None:
    plan = Plan.from_json(finding.escalation_plan) if finding.escalation_plan else None
    if plan is None or finding.due_at is None or finding.status not in CLOCK_RUNNING:
        finding.next_escalation_at = None  # stale schedule: nothing to do while paused
        return
    fired = await fired_levels(session, finding.id)
    category = await session.get(Category, finding.category_id)
    assert category is not None  # noqa: S101 - a foreign key
    facts = _finding_facts(finding, category, await directory.unit(finding.responsible_unit_id))
    remind = reminder_due(
        plan,
        due_at=finding.due_at,
        dispatched_at=finding.dispatched_at,
        reminded=finding.reminded_at is not None,
        fired=fired,
        now=now,
    )
    if remind:
        result.deliveries += await _remind(session, finding, directory, facts, now)
        result.reminders += 1
    # A reminder after the deadline is pointless: mark it done so it is never scheduled again.
    if finding.reminded_at is None and (remind or now >= finding.due_at or fired):
        finding.reminded_at = now
    for level in due_levels(plan, finding.due_at, fired, now, clock):
        deliveries = await _fire(session, finding, level, directory, facts, clock, now)
        fired.add(level.level)
        if deliveries is not None:
            result.escalations += 1
            result.deliveries += deliveries
    finding.next_escalation_at = schedule(finding, plan, fired, clock)


async def sweep_batch(
    session: AsyncSession, clock: CityClock, now: datetime, batch_size: int
) -> BatchResult:
    """Claim up to `batch_size` findings whose time has come and handle each. Flushes; the
    caller commits, then enqueues `result.deliveries`."""
    claimed = (
        (
            await session.execute(
                select(Finding)
                .where(Finding.next_escalation_at <= now)
                .order_by(Finding.next_escalation_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    result = BatchResult(claimed=len(claimed))
    directory = _Directory(session, now)
    for finding in claimed:
        await process(session, finding, directory, clock, now, result)
    await session.flush()
    return result
