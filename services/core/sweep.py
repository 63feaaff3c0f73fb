"""The escalation sweep: claim due findings, fire what is due, write the outbox, reschedule.

One call of `sweep_batch` is one transaction. Findings are claimed with FOR UPDATE SKIP
LOCKED, so any number of workers share the work without waiting for each other, and
UNIQUE(finding_id, level) with ON CONFLICT DO NOTHING makes a level fire once, ever, even if
two sweeps somehow saw the same finding. Nothing here depends on Redis: after a crash or a
flush, the next sweep re-reads the database and carries on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar import WorkingCalendar
from services.core.deadlines import CityClock
from services.core.escalation import Level, Plan, due_levels, level_time, reminder_due
from services.core.escalation_store import schedule
from services.core.lifecycle import CLOCK_RUNNING
from services.core.models import Category, Escalation, Finding, Notification, Person, Post, Unit

# Which post of which unit each ladder target addresses.
TARGET_ROLE = {
    "unit_head": "head",
    "district_head": "head",
    "city_leader": "city_leader",
    "discipline_commission": "head",
}

# The tables themselves for the multi-row inserts (Core executemany with RETURNING).
ESCALATIONS = cast(Table, Escalation.__table__)
NOTIFICATIONS = cast(Table, Notification.__table__)


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


class _RememberingCalendar(WorkingCalendar):
    """The city's calendar, each day looked up once per batch: a batch counts thousands of
    level times in working days over the same few weeks."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        super().__init__(calendar.overrides)
        self._known: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = super().is_working_day(day)
        return known


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
    # One multi-row statement per chunk of rows (executemany with RETURNING), not a round
    # trip per row: a batch of overdue findings writes thousands of them.
    inserted = await session.execute(
        insert(NOTIFICATIONS)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(NOTIFICATIONS.c.id, NOTIFICATIONS.c.status),
        rows,
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


@dataclass
class _Firing:
    """A level found due, waiting for the batch's single escalation insert."""

    finding: Finding
    level: Level
    target: Target
    due_for: datetime
    facts: dict[str, Any]

    def escalation_row(self, now: datetime) -> dict[str, Any]:
        person, finding = self.target.person, self.finding
        return {
            "finding_id": finding.id,
            "level": self.level.level,
            "target": self.level.target,
            "fired_at": now,
            "due_for": self.due_for,
            "reason": self.target.reason,
            "target_person_id": person.id if person else None,
            "target_name": person.name if person else None,
            "target_title": person.title if person else None,
            "target_unit_id": self.target.unit.id,
            "target_unit_name": self.target.unit.name,
            "responsible_unit_id": finding.responsible_unit_id,
            "district_id": finding.district_id,
            "source": finding.source,
        }

    def outbox_rows(self, escalation_id: int, now: datetime) -> list[dict[str, Any]]:
        person, level, facts = self.target.person, self.level, self.facts
        unit_name = facts.get("responsible_unit_name") or ""
        subject = f"【督办·第{level.level}级】{unit_name}：{facts['category_name']}逾期未整改"
        payload = {
            "type": "escalation",
            "escalation_id": escalation_id,
            "level": level.level,
            "target": level.target,
            "reason": self.target.reason,
            "target_unit": self.target.unit.code,
            "target_name": person.name if person else None,
            "fired_at": now.isoformat(),
            **facts,
        }
        return _outbox_rows(
            kind="escalation",
            finding=self.finding,
            key=f"escalation:{self.finding.id}:{level.level}",
            channels=level.channels,
            person=person,
            unit=self.target.unit,
            subject=subject,
            payload=payload,
            now=now,
            escalation_id=escalation_id,
        )


async def _reminder_rows(
    finding: Finding, directory: _Directory, facts: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
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
    return rows


async def _fired_levels(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    fired: dict[uuid.UUID, set[int]] = {fid: set() for fid in ids}
    rows = await session.execute(
        select(Escalation.finding_id, Escalation.level).where(Escalation.finding_id.in_(ids))
    )
    for finding_id, level in rows:
        fired[finding_id].add(level)
    return fired


class _Batch:
    """What one batch decides before it writes: the levels to fire and the outbox rows of the
    reminders. Deciding first and writing afterwards keeps the batch to a few statements."""

    def __init__(self, directory: _Directory, clock: CityClock, now: datetime) -> None:
        self.directory = directory
        self.clock = clock
        self.now = now
        self.firings: list[_Firing] = []
        self.reminder_rows: list[dict[str, Any]] = []
        self.reminders = 0
        self._categories: dict[int, Category] = {}

    async def category(self, category_id: int) -> Category:
        if category_id not in self._categories:
            category = await self.directory.session.get(Category, category_id)
            assert category is not None  # noqa: S101 - a foreign key
            self._categories[category_id] = category
        return self._categories[category_id]

    async def decide(self, finding: Finding, fired: set[int]) -> None:
        plan = Plan.from_json(finding.escalation_plan) if finding.escalation_plan else None
        if plan is None or finding.due_at is None or finding.status not in CLOCK_RUNNING:
            finding.next_escalation_at = None  # stale schedule: nothing to do while paused
            return
        now, directory = self.now, self.directory
        category = await self.category(finding.category_id)
        unit = await directory.unit(finding.responsible_unit_id)
        facts = _finding_facts(finding, category, unit)
        remind = reminder_due(
            plan,
            due_at=finding.due_at,
            dispatched_at=finding.dispatched_at,
            reminded=finding.reminded_at is not None,
            fired=fired,
            now=now,
        )
        if remind:
            self.reminder_rows += await _reminder_rows(finding, directory, facts, now)
            self.reminders += 1
        # A reminder after the deadline is pointless: mark it done so it is never scheduled
        # again.
        if finding.reminded_at is None and (remind or now >= finding.due_at or fired):
            finding.reminded_at = now
        for level in due_levels(plan, finding.due_at, fired, now, self.clock):
            target = await _resolve_target(finding, level.target, directory)
            due_for = level_time(level, finding.due_at, self.clock)
            self.firings.append(_Firing(finding, level, target, due_for, facts))
            fired.add(level.level)
        finding.next_escalation_at = schedule(finding, plan, fired, self.clock)

    async def write(self, session: AsyncSession, result: BatchResult) -> None:
        rows = list(self.reminder_rows)
        if self.firings:
            # Lowest level first within a finding, so L1 gets the smaller id when several
            # fire at once. ON CONFLICT DO NOTHING: a level another sweep already fired is
            # left out of RETURNING, and so gets no second notification either.
            inserted = await session.execute(
                insert(ESCALATIONS)
                .on_conflict_do_nothing(constraint="uq_escalations_finding_level")
                .returning(
                    ESCALATIONS.c.id,
                    ESCALATIONS.c.finding_id,
                    ESCALATIONS.c.level,
                ),
                [firing.escalation_row(self.now) for firing in self.firings],
            )
            ids = {(row.finding_id, row.level): row.id for row in inserted}
            for firing in self.firings:
                escalation_id = ids.get((firing.finding.id, firing.level.level))
                if escalation_id is not None:
                    rows += firing.outbox_rows(escalation_id, self.now)
            result.escalations = len(ids)
        result.reminders = self.reminders
        result.deliveries = await _write_outbox(session, rows)


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
    if not claimed:
        return result
    fired = await _fired_levels(session, [finding.id for finding in claimed])
    clock = replace(clock, calendar=_RememberingCalendar(clock.calendar))
    batch = _Batch(_Directory(session, now), clock, now)
    for finding in claimed:
        await batch.decide(finding, fired[finding.id])
    await batch.write(session, result)
    await session.flush()
    return result
