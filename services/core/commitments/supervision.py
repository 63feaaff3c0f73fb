"""Personal supervision (领导包案 / 亲自督办): a leader takes personal charge of a finding or
a commitment in their scope. The mark is shown wherever the item is; the item's escalations
reach the leader besides the ladder's addressee (the two sweeps read the charges); the leader
lists what they hold. Ending a charge keeps its record. Use cases flush, never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.commitments import rules
from services.core.commitments.queries import visible_commitments
from services.core.findings.rules import Clock
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import Commitment, Finding, PersonalSupervision
from services.core.platform.errors import DomainError, NotFound


@dataclass(frozen=True)
class Item:
    """A finding or a commitment, exactly one."""

    finding: uuid.UUID | None = None
    commitment: int | None = None


async def _check_visible(session: AsyncSession, principal: Principal, item: Item) -> None:
    if item.finding is not None:
        seen = await session.scalar(
            select(Finding.id).where(Finding.id == item.finding, visible_findings(principal))
        )
        if seen is None:
            raise NotFound(f"No finding {item.finding}.")
    else:
        seen_c = await session.scalar(
            select(Commitment.id).where(
                Commitment.id == item.commitment, visible_commitments(principal)
            )
        )
        if seen_c is None:
            raise NotFound(f"No commitment {item.commitment}.")


async def _held(session: AsyncSession, person_id: int, item: Item) -> PersonalSupervision | None:
    query = select(PersonalSupervision).where(
        PersonalSupervision.person_id == person_id, PersonalSupervision.ended_at.is_(None)
    )
    if item.finding is not None:
        query = query.where(PersonalSupervision.finding_id == item.finding)
    else:
        query = query.where(PersonalSupervision.commitment_id == item.commitment)
    return await session.scalar(query.with_for_update())


async def take_charge(
    session: AsyncSession, principal: Principal, item: Item, note: str | None, clock: Clock
) -> tuple[PersonalSupervision, bool]:
    """The caller (a leader) takes personal charge; again while holding it changes nothing
    (False)."""
    await _check_visible(session, principal, item)
    if not rules.may_take_charge(principal) or principal.person_id is None:
        raise DomainError(403, "Only a leader takes personal charge of an item.")
    held = await _held(session, principal.person_id, item)
    if held is not None:
        return held, False
    charge = PersonalSupervision(
        person_id=principal.person_id, finding_id=item.finding, commitment_id=item.commitment,
        note=note, started_at=clock.now, started_by_id=principal.user_id,
    )  # fmt: skip
    session.add(charge)
    await session.flush()
    return charge, True


async def release(
    session: AsyncSession, principal: Principal, item: Item, clock: Clock
) -> PersonalSupervision:
    """The leader ends their charge (the record stays); 404 when they hold none."""
    await _check_visible(session, principal, item)
    held = await _held(session, principal.person_id, item) if principal.person_id else None
    if held is None:
        raise NotFound("You hold no personal charge of this item.")
    held.ended_at = clock.now
    await session.flush()
    return held


async def held_by(session: AsyncSession, person_id: int) -> list[PersonalSupervision]:
    """What a leader holds now, the latest first."""
    return list(
        await session.scalars(
            select(PersonalSupervision)
            .where(
                PersonalSupervision.person_id == person_id, PersonalSupervision.ended_at.is_(None)
            )
            .order_by(PersonalSupervision.id.desc())
        )
    )
