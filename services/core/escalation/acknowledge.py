"""A leader's acknowledgement of an escalation with a written instruction (批示).

Only the person the escalation was addressed to may acknowledge it. An escalation that went
to the campaign office because the post was vacant (reason `vacant_post`) may also be
acknowledged by a dispatcher of that office: the office's head is often not a user, and the
dispatchers are the ones who then chase the unit. Acknowledging is recorded on the
escalation and as an `acknowledge` event in the finding's audit trail; it does not stop the
later levels (only rectification does).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.queries import visible_escalations
from services.core.identity.principal import Principal
from services.core.models import Escalation, Event, Finding, User
from services.core.platform.errors import DomainError

MAX_INSTRUCTION = 2000


class AcknowledgeError(DomainError):
    pass


def may_acknowledge(principal: Principal, e: Escalation) -> bool:
    if principal.person_id is not None and principal.person_id == e.target_person_id:
        return True
    return (
        e.reason == "vacant_post"
        and principal.role == "dispatcher"
        and principal.unit_id == e.target_unit_id
    )


def _check_instruction(instruction: str) -> None:
    if not instruction.strip() or len(instruction) > MAX_INSTRUCTION:
        raise AcknowledgeError(
            422, f"An instruction of 1 to {MAX_INSTRUCTION} characters is required.", "instruction"
        )


def _check_open(e: Escalation) -> None:
    if e.acknowledged_at is not None:
        raise AcknowledgeError(
            409, f"Escalation {e.id} was already acknowledged at {e.acknowledged_at}."
        )


async def _record(
    session: AsyncSession,
    e: Escalation,
    actor_id: int | None,
    instruction: str,
    now: datetime,
    extra: dict[str, object],
) -> Escalation:
    """The acknowledgement on the escalation and as an `acknowledge` event on the finding's
    trail (`extra` says how it came, when not from the dashboard). Flushes."""
    e.acknowledged_at = now
    e.acknowledged_by_id = actor_id
    e.instruction = instruction
    status = await session.scalar(select(Finding.status).where(Finding.id == e.finding_id))
    session.add(
        Event(
            finding_id=e.finding_id,
            actor_id=actor_id,
            action="acknowledge",
            # Not a transition: the finding stays where it is.
            from_status=status,
            to_status=status,
            payload={
                "escalation_id": e.id,
                "level": e.level,
                "target": e.target,
                "instruction": instruction,
                **extra,
            },
            at=now,
        )
    )
    await session.flush()
    return e


async def acknowledge(
    session: AsyncSession,
    escalation_id: int,
    principal: Principal,
    instruction: str,
    now: datetime,
    extra: Mapping[str, object] | None = None,
) -> Escalation:
    """Record the acknowledgement. 404 outside the caller's scope, 403 for anyone but the
    target, 409 when it was already acknowledged. `extra` joins the event's payload (the
    attachments of the reply). Flushes; the caller commits."""
    _check_instruction(instruction)
    e = await session.scalar(
        select(Escalation)
        .where(Escalation.id == escalation_id, visible_escalations(principal))
        .with_for_update()
    )
    if e is None:
        raise AcknowledgeError(404, f"No escalation {escalation_id} in your scope.")
    if not may_acknowledge(principal, e):
        raise AcknowledgeError(
            403, "Only the person this escalation is addressed to may acknowledge it."
        )
    _check_open(e)
    return await _record(session, e, principal.user_id, instruction, now, dict(extra or {}))


async def acknowledge_by_link(
    session: AsyncSession,
    escalation_id: int,
    person_id: int,
    instruction: str,
    now: datetime,
    notification_id: int,
) -> Escalation:
    """The target's acknowledgement from the signed link in a message addressed to them
    (the caller has checked the link: fresh, single-use, the target's own). Recorded like
    one from the dashboard, with the user the person acts as (if any) and `via: link` on the
    trail. 422 without an instruction, 409 when already acknowledged."""
    _check_instruction(instruction)
    e = await session.scalar(
        select(Escalation).where(Escalation.id == escalation_id).with_for_update()
    )
    if e is None or e.target_person_id != person_id:
        raise AcknowledgeError(404, f"No escalation {escalation_id} for this link.")
    _check_open(e)
    user_id = await session.scalar(
        select(User.id).where(User.person_id == person_id, User.active).order_by(User.id).limit(1)
    )
    via = {"via": "link", "notification_id": notification_id, "person_id": person_id}
    return await _record(session, e, user_id, instruction, now, via)


async def acknowledge_event(session: AsyncSession, e: Escalation) -> int:
    """The id of the `acknowledge` event of an acknowledged escalation (there is one)."""
    found = await session.scalar(
        select(Event.id).where(
            Event.finding_id == e.finding_id,
            Event.action == "acknowledge",
            Event.payload["escalation_id"].as_integer() == e.id,
        )
    )
    assert found is not None  # noqa: S101 - written with the acknowledgement
    return found
