"""The reads of a phone's sync: the rows of findings, inspection tasks and inspections written
inside a sync's window (services/core/sync/rules.py) that the caller may see, and those that
left the caller's view in it. Every read is filtered by the caller's scope in SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.core.findings.queries import FindingFilters, filter_clauses
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.inspection.queries import (
    InspectionRow,
    TaskRow,
    inspection_rows,
    task_rows,
    visible_inspections,
    visible_tasks,
)
from services.core.models import Finding, Inspection, InspectionTask, SyncDeparture, Unit
from services.core.platform.errors import InvalidInput
from services.core.sync.rules import MAX_XID, Snapshot, Token


def _seen_in(xid: Any, snapshot: Snapshot) -> ColumnElement[bool]:
    """The rule of `Snapshot.sees` on the column, in plain bigint comparisons (what
    pg_visible_in_snapshot does, without a snapshot value the database would have to parse)."""
    return or_(xid < snapshot.xmin, and_(xid < snapshot.xmax, xid.not_in(snapshot.xip)))


async def current_snapshot(session: AsyncSession) -> Snapshot:
    """The transactions committed as of now (and so visible to every later statement)."""
    raw = (await session.execute(text("SELECT pg_current_snapshot()::text"))).scalar_one()
    xmin, xmax, xip = str(raw).split(":")
    return Snapshot(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))


def window(
    xid: InstrumentedAttribute[int],
    changed_at: InstrumentedAttribute[datetime],
    token: Token,
    bound: Snapshot,
) -> list[ColumnElement[bool]]:
    """Written after the token's snapshot (or at or after its time) and committed in
    `bound`; a row written again after `bound` waits for the next sync."""
    clauses: list[ColumnElement[bool]] = []
    if isinstance(token.since, Snapshot):
        clauses += [xid >= token.since.xmin, ~_seen_in(xid, token.since)]
    else:
        clauses.append(changed_at >= token.since)
    clauses += [xid < bound.xmax, _seen_in(xid, bound)]
    return clauses


def _after(token: Token, phase: int, xid: Any, key: Any, parse: type) -> list[ColumnElement[bool]]:
    if token.at is None or token.at[0] != phase:
        return []
    try:
        parsed = parse(token.at[2])
    except ValueError as exc:  # a position of another list's rows
        raise InvalidInput([("cursor", "not a next_cursor this sync issued")]) from exc
    if isinstance(parsed, int) and not 0 < parsed <= MAX_XID:
        raise InvalidInput([("cursor", "not a next_cursor this sync issued")])
    # Typed as the columns: a key past 32 bits must not be sent as an int4.
    at_xid, at_key = literal(token.at[1], BigInteger), literal(parsed, key.type)
    return [tuple_(xid, key) > tuple_(at_xid, at_key)]


def _subtree(principal: Principal) -> Any:
    return select(Unit.id).where(Unit.path.startswith(principal.unit_path, autoescape=True))


# ---- findings ----


@dataclass(frozen=True)
class ChangedFinding:
    finding: Finding
    matches: bool  # still matches the filters the phone syncs with


async def changed_findings(
    session: AsyncSession,
    principal: Principal,
    filters: FindingFilters,
    now: datetime,
    token: Token,
    bound: Snapshot,
    limit: int,
) -> list[ChangedFinding]:
    """The findings the caller sees that were written in the window, in (change_xid, id)
    order; with whether each still matches the filters."""
    if token.at is not None and token.at[0] > 0:
        return []
    match = await filter_clauses(session, filters, now, principal)
    matches = and_(true(), *match).label("matches")
    stmt = (
        select(Finding, matches)
        .where(
            visible_findings(principal),
            *window(Finding.change_xid, Finding.changed_at, token, bound),
            *_after(token, 0, Finding.change_xid, Finding.id, uuid.UUID),
        )
        .order_by(Finding.change_xid, Finding.id)
        .limit(limit)
    )
    return [ChangedFinding(f, bool(m)) for f, m in await session.execute(stmt)]


async def departed_findings(
    session: AsyncSession, principal: Principal, token: Token, bound: Snapshot, limit: int
) -> list[tuple[int, uuid.UUID]]:
    """(change_xid, id) of the findings that left a unit of the caller's subtree in the
    window and that the caller can no longer see."""
    if principal.city_wide:
        return []
    xid = func.max(SyncDeparture.change_xid)
    still_seen = exists(
        select(Finding.id).where(
            Finding.id == SyncDeparture.finding_id, visible_findings(principal)
        )
    )
    stmt = (
        select(xid, SyncDeparture.finding_id)
        .where(
            SyncDeparture.finding_id.is_not(None),
            SyncDeparture.unit_id.in_(_subtree(principal)),
            *window(SyncDeparture.change_xid, SyncDeparture.at, token, bound),
            ~still_seen,
        )
        .group_by(SyncDeparture.finding_id)
        .having(and_(true(), *_after(token, 1, xid, SyncDeparture.finding_id, uuid.UUID)))
        .order_by(xid, SyncDeparture.finding_id)
        .limit(limit)
    )
    return [(int(x), f) for x, f in await session.execute(stmt) if f is not None]


# ---- inspection tasks and inspections ----


async def changed_tasks(
    session: AsyncSession, principal: Principal, token: Token, bound: Snapshot, limit: int
) -> list[TaskRow]:
    if token.at is not None and token.at[0] > 0:
        return []
    stmt = (
        task_rows()
        .where(
            visible_tasks(principal),
            *window(InspectionTask.change_xid, InspectionTask.changed_at, token, bound),
            *_after(token, 0, InspectionTask.change_xid, InspectionTask.id, int),
        )
        .order_by(InspectionTask.change_xid, InspectionTask.id)
        .limit(limit)
    )
    return [TaskRow(*r) for r in await session.execute(stmt)]


async def departed_tasks(
    session: AsyncSession, principal: Principal, token: Token, bound: Snapshot, limit: int
) -> list[tuple[int, int]]:
    """(change_xid, id) of the tasks taken from the caller in the window that the caller can
    no longer see."""
    xid = func.max(SyncDeparture.change_xid)
    still_seen = exists(
        select(InspectionTask.id).where(
            InspectionTask.id == SyncDeparture.task_id, visible_tasks(principal)
        )
    )
    stmt = (
        select(xid, SyncDeparture.task_id)
        .where(
            SyncDeparture.task_id.is_not(None),
            SyncDeparture.user_id == principal.user_id,
            *window(SyncDeparture.change_xid, SyncDeparture.at, token, bound),
            ~still_seen,
        )
        .group_by(SyncDeparture.task_id)
        .having(and_(true(), *_after(token, 1, xid, SyncDeparture.task_id, int)))
        .order_by(xid, SyncDeparture.task_id)
        .limit(limit)
    )
    return [(int(x), t) for x, t in await session.execute(stmt) if t is not None]


async def changed_inspections(
    session: AsyncSession, principal: Principal, token: Token, bound: Snapshot, limit: int
) -> list[InspectionRow]:
    """Inspections never leave their inspector's or their point's view: changes only."""
    stmt = (
        inspection_rows()
        .where(
            visible_inspections(principal),
            *window(Inspection.change_xid, Inspection.changed_at, token, bound),
            *_after(token, 0, Inspection.change_xid, Inspection.id, uuid.UUID),
        )
        .order_by(Inspection.change_xid, Inspection.id)
        .limit(limit)
    )
    return [InspectionRow(*r) for r in await session.execute(stmt)]
