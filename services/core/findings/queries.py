"""Read side of findings: filtered, scoped, keyset-paginated lists and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.queries import light_clause
from services.core.escalation.rules import Light
from services.core.identity.principal import Principal
from services.core.identity.scope import hidden_findings, links_of, visible_findings
from services.core.models import (
    CLOCK_RUNNING,
    Category,
    Event,
    Finding,
    FindingCoUnit,
    Status,
    Suspension,
    Unit,
    User,
)
from services.core.platform.errors import UnknownReference


@dataclass(frozen=True)
class FindingFilters:
    status: str | None = None
    source: str | None = None
    category: str | None = None
    unit: str | None = None
    district: str | None = None
    overdue: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    # True: only findings with a possible recurrence (one the caller may see) to decide.
    possible_recurrence: bool | None = None
    # Only findings whose traffic light is this now (README "The traffic light").
    light: Light | None = None


async def _unit(session: AsyncSession, code: str, field: str) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.code == code))).scalar_one_or_none()
    if unit is None:
        raise UnknownReference(field, code)
    return unit


def _possible_recurrence(principal: Principal, wanted: bool) -> ColumnElement[bool]:
    """Whether the finding has a possible recurrence the caller may see: one they may not is
    as good as none (its existence would tell them of a finding outside their scope)."""
    linked = Finding.possible_recurrence_of.is_not(None)
    if not principal.city_wide:
        visible = select(Finding.id).where(visible_findings(principal)).correlate(None)
        linked = Finding.possible_recurrence_of.in_(visible)
    return linked if wanted else ~linked | Finding.possible_recurrence_of.is_(None)


async def filter_clauses(
    session: AsyncSession, f: FindingFilters, now: datetime, principal: Principal
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.status:
        clauses.append(Finding.status == f.status)
    if f.source:
        clauses.append(Finding.source == f.source)
    if f.category:
        cat = (
            await session.execute(select(Category.id).where(Category.code == f.category))
        ).scalar_one_or_none()
        if cat is None:
            raise UnknownReference("category", f.category)
        clauses.append(Finding.category_id == cat)
    if f.unit:
        unit = await _unit(session, f.unit, "unit")
        subtree = select(Unit.id).where(Unit.path.startswith(unit.path, autoescape=True))
        clauses.append(Finding.responsible_unit_id.in_(subtree))
    if f.district:
        clauses.append(Finding.district_id == (await _unit(session, f.district, "district")).id)
    if f.overdue is not None:
        running = and_(Finding.status.in_(list(CLOCK_RUNNING)), Finding.due_at < now)
        clauses.append(running if f.overdue else ~running)
    if f.light is not None:
        clauses.append(light_clause(f.light, now))
    if f.since:
        clauses.append(Finding.reported_at >= f.since)
    if f.until:
        clauses.append(Finding.reported_at < f.until)
    if f.bbox:
        min_lon, min_lat, max_lon, max_lat = f.bbox
        clauses.append(Finding.lat.between(min_lat, max_lat))
        clauses.append(Finding.lon.between(min_lon, max_lon))
    if f.possible_recurrence is not None:
        clauses.append(_possible_recurrence(principal, f.possible_recurrence))
    return clauses


async def list_findings(
    session: AsyncSession,
    principal: Principal,
    filters: FindingFilters,
    *,
    now: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Finding]:
    """Newest first; `after` is the (reported_at, id) of the last row of the previous page."""
    stmt: Select[Finding] = select(Finding).where(
        visible_findings(principal), *await filter_clauses(session, filters, now, principal)
    )
    if after is not None:
        stmt = stmt.where(tuple_(Finding.reported_at, Finding.id) < tuple_(*after))
    stmt = stmt.order_by(Finding.reported_at.desc(), Finding.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


class Named(Protocol):
    """What a rendered finding shows of a unit or a category (an ORM row or a snapshot's)."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Refs:
    units: Mapping[int, Named]
    categories: Mapping[int, Named]
    usernames: Mapping[int, str]
    # Findings the page links to that the caller may not see: rendered as no link.
    hidden: frozenset[uuid.UUID] = frozenset()
    # Each finding's co-handling units (协办), by unit id.
    co_units: Mapping[uuid.UUID, Sequence[int]] = field(default_factory=dict)
    # The pending request to suspend or the running suspension of each finding that has one.
    suspensions: Mapping[uuid.UUID, Suspension] = field(default_factory=dict)

    def link(self, finding_id: uuid.UUID | None) -> uuid.UUID | None:
        return None if finding_id in self.hidden else finding_id


async def load_refs(
    session: AsyncSession, findings: Sequence[Finding], principal: Principal
) -> Refs:
    """The units, categories, users and co-handling units a page of findings names, in four
    queries, which findings it links to the caller may not see, in a fifth if any is linked,
    and the suspensions of those whose clock runs or stands, in a sixth if any."""
    co_units = await co_units_of(session, [f.id for f in findings])
    unit_ids: set[int] = {u for ids in co_units.values() for u in ids}
    for f in findings:
        unit_ids.update(u for u in (f.place_unit_id, f.responsible_unit_id, f.district_id) if u)
    units = await _by_id(session, Unit, unit_ids)
    categories = await _by_id(session, Category, {f.category_id for f in findings})
    user_ids = {f.reporter_id for f in findings}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    hidden = await hidden_findings(session, principal, links_of(findings))
    suspensions = await _suspensions(
        session, [f.id for f in findings if f.status in _MAY_BE_SUSPENDED]
    )
    return Refs(units, categories, {r.id: r.username for r in rows}, hidden, co_units, suspensions)


async def co_units_of(
    session: AsyncSession, finding_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """The co-handling units of each finding (by unit id, in the order they were added)."""
    if not finding_ids:
        return {}
    rows = await session.execute(
        select(FindingCoUnit.finding_id, FindingCoUnit.unit_id)
        .where(FindingCoUnit.finding_id.in_(list(finding_ids)))
        .order_by(FindingCoUnit.finding_id, FindingCoUnit.added_at, FindingCoUnit.unit_id)
    )
    out: dict[uuid.UUID, list[int]] = {}
    for finding_id, unit_id in rows:
        out.setdefault(finding_id, []).append(unit_id)
    return out


# Only these can have a pending request to suspend (assigned, accepted) or be suspended.
_MAY_BE_SUSPENDED = frozenset({*CLOCK_RUNNING, Status.SUSPENDED})


async def _suspensions(
    session: AsyncSession, finding_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Suspension]:
    if not finding_ids:
        return {}
    rows = await session.execute(
        select(Suspension).where(
            Suspension.finding_id.in_(finding_ids),
            Suspension.state.in_(("requested", "active")),
        )
    )
    return {row.finding_id: row for row in rows.scalars()}


T = TypeVar("T", Unit, Category)


async def _by_id(session: AsyncSession, model: type[T], ids: Iterable[int]) -> dict[int, T]:
    ids = list(ids)
    if not ids:
        return {}
    rows = (await session.execute(select(model).where(model.id.in_(ids)))).scalars()
    return {row.id: row for row in rows}


async def events_of(
    session: AsyncSession, finding_id: uuid.UUID, *, limit: int, after: int | None
) -> list[tuple[Event, str | None]]:
    stmt = (
        select(Event, User.username)
        .outerjoin(User, User.id == Event.actor_id)
        .where(Event.finding_id == finding_id)
    )
    if after is not None:
        stmt = stmt.where(Event.id > after)
    rows = await session.execute(stmt.order_by(Event.id).limit(limit))
    return [(event, username) for event, username in rows]


async def get_visible(
    session: AsyncSession, finding_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Finding | None:
    stmt = select(Finding).where(Finding.id == finding_id, visible_findings(principal))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class AuditRow:
    """One event of the audit export, with what the office reads beside it."""

    event: Event
    actor: str | None
    category_id: int
    district_id: int | None
    responsible_unit_id: int | None


def _audit_select(
    where: Sequence[ColumnElement[bool]],
) -> Select[Event, str, int, int | None, int | None]:
    return (
        select(
            Event,
            User.username,
            Finding.category_id,
            Finding.district_id,
            Finding.responsible_unit_id,
        )
        .join(Finding, Finding.id == Event.finding_id)
        .outerjoin(User, User.id == Event.actor_id)
        .where(*where)
    )


async def audit_clauses(
    session: AsyncSession, principal: Principal, filters: FindingFilters, now: datetime
) -> list[ColumnElement[bool]]:
    """The findings of the audit export: exactly those the list would show the caller."""
    return [visible_findings(principal), *await filter_clauses(session, filters, now, principal)]


async def count_audit_events(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], cap: int
) -> int:
    """How many events the export holds, counted no further than `cap`."""
    capped = select(Event.id).join(Finding, Finding.id == Event.finding_id).where(*where)
    sub = capped.limit(cap).subquery()
    return int((await session.execute(select(func.count()).select_from(sub))).scalar_one())


async def audit_events(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], *, after: int, limit: int
) -> list[AuditRow]:
    """The next `limit` events after event id `after`, in the order they were written."""
    stmt = _audit_select([*where, Event.id > after]).order_by(Event.id).limit(limit)
    return [AuditRow(*row) for row in await session.execute(stmt)]


async def open_suspension_of(session: AsyncSession, finding_id: uuid.UUID) -> Suspension | None:
    """The finding's pending request to suspend or its running suspension (at most one)."""
    return (await _suspensions(session, [finding_id])).get(finding_id)


async def accept_within_of(session: AsyncSession, category_id: int) -> dict[str, Any] | None:
    """The category's sign-for deadline (签收时限), if it has one."""
    found = await session.scalar(select(Category.accept_within).where(Category.id == category_id))
    return dict(found) if found else None
