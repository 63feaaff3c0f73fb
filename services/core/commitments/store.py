"""Writes of the commitments ledger and the statements of the overdue sweep. Functions flush
or execute in the caller's transaction and never commit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.plans import policy_plan
from services.core.escalation.rules import Plan
from services.core.escalation.store import PersonRef
from services.core.models import EscalationPolicy, Person, Post, Unit


async def district_of(session: AsyncSession, unit: Unit) -> int | None:
    """The district whose subtree holds the unit (the unit itself for a district)."""
    ancestors = [int(p) for p in unit.path.strip("/").split("/") if p]
    found = await session.scalar(
        select(Unit.id).where(Unit.id.in_(ancestors), Unit.kind == "district").limit(1)
    )
    return int(found) if found is not None else None


async def head_of(session: AsyncSession, unit_id: int, at: datetime) -> Person | None:
    """Whoever holds the unit's head post at `at` (the most recently appointed)."""
    return await session.scalar(
        select(Person)
        .join(Post, Post.person_id == Person.id)
        .where(
            Post.unit_id == unit_id,
            Post.role == "head",
            Post.valid_from <= at,
            (Post.valid_to.is_(None)) | (Post.valid_to > at),
        )
        .order_by(Post.valid_from.desc(), Post.id)
        .limit(1)
    )


async def ladder(session: AsyncSession, code: str, default: Plan) -> Plan:
    """The commitments' policy an admin defined under `code`, else the default ladder."""
    policy = await session.scalar(select(EscalationPolicy).where(EscalationPolicy.code == code))
    if policy is None:
        return default
    return policy_plan(policy.code, None, policy.levels)


# ---- the overdue sweep ----

Claimed = Row[Any]

_CLAIM = text(
    """
    SELECT id, unit_id, district_id, due_at, escalation_plan::text AS plan, targets,
           meeting_id
    FROM commitments
    WHERE next_escalation_at <= :now AND accepted_at IS NULL
    ORDER BY next_escalation_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)


async def claim(session: AsyncSession, now: datetime, limit: int) -> Sequence[Claimed]:
    """Lock the commitments whose time has come; another sweep's are skipped."""
    return (await session.execute(_CLAIM, {"now": now, "limit": limit})).all()


async def fired_levels(session: AsyncSession, ids: list[int]) -> dict[int, set[int]]:
    """Read after the claim, so it sees every level a sweep that just released them fired."""
    fired: dict[int, set[int]] = {}
    rows = await session.execute(
        text(
            "SELECT commitment_id, level FROM commitment_escalations"
            " WHERE commitment_id = ANY(CAST(:ids AS int[]))"
        ),
        {"ids": ids},
    )
    for cid, level in rows:
        fired.setdefault(cid, set()).add(level)
    return fired


_ESCALATE = text(
    """
    INSERT INTO commitment_escalations (
      commitment_id, level, target, fired_at, due_for, reason, target_person_id, target_name,
      target_title, target_unit_id, target_unit_name, district_id)
    VALUES (:commitment_id, :level, :target, :fired_at, :due_for, :reason, :person_id,
            :person_name, :person_title, :unit_id, :unit_name, :district_id)
    ON CONFLICT ON CONSTRAINT uq_commitment_escalations_level DO NOTHING
    RETURNING id
    """
)


async def insert_escalation(session: AsyncSession, row: dict[str, Any]) -> int | None:
    """The level's id, or None when another sweep fired it already (then it gets no second
    notification either)."""
    found = await session.scalar(_ESCALATE, row)
    return int(found) if found is not None else None


async def reschedule(session: AsyncSession, cid: int, next_at: datetime | None) -> None:
    await session.execute(
        text("UPDATE commitments SET next_escalation_at = :at WHERE id = :id"),
        {"at": next_at, "id": cid},
    )


_NAME_COMMITMENT = text(
    "UPDATE notifications SET commitment_id = :cid"
    " WHERE dedupe_key = ANY(CAST(:keys AS text[])) AND commitment_id IS NULL"
)


async def name_commitment(session: AsyncSession, cid: int, keys: list[str]) -> None:
    """The outbox rows just written (by their dedupe keys) name their commitment: the
    shared insert leaves it out."""
    if keys:
        await session.execute(_NAME_COMMITMENT, {"cid": cid, "keys": keys})


_SUPERVISORS = text(
    """
    SELECT s.commitment_id, p.id, p.name, p.title, p.webhook_url
    FROM personal_supervisions s JOIN people p ON p.id = s.person_id
    WHERE s.ended_at IS NULL AND s.commitment_id = ANY(CAST(:ids AS int[]))
    ORDER BY s.id
    """
)


async def charges(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[PersonRef]]:
    """The leaders in personal charge of each commitment now."""
    out: dict[int, list[PersonRef]] = {}
    for r in await session.execute(_SUPERVISORS, {"ids": list(ids)}):
        out.setdefault(r[0], []).append(PersonRef(r[1], r[2], r[3], r[4]))
    return out


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
