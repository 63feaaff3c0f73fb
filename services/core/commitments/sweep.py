"""The overdue commitments' sweep: claim those whose time has come, fire each level of their
own ladder that is due, write the outbox, reschedule; in the caller's transaction.

The same guarantees as the findings' sweep (services.core.escalation.sweep): commitments are
claimed FOR UPDATE SKIP LOCKED, UNIQUE(commitment_id, level) makes a level fire once, ever,
and the notices' dedupe keys make writing one twice impossible, so a sweep killed mid-run
and re-run, or two at once, leave each level fired and told exactly once. The addressee is
whoever holds the post when the level fires (a vacant post goes to the campaign office), and
the leaders in personal charge of the commitment are told too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock
from services.core.commitments import store
from services.core.escalation.rules import Level, Plan, Timetable
from services.core.escalation.store import (
    Directory,
    PersonRef,
    insert_notifications,
    load_directory,
)
from services.core.escalation.sweep import Target, outbox_rows, resolve_target

KIND = "commitment"
# What a commitment's notice says it is about (the messages' "what").
WHAT = "整改承诺"


@dataclass
class SweepResult:
    claimed: int = 0
    escalations: int = 0
    # Outbox rows that need a delivery job once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


def _payload(
    c: store.Claimed, level: Level, target: Target, directory: Directory, escalation_id: int,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    unit = directory.units.get(c.unit_id)
    district = directory.units.get(c.district_id) if c.district_id else None
    person = target.person
    return {
        "type": "commitment_escalation",
        "commitment_id": c.id,
        "meeting_id": c.meeting_id,
        "commitment_escalation_id": escalation_id,
        "level": level.level,
        "target": level.target,
        "reason": target.reason,
        "target_unit": target.unit.code,
        "target_unit_name": target.unit.name,
        "target_name": person.name if person else None,
        "target_title": person.title if person else None,
        "fired_at": now.isoformat(),
        "responsible_unit": unit.code if unit else None,
        "responsible_unit_name": unit.name if unit else None,
        "district": district.code if district else None,
        "district_name": district.name if district else None,
        "category_name": WHAT,
        "description": c.targets,
        "due_at": c.due_at.isoformat(),
    }


def notice_rows(
    c: store.Claimed,
    level: Level,
    target: Target,
    directory: Directory,
    supervisors: list[PersonRef],
    escalation_id: int,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """The outbox rows of one fired level: its addressee and their unit's work group, and
    each leader in personal charge (their own fallback order; the addressee is not told
    twice, as both share the key `commitment:<id>:<level>:p<person>`)."""
    payload = _payload(c, level, target, directory, escalation_id, now)
    unit_name = payload["responsible_unit_name"] or ""
    subject = f"【承诺督办·第{level.level}级】{unit_name}：整改承诺逾期未完成"
    common: dict[str, Any] = {
        "kind": KIND,
        "finding_id": None,
        "key": f"commitment:{c.id}:{level.level}",
        "channels": level.channels,
        "subject": subject,
        "payload": store.dumps(payload),
        "now": now,
        "points": directory.points,
        "level": level.level,
    }
    rows, _ = outbox_rows(person=target.person, unit=target.unit, **common)
    addressee = target.person.id if target.person else None
    for leader in supervisors:
        if leader.id != addressee:
            mark = {**payload, "personally_supervised": True}
            extra = {**common, "payload": store.dumps(mark)}
            rows += outbox_rows(person=leader, unit=target.unit, group=False, **extra)[0]
    return rows


async def sweep_commitments(
    session: AsyncSession, clock: CityClock, now: datetime, batch_size: int
) -> SweepResult:
    """Claim up to `batch_size` commitments whose time has come and fire what is due. The
    caller commits, then enqueues `result.deliveries`."""
    claimed = await store.claim(session, now, batch_size)
    result = SweepResult(claimed=len(claimed))
    if not claimed:
        return result
    ids = [c.id for c in claimed]
    fired = await store.fired_levels(session, ids)
    leaders = await store.charges(session, ids)
    units = {c.unit_id for c in claimed} | {c.district_id for c in claimed if c.district_id}
    people = frozenset(p.id for found in leaders.values() for p in found)
    directory = await load_directory(session, units, set(), now, people=people)
    for c in claimed:
        done = fired.get(c.id, set())
        table = Timetable.of(Plan.from_json(json.loads(c.plan)), c.due_at, clock)
        for level, due_for in table.due(done, now):
            done.add(level.level)
            target = resolve_target(directory, level.target, c.unit_id, c.district_id)
            escalation_id = await store.insert_escalation(
                session, _escalation_row(c, level, target, due_for, now)
            )
            if escalation_id is None:
                continue  # another sweep fired it (and told them)
            rows = notice_rows(
                c, level, target, directory, leaders.get(c.id, []), escalation_id, now
            )
            result.deliveries += await insert_notifications(session, rows, now)
            await store.name_commitment(session, c.id, [row[0] for row in rows])
            result.escalations += 1
        next_at = table.next_time(dispatched_at=None, fired=done, reminded=True)
        await store.reschedule(session, c.id, next_at)
    return result


def _escalation_row(
    c: store.Claimed, level: Level, target: Target, due_for: datetime, now: datetime
) -> dict[str, Any]:
    person = target.person
    return {
        "commitment_id": c.id,
        "level": level.level,
        "target": level.target,
        "fired_at": now,
        "due_for": due_for,
        "reason": target.reason,
        "person_id": person.id if person else None,
        "person_name": person.name if person else None,
        "person_title": person.title if person else None,
        "unit_id": target.unit.id,
        "unit_name": target.unit.name,
        "district_id": c.district_id,
    }
