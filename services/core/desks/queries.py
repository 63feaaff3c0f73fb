"""The desks' reads, each filtered by the caller's scope in SQL: the dispatch queue and the
extension requests, the duplicate candidates near a report, the submissions waiting for a
verifier, the escalations addressed to a leader."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.desks.rules import distance_m, outline
from services.core.escalation.queries import EscalationRow, list_escalations
from services.core.findings.spatial import box
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import (
    OPEN,
    Category,
    Escalation,
    Event,
    Finding,
    Status,
    Suspension,
    Unit,
    UnitBoundary,
)

DESK_ROWS = 200
CANDIDATES = 5


async def dispatch_queue(session: AsyncSession, principal: Principal) -> list[Finding]:
    """Reports no unit holds (none found, or returned by the unit), oldest first."""
    stmt = (
        select(Finding)
        .where(Finding.status == Status.REPORTED.value, visible_findings(principal))
        .order_by(Finding.reported_at, Finding.id)
        .limit(DESK_ROWS)
    )
    return list((await session.execute(stmt)).scalars())


async def extension_requests(session: AsyncSession, principal: Principal) -> list[Finding]:
    """Findings whose unit asked for more time, the current deadline soonest first."""
    stmt = (
        select(Finding)
        .where(Finding.extension_requested_until.is_not(None), visible_findings(principal))
        .order_by(Finding.due_at.asc().nulls_last(), Finding.id)
        .limit(DESK_ROWS)
    )
    return list((await session.execute(stmt)).scalars())


async def return_requests(session: AsyncSession, principal: Principal) -> list[Finding]:
    """Findings whose unit asked to return them (回退), the oldest request first."""
    stmt = (
        select(Finding)
        .where(Finding.return_requested_at.is_not(None), visible_findings(principal))
        .order_by(Finding.return_requested_at, Finding.id)
        .limit(DESK_ROWS)
    )
    return list((await session.execute(stmt)).scalars())


async def possible_recurrences(session: AsyncSession, principal: Principal) -> list[Finding]:
    """Findings with a possible recurrence to decide (the earlier finding visible to the
    caller: the dispatcher's desk links to it)."""
    visible = select(Finding.id).where(visible_findings(principal)).correlate(None)
    stmt = (
        select(Finding)
        .where(
            Finding.possible_recurrence_of.in_(visible),
            Finding.status.in_([s.value for s in OPEN]),
            visible_findings(principal),
        )
        .order_by(Finding.reported_at, Finding.id)
        .limit(DESK_ROWS)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class QueueReason:
    """Why a report waits: returned by a unit (with its note), or not placed (the reason the
    intake recorded)."""

    returned_by: str | None
    note: str | None
    located: str | None


async def queue_reasons(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, QueueReason]:
    """The latest report or approved return event of each finding."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Event.finding_id, Event.action, Event.payload)
        .where(Event.finding_id.in_(list(ids)), Event.action.in_(("report", "approve_return")))
        .order_by(Event.finding_id, Event.id.desc())
        .ext(distinct_on(Event.finding_id))
    )
    out: dict[uuid.UUID, QueueReason] = {}
    for finding_id, action, payload in rows:
        p: dict[str, Any] = payload or {}
        if action == "approve_return":
            # The unit's reason for asking, as the dispatcher approved it.
            out[finding_id] = QueueReason(p.get("returned_by_unit"), p.get("reason"), None)
        else:
            located = p.get("located") or {}
            out[finding_id] = QueueReason(None, None, located.get("reason"))
    return out


async def return_reasons(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The unit's reason for each pending return request (its latest `return` event)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Event.finding_id, Event.payload["note"].astext)
        .where(Event.finding_id.in_(list(ids)), Event.action == "return")
        .order_by(Event.finding_id, Event.id.desc())
        .ext(distinct_on(Event.finding_id))
    )
    return {finding_id: note for finding_id, note in rows.all()}  # noqa: C416 - rows, not pairs


async def duplicate_candidates(
    session: AsyncSession, principal: Principal, findings: Sequence[Finding]
) -> dict[uuid.UUID, list[Finding]]:
    """For each finding, the open findings of its category within the category's radius
    that the caller may see (nearest first, at most CANDIDATES): what "mark duplicate"
    offers. One query per finding over the index of open findings by place."""
    if not findings:
        return {}
    radii = dict(
        (
            await session.execute(
                select(Category.id, Category.duplicate_radius_m).where(
                    Category.id.in_({f.category_id for f in findings})
                )
            )
        ).all()
    )
    out: dict[uuid.UUID, list[Finding]] = {}
    for f in findings:
        radius = radii.get(f.category_id, 30)
        lat_lo, lat_hi, lon_lo, lon_hi = box(f.lat, f.lon, radius)
        near = (
            await session.execute(
                select(Finding)
                .where(
                    Finding.id != f.id,
                    Finding.category_id == f.category_id,
                    Finding.status.in_([s.value for s in OPEN]),
                    Finding.lat.between(lat_lo, lat_hi),
                    Finding.lon.between(lon_lo, lon_hi),
                    visible_findings(principal),
                )
                .order_by(Finding.reported_at)
            )
        ).scalars()
        within = [n for n in near if distance_m(f.lat, f.lon, n.lat, n.lon) <= radius]
        within.sort(key=lambda n: distance_m(f.lat, f.lon, n.lat, n.lon))
        out[f.id] = within[:CANDIDATES]
    return out


async def verification_queue(session: AsyncSession, principal: Principal) -> list[Finding]:
    """Submissions waiting for a verifier, the longest waiting first."""
    stmt = (
        select(Finding)
        .where(Finding.status == Status.SUBMITTED.value, visible_findings(principal))
        .order_by(Finding.submitted_at.asc().nulls_first(), Finding.id)
        .limit(DESK_ROWS)
    )
    return list((await session.execute(stmt)).scalars())


async def my_escalations(session: AsyncSession, principal: Principal) -> list[EscalationRow]:
    """The escalations addressed to the caller (as a person), the highest level first, then
    the oldest; resolved ones (the finding rectified) are left out."""
    if principal.person_id is None:
        return []
    rows = await list_escalations(
        session,
        principal,
        [
            Escalation.target_person_id == principal.person_id,
            Escalation.resolved_at.is_(None),
        ],
        after=None,
        limit=DESK_ROWS,
    )
    return sorted(rows, key=lambda r: (-r.escalation.level, r.escalation.fired_at))


async def events_after(
    session: AsyncSession, finding_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, Any]]]:
    """Each finding's lifecycle events (action, time), oldest first: the leader's desk shows
    what happened after each 批示."""
    if not finding_ids:
        return {}
    rows = await session.execute(
        select(Event.finding_id, Event.action, Event.at)
        .where(Event.finding_id.in_(list(finding_ids)))
        .order_by(Event.id)
    )
    out: dict[uuid.UUID, list[tuple[str, Any]]] = {}
    for finding_id, action, at in rows:
        out.setdefault(finding_id, []).append((action, at))
    return out


@dataclass(frozen=True)
class Boundary:
    code: str
    name: str
    kind: str
    # How deep the unit sits in the tree: the phone places a position in the deepest.
    depth: int
    rings: list[list[list[float]]]


async def boundaries_in_scope(session: AsyncSession, principal: Principal) -> list[Boundary]:
    """The imported boundaries of the units in the caller's subtree (the whole city for a
    city-wide caller), outlined for the phone's map."""
    stmt = select(Unit.code, Unit.name, Unit.kind, Unit.path, UnitBoundary.geometry).join(
        UnitBoundary, UnitBoundary.unit_id == Unit.id
    )
    if not principal.city_wide:
        stmt = stmt.where(Unit.path.startswith(principal.unit_path, autoescape=True))
    rows = await session.execute(stmt.order_by(Unit.path))
    return [
        Boundary(code, name, kind, path.strip("/").count("/") + 1, outline(geometry))
        for code, name, kind, path, geometry in rows
    ]


async def active_categories(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(code, name, group) of every category a report may name, by group and code."""
    rows = await session.execute(
        select(Category.code, Category.name, Category.group)
        .where(Category.active.is_(True))
        .order_by(Category.group, Category.code)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def suspensions_in(
    session: AsyncSession, principal: Principal, state: str
) -> list[tuple[Finding, Suspension]]:
    """Requests to suspend waiting for the office (`requested`, the oldest first), or the
    running suspensions (`active`, the soonest to resume first)."""
    order = Suspension.requested_at if state == "requested" else Suspension.expected_until
    stmt = (
        select(Finding, Suspension)
        .join(Suspension, Suspension.finding_id == Finding.id)
        .where(Suspension.state == state, visible_findings(principal))
        .order_by(order, Suspension.id)
        .limit(DESK_ROWS)
    )
    return [(f, s) for f, s in await session.execute(stmt)]
