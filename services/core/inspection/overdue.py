"""Overdue inspection tasks, as the worker sweeps them: past due, the assignee is reminded
(once); `escalate_after` working days past due, the head of the unit is told (once), and the
task leaves the sweep. The notices travel like the findings' reminders: the inbox and the
recipient's channels (DingTalk, WeCom, SMS, email, webhook) in their fallback order, held to
office hours of working days.

Idempotent (arq delivers at least once): the marks on the task and the notices' dedupe keys
make a second run change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import next_opening
from services.core.escalation import store as escalation_store
from services.core.escalation.store import Directory, PersonRef
from services.core.escalation.sweep import ALL_CHANNELS, outbox_rows
from services.core.findings.rules import Clock
from services.core.inspection import store


@dataclass
class OverdueSwept:
    reminded: int = 0
    escalated: int = 0
    # Outbox rows to deliver once the transaction has committed.
    deliveries: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Notice:
    task: Any  # a row of store.CLAIM_OVERDUE
    kind: str  # "task_reminder" or "task_escalation"


async def sweep_overdue_tasks(
    session: AsyncSession, clock: Clock, *, escalate_after: int, batch: int = 500
) -> OverdueSwept:
    """Remind and escalate one batch of overdue tasks. A vacant head post leaves the notice
    with the unit's own group (and says so), never silently dropped."""
    swept = OverdueSwept()
    notices: list[_Notice] = []
    for t in await store.claim_overdue(session, clock.now, batch):
        escalate_at = t.escalate_at
        if t.reminded_at is None:
            escalate_at = (
                clock.due(t.due_at, {"working_days": escalate_after})
                if escalate_after
                else t.due_at
            )
            notices.append(_Notice(t, "task_reminder"))
            await store.set_task_marks(session, t.id, reminded=clock.now, escalate_at=escalate_at)
            swept.reminded += 1
        if clock.now >= escalate_at:
            notices.append(_Notice(t, "task_escalation"))
            await store.set_task_marks(session, t.id, escalated=clock.now)
            swept.escalated += 1
    if notices:
        swept.deliveries = await _write(session, notices, clock)
    await session.flush()
    return swept


async def _write(session: AsyncSession, notices: list[_Notice], clock: Clock) -> list[int]:
    units = {n.task.unit_id for n in notices if n.task.unit_id is not None}
    assignees = {n.task.person_id for n in notices if n.task.person_id is not None}
    directory = await escalation_store.load_directory(
        session, units, set(), clock.now, people=frozenset(assignees)
    )
    people = await escalation_store.person_refs(session, assignees)
    city = clock.city
    opening = next_opening(clock.now, city.hours, city.calendar, city.tz)
    rows: list[tuple[Any, ...]] = []
    for notice in notices:
        rows += _rows(notice, directory, people, clock, opening)
    return await escalation_store.insert_notifications(session, rows, clock.now)


def _rows(
    notice: _Notice,
    directory: Directory,
    people: dict[int, PersonRef],
    clock: Clock,
    opening: datetime,
) -> list[tuple[Any, ...]]:
    """The outbox rows of one notice, each naming its task."""
    t = notice.task
    unit = directory.units.get(t.unit_id) if t.unit_id is not None else None
    if unit is None:
        return []
    tz = clock.city.tz
    facts: dict[str, Any] = {
        "type": "task",
        "task": t.id,
        "point": t.code,
        "point_name": t.name,
        # What the message templates show (services/core/notify/templates/notice.*).
        "category_name": f"测评点位巡查：{t.name}（{t.code}）",
        "responsible_unit_name": unit.name,
        "address": t.address,
        "due_at": t.due_at.astimezone(tz).isoformat(),
        "due_label": "巡查期限",
    }
    person: PersonRef | None
    if notice.kind == "task_reminder":
        person = people.get(t.person_id) if t.person_id is not None else None
        subject = f"巡查任务逾期：{t.name}（{t.code}）"
        # The assignee's own channels; the unit's group only when nobody is named.
        group = person is None
    else:
        heads = directory.holders.get((unit.id, "head"))
        person = heads[0] if heads else None
        facts["vacant_post"] = person is None
        subject = f"巡查任务逾期未完成，督办：{t.name}（{t.code}）"
        group = True
    found, _ = outbox_rows(
        kind=notice.kind, finding_id=None, key=f"{notice.kind}:{t.id}", channels=ALL_CHANNELS,
        person=person, unit=unit, subject=subject,
        payload=json.dumps(facts, ensure_ascii=False), now=clock.now, points=directory.points,
        at=opening, group=group,
    )  # fmt: skip
    return [(*row, t.id) for row in found]
