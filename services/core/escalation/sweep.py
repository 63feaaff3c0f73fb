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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock, next_opening
from services.core.calendar.rules import WorkingCalendar
from services.core.escalation import store
from services.core.escalation.rules import Level, Plan, Timetable, reminder_due
from services.core.escalation.store import Claimed, Directory, PersonRef, PointRef, UnitRef
from services.core.models import CHANNELS, CLOCK_RUNNING

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
    finding_id: uuid.UUID | None,
    key: str,
    channels: tuple[str, ...],
    person: PersonRef | None,
    unit: UnitRef,
    subject: str,
    payload: str,
    now: datetime,
    points: Mapping[tuple[str, int], list[PointRef]],
    at: datetime | None = None,
    escalation_id: int | None = None,
    level: int | None = None,
    group: bool = True,
) -> tuple[list[tuple[Any, ...]], bool]:
    """The outbox rows of one message (sweep_store.NOTIFICATION_COLUMNS order), and whether
    any goes beyond the inbox. The person gets an inbox row and their fallback order (their
    contact points of the level's channels, then their webhook_url); with `group`, the unit
    (its work group) gets its own order. The first of an order is pending, due at `at` (the
    next opening, for notices that wait for working hours); the others stand by."""
    at = at or now
    held = at > now
    rows: list[tuple[Any, ...]] = []
    if person is not None and "inbox" in channels:
        status, sent_at, next_at = ("pending", None, at) if held else ("sent", now, None)
        inbox = (f"{key}:p{person.id}:inbox", kind, escalation_id, finding_id, person.id)
        rows.append((*inbox, unit.id, "inbox", None, subject, payload, status, sent_at, next_at))
        rows[-1] += (None, None, 0, level)
    orders: list[tuple[str, int | None, list[PointRef], str | None]] = []
    if person is not None:
        orders.append(
            (f"p{person.id}", person.id, points.get(("p", person.id), []), person.webhook_url)
        )
    if group:
        # The group's rows name the person too (whom the message is for); only the chain's
        # owner (u…) tells a group's message from the person's own.
        addressee = person.id if person is not None else None
        orders.append((f"u{unit.id}", addressee, points.get(("u", unit.id), []), unit.webhook_url))
    external = False
    for owner, person_id, owned, webhook_url in orders:
        chain = f"{key}:{owner}"
        order: list[tuple[str, int | None, str | None]] = [
            (p.kind, p.id, None) for p in owned if p.kind in channels
        ]
        if webhook_url and "webhook" in channels:
            order.append(("webhook", None, webhook_url))
        for rank, (channel, point_id, address) in enumerate(order):
            first = rank == 0
            dedupe = f"{chain}:cp{point_id}" if point_id is not None else f"{chain}:{channel}"
            head = (dedupe, kind, escalation_id, finding_id, person_id, unit.id, channel, address)
            status = "pending" if first else "standby"
            rows.append((*head, subject, payload, status, None, at if first else None))
            rows[-1] += (point_id, chain, rank, level)
            external = True
    return rows, external


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
    # When its notices go out: now, or the next opening of the office hours.
    at: datetime
    # The leaders in personal charge of the finding, told besides the addressee.
    supervisors: tuple[PersonRef, ...] = ()

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

    def details(self, escalation_id: int, now: datetime) -> dict[str, Any]:
        person, level = self.target.person, self.level
        return {
            "type": "escalation",
            "escalation_id": escalation_id,
            "level": level.level,
            "target": level.target,
            "reason": self.target.reason,
            "target_unit": self.target.unit.code,
            "target_unit_name": self.target.unit.name,
            "target_name": person.name if person else None,
            "target_title": person.title if person else None,
            "fired_at": now.isoformat(),
            **self.facts,
        }

    def outbox_rows(
        self, escalation_id: int, now: datetime, directory: Directory
    ) -> tuple[list[tuple[Any, ...]], bool]:
        level, facts = self.level, self.facts
        unit_name = facts.get("responsible_unit_name") or ""
        subject = f"【督办·第{level.level}级】{unit_name}：{facts['category_name']}逾期未整改"
        rows, external = outbox_rows(
            kind="escalation",
            finding_id=self.finding.id,
            key=f"escalation:{self.finding.id}:{level.level}",
            channels=level.channels,
            person=self.target.person,
            unit=self.target.unit,
            subject=subject,
            payload=_dumps(self.details(escalation_id, now)),
            now=now,
            points=directory.points,
            at=self.at,
            escalation_id=escalation_id,
            level=level.level,
        )
        return rows + self._charge_rows(escalation_id, now, directory, subject), external

    def _charge_rows(
        self, escalation_id: int, now: datetime, directory: Directory, subject: str
    ) -> list[tuple[Any, ...]]:
        """The same notice to each leader in personal charge of the finding (领导包案), on
        their own fallback order, besides the ladder's addressee (told once if the same: the
        rows share the key escalation:<finding>:<level>:p<person>)."""
        rows: list[tuple[Any, ...]] = []
        addressee = self.target.person.id if self.target.person else None
        leaders = [leader for leader in self.supervisors if leader.id != addressee]
        if not leaders:
            return rows
        payload = _dumps({**self.details(escalation_id, now), "personally_supervised": True})
        for leader in leaders:
            rows += outbox_rows(
                kind="escalation", finding_id=self.finding.id,
                key=f"escalation:{self.finding.id}:{self.level.level}",
                channels=self.level.channels, person=leader, unit=self.target.unit,
                subject=subject, payload=payload, now=now, points=directory.points, at=self.at,
                escalation_id=escalation_id, level=self.level.level, group=False,
            )[0]  # fmt: skip
        return rows


def _waits(level: int | None, severity: str | None) -> bool:
    """Reminders and L1–L2 notices wait for office hours; L3–L4 and urgent findings not."""
    return severity != "urgent" and (level is None or level < URGENT_FROM_LEVEL)


# Levels from this one up reach their target at any hour.
URGENT_FROM_LEVEL = 3


class _Batch:
    """What one batch decides before it writes: the levels to fire, the reminders' outbox rows
    and every claimed finding's new schedule."""

    def __init__(
        self,
        directory: Directory,
        clock: CityClock,
        now: datetime,
        charges: Mapping[uuid.UUID, list[PersonRef]] | None = None,
    ) -> None:
        self.directory = directory
        self.charges = charges or {}
        self.clock = clock
        self.now = now
        self.firings: list[_Firing] = []
        self.reminder_rows: list[tuple[Any, ...]] = []
        self.trail: list[tuple[uuid.UUID, str, str, str]] = []
        self.reminders = 0
        self.ids: list[uuid.UUID] = []
        self.next_at: list[datetime | None] = []
        self.reminded_at: list[datetime | None] = []
        self._plans: dict[str, Plan] = {}
        self._timetables: dict[tuple[str, datetime], Timetable] = {}
        self._targets: dict[tuple[str, int | None, int | None], Target] = {}
        self._opening: datetime | None = None

    @property
    def opening(self) -> datetime:
        """Now, when it is office hours; else the next opening (the same for the batch)."""
        if self._opening is None:
            c = self.clock
            self._opening = next_opening(self.now, c.hours, c.calendar, c.tz)
        return self._opening

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
            at = self.opening if _waits(level.level, finding.severity) else now
            leaders = tuple(self.charges.get(finding.id, ()))
            self.firings.append(_Firing(finding, level, target, due_for, facts, at, leaders))
            fired.add(level.level)
        next_at = table.next_time(
            dispatched_at=finding.dispatched_at, fired=fired, reminded=reminded_at is not None
        )
        self._schedule(finding, next_at, reminded_at)

    def _facts(self, finding: Claimed) -> dict[str, Any]:
        code, name = self.directory.categories[finding.category_id]
        unit = self.directory.units.get(finding.responsible_unit_id)
        district = self.directory.units.get(finding.district_id)
        return {
            "finding_id": str(finding.id),
            "category": code,
            "category_name": name,
            "description": finding.description,
            "address": finding.address,
            "responsible_unit": unit.code if unit else None,
            "responsible_unit_name": unit.name if unit else None,
            "district": district.code if district else None,
            "district_name": district.name if district else None,
            "due_at": finding.due_at.isoformat() if finding.due_at else None,
            "source": finding.source,
            "severity": finding.severity,
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
            "points": self.directory.points,
            "at": self.opening if _waits(None, finding.severity) else self.now,
        }
        rows: list[tuple[Any, ...]] = []
        for person in self.directory.holders.get((unit.id, "handler"), []):
            rows += outbox_rows(channels=ALL_CHANNELS, person=person, group=False, **common)[0]
        rows += outbox_rows(channels=ALL_CHANNELS, person=None, **common)[0]
        self.trail.append(
            (finding.id, "remind", finding.status, _dumps({"due_at": facts["due_at"]}))
        )
        return rows

    async def write(self, session: AsyncSession, result: BatchResult) -> None:
        await store.reschedule(session, self.ids, self.next_at, self.reminded_at)
        rows = list(self.reminder_rows)
        ids = await store.insert_escalations(
            session, [firing.escalation_row() for firing in self.firings], self.now
        )
        unreached: list[tuple[_Firing, int]] = []
        for firing in self.firings:
            escalation_id = ids.get((firing.finding.id, firing.level.level))
            if escalation_id is None:
                continue
            found, external = firing.outbox_rows(escalation_id, self.now, self.directory)
            rows += found
            self._trail_firing(firing, escalation_id)
            if not external:
                unreached.append((firing, escalation_id))
        rows += self._office_rows(unreached)
        result.escalations = len(ids)
        result.reminders = self.reminders
        result.deliveries = await store.insert_notifications(session, rows, self.now)
        await store.insert_trail(session, self.trail, self.now)

    def _trail_firing(self, firing: _Firing, escalation_id: int) -> None:
        person = firing.target.person
        detail = {
            "escalation_id": escalation_id,
            "level": firing.level.level,
            "target": firing.level.target,
            "reason": firing.target.reason,
            "target_name": person.name if person else None,
            "target_unit": firing.target.unit.code,
            "held_until": firing.at.isoformat() if firing.at > self.now else None,
        }
        self.trail.append((firing.finding.id, "escalate", firing.finding.status, _dumps(detail)))

    def _office_rows(self, unreached: list[tuple[_Firing, int]]) -> list[tuple[Any, ...]]:
        """Escalations whose targets have no channel beyond the inbox: on their trails as not
        delivered, and one notice for the batch to the campaign office (never silent). One
        already addressed to the office (a vacant post) is only marked."""
        if not unreached:
            return []
        office = self.directory.unit_of_kind("campaign_office")
        told: list[tuple[_Firing, int]] = []
        for firing, escalation_id in unreached:
            detail = {
                "escalation_id": escalation_id,
                "level": firing.level.level,
                "why": "no channel configured",
            }
            self.trail.append(
                (firing.finding.id, "not_delivered", firing.finding.status, _dumps(detail))
            )
            if office is not None and firing.target.unit.id != office.id:
                told.append((firing, escalation_id))
        if office is None or not told:
            return []
        heads = self.directory.holders.get((office.id, "head"))
        urgent = any(not _waits(f.level.level, f.finding.severity) for f, _ in told)
        # Only the items the notice shows are written out in full; its link lists the rest.
        why = "未配置钉钉、企业微信、邮件、短信或 webhook"
        payload = {
            "type": "undelivered",
            "count": len(told),
            "items": [
                {**f.details(escalation_id, self.now), "why": why}
                for f, escalation_id in told[:OFFICE_ITEMS_SHOWN]
            ],
            "escalation_ids": [escalation_id for _, escalation_id in told],
        }
        rows, _ = outbox_rows(
            kind="undelivered",
            finding_id=None,
            key=f"undelivered:b{told[0][1]}",
            channels=ALL_CHANNELS,
            person=heads[0] if heads else None,
            unit=office,
            subject=f"【督办未送达】{len(told)}项督办未能送达领导本人",
            payload=_dumps(payload),
            now=self.now,
            points=self.directory.points,
            at=self.now if urgent else self.opening,
        )
        return rows


# An office notice lists this many; its link shows the rest.
OFFICE_ITEMS_SHOWN = 10
ALL_CHANNELS = CHANNELS


async def sweep_batch(
    session: AsyncSession, clock: CityClock, now: datetime, batch_size: int
) -> BatchResult:
    """Claim up to `batch_size` findings whose time has come and handle each. Writes in the
    caller's transaction; the caller commits, then enqueues `result.deliveries`."""
    claimed = await store.claim(session, now, batch_size)
    result = BatchResult(claimed=len(claimed))
    if not claimed:
        return result
    ids = [finding.id for finding in claimed]
    fired = await store.fired_levels(session, ids)
    charges = await store.charges(session, ids)
    units = {f.responsible_unit_id for f in claimed} | {f.district_id for f in claimed}
    directory = await store.load_directory(
        session,
        {u for u in units if u is not None},
        {f.category_id for f in claimed},
        now,
        people=frozenset(p.id for leaders in charges.values() for p in leaders),
    )
    clock = replace(clock, calendar=_RememberingCalendar(clock.calendar))
    batch = _Batch(directory, clock, now, charges)
    for finding in claimed:
        batch.decide(finding, fired.get(finding.id, set()))
    await batch.write(session, result)
    return result
