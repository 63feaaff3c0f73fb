"""The desks' use cases: one action on a finding, and the dispatcher's bulk dispatch. Both
go through the lifecycle's own `transition` (the same function the API's transitions route
calls), each inside a savepoint so a refused one leaves nothing behind and, in a bulk
dispatch, does not undo the others. Flushes; the request boundary commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.rules import Action, Clock, FindingError
from services.core.findings.transitions import TransitionRequest, transition
from services.core.identity.principal import Principal
from services.core.models import Finding
from services.core.reference.snapshot import Reference


async def act(
    session: AsyncSession,
    finding_id: uuid.UUID,
    request: TransitionRequest,
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> Finding:
    """One transition, undone whole if refused (FindingError propagates)."""
    async with session.begin_nested():
        return await transition(session, finding_id, request, principal, clock, ref)


@dataclass(frozen=True)
class Outcome:
    finding_id: uuid.UUID
    unit: str | None
    # None when dispatched; otherwise why not.
    refusal: str | None


async def bulk_dispatch(
    session: AsyncSession,
    choices: Sequence[tuple[uuid.UUID, str | None, int | None]],
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> list[Outcome]:
    """Dispatch each (finding, unit code, expected version): every one stands alone, as the
    API's batch does; a finding changed since the desk showed it is refused (409)."""
    outcomes = []
    for finding_id, unit, version in choices:
        if not unit:
            outcomes.append(Outcome(finding_id, None, "No unit chosen."))
            continue
        request = TransitionRequest(action=Action.DISPATCH, unit=unit, expected_version=version)
        try:
            await act(session, finding_id, request, principal, clock, ref)
        except FindingError as exc:
            outcomes.append(Outcome(finding_id, unit, exc.message))
            continue
        outcomes.append(Outcome(finding_id, unit, None))
    return outcomes
