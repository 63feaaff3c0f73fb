"""A page of a phone's sync: the rows written since its last sync that it may see, then those
that left its view, `limit` at a time; the token for the next page or, after the last page,
for the next sync."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.queries import FindingFilters
from services.core.identity.principal import Principal
from services.core.inspection.queries import InspectionRow, TaskRow
from services.core.models import Finding
from services.core.sync import queries
from services.core.sync.rules import Snapshot, Token

# Why a phone should drop a row: closed as invalid or a duplicate (withdrawn, not done), no
# longer matching the filters it syncs with, or out of its scope (moved to another unit).
REMOVED_CLOSE_REASONS = frozenset({"invalid", "duplicate"})

R = TypeVar("R")
K = TypeVar("K")


@dataclass
class SyncPage(Generic[R, K]):
    changed: list[R] = field(default_factory=list)
    removed: list[tuple[K, str]] = field(default_factory=list)
    next_page: Token | None = None  # more of this sync
    next_sync: Token | None = None  # after the last page: where the next sync starts


async def _page(
    session: AsyncSession,
    token: Token,
    limit: int,
    changed: Callable[[Token, Snapshot, int], Awaitable[Sequence[R]]],
    position: Callable[[R], tuple[int, str]],
    departed: Callable[[Token, Snapshot, int], Awaitable[Sequence[tuple[int, K]]]],
) -> SyncPage[R, K]:
    bound = token.bound or await queries.current_snapshot(session)
    token = Token(token.since, bound, token.at)
    rows = list(await changed(token, bound, limit + 1))
    if len(rows) > limit:
        rows = rows[:limit]
        xid, key = position(rows[-1])
        return SyncPage(rows, [], Token(token.since, bound, (0, xid, key)))
    gone = list(await departed(token, bound, limit - len(rows) + 1))
    page = SyncPage[R, K](rows, [(key, "out_of_scope") for _, key in gone])
    if len(rows) + len(gone) > limit:
        page.removed = page.removed[: limit - len(rows)]
        last_xid, last_key = gone[len(page.removed) - 1]
        page.next_page = Token(token.since, bound, (1, last_xid, str(last_key)))
    else:
        page.next_sync = token.next_sync()
    return page


@dataclass
class FindingSync:
    changed: list[Finding]
    removed: list[tuple[uuid.UUID, str]]
    next_page: Token | None
    next_sync: Token | None


async def findings_page(
    session: AsyncSession,
    principal: Principal,
    filters: FindingFilters,
    now: datetime,
    token: Token,
    limit: int,
) -> FindingSync:
    """Changed findings the caller sees and that match the filters; as removed, those closed
    invalid or duplicate, those that no longer match, those out of the caller's scope."""

    async def changed(t: Token, bound: Snapshot, n: int) -> list[queries.ChangedFinding]:
        return await queries.changed_findings(session, principal, filters, now, t, bound, n)

    async def departed(t: Token, bound: Snapshot, n: int) -> list[tuple[int, uuid.UUID]]:
        return await queries.departed_findings(session, principal, t, bound, n)

    page = await _page(
        session,
        token,
        limit,
        changed,
        lambda c: (c.finding.change_xid, str(c.finding.id)),
        departed,
    )
    kept: list[Finding] = []
    removed: list[tuple[uuid.UUID, str]] = []
    for c in page.changed:
        f = c.finding
        if f.close_reason in REMOVED_CLOSE_REASONS:
            removed.append((f.id, f"closed_{f.close_reason}"))
        elif not c.matches:
            removed.append((f.id, "filtered_out"))
        else:
            kept.append(f)
    return FindingSync(kept, removed + page.removed, page.next_page, page.next_sync)


async def tasks_page(
    session: AsyncSession, principal: Principal, token: Token, limit: int
) -> SyncPage[TaskRow, int]:
    async def changed(t: Token, bound: Snapshot, n: int) -> list[TaskRow]:
        return await queries.changed_tasks(session, principal, t, bound, n)

    async def departed(t: Token, bound: Snapshot, n: int) -> list[tuple[int, int]]:
        return await queries.departed_tasks(session, principal, t, bound, n)

    return await _page(
        session, token, limit, changed, lambda r: (r.task.change_xid, str(r.task.id)), departed
    )


async def inspections_page(
    session: AsyncSession, principal: Principal, token: Token, limit: int
) -> SyncPage[InspectionRow, uuid.UUID]:
    async def changed(t: Token, bound: Snapshot, n: int) -> list[InspectionRow]:
        return await queries.changed_inspections(session, principal, t, bound, n)

    async def departed(t: Token, bound: Snapshot, n: int) -> list[tuple[int, uuid.UUID]]:
        return []

    return await _page(
        session,
        token,
        limit,
        changed,
        lambda r: (r.inspection.change_xid, str(r.inspection.id)),
        departed,
    )
