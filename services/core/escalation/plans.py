"""Escalation plans on findings: snapshot at dispatch, reschedule on every lifecycle change.

The sweep looks only at `next_escalation_at`; every change that affects the ladder (dispatch,
submit, rework, extension, close, return) goes through `reschedule`, so that column is always
the truth about when the finding needs attention next.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock
from services.core.escalation.rules import Plan, next_time
from services.core.models import CLOCK_RUNNING, Escalation, Finding

DEFAULT_POLICY = "default"


class UnknownPolicy(LookupError):
    pass


def policy_plan(
    code: str,
    reminder_at: float | None,
    levels: Sequence[Mapping[str, Any]],
    start_level: int = 1,
) -> Plan:
    """The escalation plan a finding snapshots from a policy (a row or the reference
    snapshot's copy of one)."""
    return Plan.from_json(
        {
            "policy": code,
            "reminder_at": reminder_at,
            "levels": list(levels),
            "start_level": start_level,
        }
    )


async def fired_levels(session: AsyncSession, finding_id: uuid.UUID) -> set[int]:
    rows = await session.execute(
        select(Escalation.level).where(Escalation.finding_id == finding_id)
    )
    return set(rows.scalars())


def schedule(
    finding: Finding, plan: Plan | None, fired: set[int], clock: CityClock
) -> datetime | None:
    """When the sweep must next look at this finding: only while the clock runs."""
    if plan is None or finding.due_at is None or finding.status not in CLOCK_RUNNING:
        return None
    return next_time(
        plan,
        due_at=finding.due_at,
        dispatched_at=finding.dispatched_at,
        fired=fired,
        reminded=finding.reminded_at is not None,
        clock=clock,
    )


async def reschedule(session: AsyncSession, finding: Finding, clock: CityClock) -> None:
    plan = Plan.from_json(finding.escalation_plan) if finding.escalation_plan else None
    fired = await fired_levels(session, finding.id) if plan is not None else set()
    finding.next_escalation_at = schedule(finding, plan, fired, clock)


async def resolve(session: AsyncSession, finding_id: uuid.UUID, now: datetime) -> None:
    """Rectification (or closing) resolves every escalation of the finding."""
    await session.execute(
        update(Escalation)
        .where(Escalation.finding_id == finding_id, Escalation.resolved_at.is_(None))
        .values(resolved_at=now)
    )
