"""The escalation sweep: claim due findings, fire what is due, write the outbox, reschedule;
one transaction per `sweep_batch`.

Findings are claimed FOR UPDATE SKIP LOCKED, so workers share the work without waiting, and
UNIQUE(finding_id, level) makes a level fire once, ever. Nothing depends on Redis: after a
crash or a flush the next sweep re-reads the database. A batch decides in Python over plain
values, working out once what findings share (a plan, a timetable per (plan, due_at), an
addressee per (target, unit)), then writes in a few set-based statements (store.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation import store
from services.core.escalation.rules import Level, Plan, Timetable, reminder_due
from services.core.escalation.store import Claimed, Directory, PersonRef, UnitRef
from services.core.models import CLOCK_RUNNING

# Which post of which unit each ladder target addresses.
TARGET_ROLE = {
    "unit_head": "head",
    "district_head": "head",
    "city_leader": "city_leader",
    "discipline_commission": "head",
}


@dataclass(frozen=True)
class Target:
    unit: UnitRef
    person: PersonRef | None
    reason: str


@dataclass
class BatchResult:
    claimed: int = 0
    escalations: int = 0
    reminders: int = 0
    # Outbox rows that need a delivery job once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


class _RememberingCalendar(WorkingCalendar):
    """The city's calendar, each day looked up once per batch: a batch counts level times in
    working days over the same few weeks."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        super().__init__(calendar.overrides)
        self._known: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = super().is_working_day(day)
        return known


def resolve_target(
    directory: Directory, target: str, responsible_unit_id: int | None, district_id: int | None
) -> Target:
    """Whoever holds the post now; a vacant post never swallows an escalation: the campaign
    office gets it instead, with reason vacant_post."""
    if target == "unit_head":
        unit = directory.units.get(responsible_unit_id) if responsible_unit_id else None
    elif target in ("district_head", "city_leader"):
        unit = directory.units.get(district_id) if district_id else None
    else:
        unit = directory.unit_of_kind("discipline_commission")
    if unit is not None:
        holders = directory.holders.get((unit.id, TARGET_ROLE[target]))
        if holders:
            return Target(unit, holders[0], "overdue")
    office = directory.unit_of_kind("campaign_office")
    if office is None:
        raise LookupError("no campaign_office unit to receive vacant-post escalations")
    heads = directory.holders.get((office.id, "head"))
    return Target(office, heads[0] if heads else None, "vacant_post")


def outbox_rows(
    *,
    kind: str,
    finding_id: uuid.UUID,
    key: str,
    channels: tuple[str, ...],
    person: PersonRef | None,
    unit: UnitRef,
    subject: str,
    payload: str,
    now: datetime,
    escalation_id: int | None = None,
) -> list[tuple[Any, ...]]:
    """The notifications of one message, one per channel that has somewhere to go, in
    sweep_store.NOTIFICATION_COLUMNS order."""
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
            (
                f"{key}:{recipient}:{channel}",
                kind,
                escalation_id,
                finding_id,
                person.id if person is not None else None,
                unit.id,
                channel,
                address,
                subject,
                payload,
                status,
                sent_at,
                next_at,
            )
        )
    return rows


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class _Firing:
    """A level found due, waiting for the batch's single escalation insert."""

    finding: Claimed
    level: Level
    target: Target
    due_for: datetime
    facts: dict[str, Any]

    def escalation_row(self) -> tuple[Any, ...]:
        person, finding, unit = self.target.person, self.finding, self.target.unit
        return (
            finding.id,
            self.level.level,
            self.level.target,
            self.due_for,
            self.target.reason,
            person.id if person else None,
            person.name if person else None,
            person.title if person else None,
            unit.id,
            unit.name,
            finding.responsible_unit_id,
            finding.district_id,
            finding.source,
        )

    def outbox_rows(self, escalation_id: int, now: datetime) -> list[tuple[Any, ...]]:
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
        return outbox_rows(
            kind="escalation",
            finding_id=self.finding.id,
            key=f"escalation:{self.finding.id}:{level.level}",
            channels=level.channels,
            person=person,
            unit=self.target.unit,
            subject=subject,
            payload=_dumps(payload),
            now=now,
            escalation_id=escalation_id,
        )


class _Batch:
    """What one batch decides before it writes: the levels to fire, the reminders' outbox rows
    and every claimed finding's new schedule."""

    def __init__(self, directory: Directory, clock: CityClock, now: datetime) -> None:
        self.directory = directory
        self.clock = clock
        self.now = now
        self.firings: list[_Firing] = []
        self.reminder_rows: list[tuple[Any, ...]] = []
        self.reminders = 0
        self.ids: list[uuid.UUID] = []
        self.next_at: list[datetime | None] = []
        self.reminded_at: list[datetime | None] = []
        self._plans: dict[str, Plan] = {}
        self._timetables: dict[tuple[str, datetime], Timetable] = {}
        self._targets: dict[tuple[str, int | None, int | None], Target] = {}

    def timetable(self, plan_text: str, due_at: datetime) -> Timetable:
        key = (plan_text, due_at)
        table = self._timetables.get(key)
        if table is None:
            plan = self._plans.get(plan_text)
            if plan is None:
                plan = self._plans[plan_text] = Plan.from_json(json.loads(plan_text))
            table = self._timetables[key] = Timetable.of(plan, due_at, self.clock)
        return table

    def target(self, target: str, finding: Claimed) -> Target:
        key = (target, finding.responsible_unit_id, finding.district_id)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = resolve_target(
                self.directory, target, finding.responsible_unit_id, finding.district_id
            )
        return found

    def _schedule(
        self, finding: Claimed, next_at: datetime | None, reminded_at: datetime | None
    ) -> None:
        self.ids.append(finding.id)
        self.next_at.append(next_at)
        self.reminded_at.append(reminded_at)

    def decide(self, finding: Claimed, fired: set[int]) -> None:
        if finding.plan is None or finding.due_at is None or finding.status not in CLOCK_RUNNING:
            # a stale schedule: nothing to do while paused
            self._schedule(finding, None, finding.reminded_at)
            return
        now, due_at = self.now, finding.due_at
        table = self.timetable(finding.plan, due_at)
        reminded_at = finding.reminded_at
        remind = reminder_due(
            table.plan,
            due_at=due_at,
            dispatched_at=finding.dispatched_at,
            reminded=reminded_at is not None,
            fired=fired,
            now=now,
        )
        levels = table.due(fired, now)
        facts = self._facts(finding) if remind or levels else {}
        if remind:
            self.reminder_rows += self._reminder_rows(finding, facts)
            self.reminders += 1
        # A reminder after the deadline is pointless: mark it done so it is never scheduled
        # again.
        if reminded_at is None and (remind or now >= due_at or fired):
            reminded_at = now
        for level, due_for in levels:
            target = self.target(level.target, finding)
            self.firings.append(_Firing(finding, level, target, due_for, facts))
            fired.add(level.level)
        next_at = table.next_time(
            dispatched_at=finding.dispatched_at, fired=fired, reminded=reminded_at is not None
        )
        self._schedule(finding, next_at, reminded_at)

    def _facts(self, finding: Claimed) -> dict[str, Any]:
        code, name = self.directory.categories[finding.category_id]
        unit = self.directory.units.get(finding.responsible_unit_id)
        return {
            "finding_id": str(finding.id),
            "category": code,
            "category_name": name,
            "description": finding.description,
            "address": finding.address,
            "responsible_unit": unit.code if unit else None,
            "responsible_unit_name": unit.name if unit else None,
            "due_at": finding.due_at.isoformat() if finding.due_at else None,
            "source": finding.source,
        }

    def _reminder_rows(self, finding: Claimed, facts: dict[str, Any]) -> list[tuple[Any, ...]]:
        unit = self.directory.units.get(finding.responsible_unit_id)
        if unit is None:
            return []
        subject = f"【整改提醒】{unit.name}：{facts['category_name']}即将到期"
        payload = _dumps({"type": "reminder", **facts})
        common: dict[str, Any] = {
            "kind": "reminder",
            "finding_id": finding.id,
            "key": f"reminder:{finding.id}",
            "unit": unit,
            "subject": subject,
            "payload": payload,
            "now": self.now,
        }
        rows: list[tuple[Any, ...]] = []
        for person in self.directory.holders.get((unit.id, "handler"), []):
            rows += outbox_rows(channels=("inbox",), person=person, **common)
        rows += outbox_rows(channels=("webhook",), person=None, **common)
        return rows

    async def write(self, session: AsyncSession, result: BatchResult) -> None:
        await store.reschedule(session, self.ids, self.next_at, self.reminded_at)
        rows = list(self.reminder_rows)
        ids = await store.insert_escalations(
            session, [firing.escalation_row() for firing in self.firings], self.now
        )
        for firing in self.firings:
            escalation_id = ids.get((firing.finding.id, firing.level.level))
            if escalation_id is not None:
                rows += firing.outbox_rows(escalation_id, self.now)
        result.escalations = len(ids)
        result.reminders = self.reminders
        result.deliveries = await store.insert_notifications(session, rows)


async def sweep_batch(
    session: AsyncSession, clock: CityClock, now: datetime, batch_size: int
) -> BatchResult:
    """Claim up to `batch_size` findings whose time has come and handle each. Writes in the
    caller's transaction; the caller commits, then enqueues `result.deliveries`."""
    claimed = await store.claim(session, now, batch_size)
    result = BatchResult(claimed=len(claimed))
    if not claimed:
        return result
    fired = await store.fired_levels(session, [finding.id for finding in claimed])
    units = {f.responsible_unit_id for f in claimed} | {f.district_id for f in claimed}
    directory = await store.load_directory(
        session, {u for u in units if u is not None}, {f.category_id for f in claimed}, now
    )
    clock = replace(clock, calendar=_RememberingCalendar(clock.calendar))
    batch = _Batch(directory, clock, now)
    for finding in claimed:
        batch.decide(finding, fired.get(finding.id, set()))
    await batch.write(session, result)
    return result
