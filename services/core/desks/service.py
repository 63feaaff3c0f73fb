"""The desks' use cases: one action on a finding, and bulk actions (the dispatcher's bulk
dispatch on the desk, and `POST /findings/bulk`: dispatch, transfer, approve, close invalid).
All go through the lifecycle's own `transition` (the same function the API's transitions
route calls), each inside a savepoint so a refused one leaves nothing behind and, in a bulk
action, does not undo the others. Flushes; the request boundary commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.rules import Action, Clock
from services.core.findings.transitions import TransitionRequest, transition
from services.core.identity.principal import Principal
from services.core.models import Finding
from services.core.platform.errors import DomainError
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
    # None when done; otherwise why not.
    refusal: str | None
    finding: Finding | None = None
    error: DomainError | None = None


async def bulk_act(
    session: AsyncSession,
    requests: Sequence[tuple[uuid.UUID, TransitionRequest]],
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> list[Outcome]:
    """One transition per (finding, request), in order, each standing alone: a refused one
    is answered with its reason and undoes nothing else."""
    outcomes = []
    for finding_id, request in requests:
        try:
            finding = await act(session, finding_id, request, principal, clock, ref)
        except DomainError as exc:
            outcomes.append(Outcome(finding_id, request.unit, exc.message, error=exc))
            continue
        outcomes.append(Outcome(finding_id, request.unit, None, finding=finding))
    return outcomes


async def bulk_dispatch(
    session: AsyncSession,
    choices: Sequence[tuple[uuid.UUID, str | None, int | None]],
    principal: Principal,
    clock: Clock,
    ref: Reference,
) -> list[Outcome]:
    """Dispatch each (finding, unit code, expected version): every one stands alone, as the
    API's batch does; a finding changed since the desk showed it is refused (409)."""
    requests = [
        (finding_id, TransitionRequest(action=Action.DISPATCH, unit=unit, expected_version=version))
        for finding_id, unit, version in choices
        if unit
    ]
    done = iter(await bulk_act(session, requests, principal, clock, ref))
    return [
        next(done) if unit else Outcome(finding_id, None, "No unit chosen.")
        for finding_id, unit, _ in choices
    ]
