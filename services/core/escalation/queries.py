"""Read side of escalations: the caller's scope in SQL, filters, newest-first keyset pages.

Scope (DESIGN §7): supervisors, admins and members of city-wide units see every escalation;
a leader sees those addressed to them (target_person_id = their person); everyone else sees
those whose responsible unit lies in their subtree. The district and responsible unit are
denormalised onto the escalation so none of this needs the findings table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, String, false, literal_column, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.escalation.rules import Light
from services.core.escalation.rules import light as light_at
from services.core.identity.principal import Principal
from services.core.models import CLOCK_RUNNING, Category, Escalation, Finding, Unit, User
from services.core.platform.errors import UnknownReference

ESCALATION_STATUSES = ("open", "acknowledged", "resolved")
LIGHTS = tuple(Light)

# The statuses whose clock runs, inlined rather than bound: the planner matches them against
# the predicate of ix_findings_light (a bound parameter proves nothing about a generic plan).
_RUNNING_STATUSES = ("assigned", "accepted")
assert set(_RUNNING_STATUSES) == set(CLOCK_RUNNING)  # noqa: S101 - keep the two in step
CLOCK_RUNS: ColumnElement[bool] = Finding.status.in_(
    [literal_column(f"'{s}'", String()) for s in _RUNNING_STATUSES]
)


def light_clause(colour: Light, now: datetime) -> ColumnElement[bool]:
    """The findings whose traffic light is `colour` at `now`: the SQL of
    services.core.escalation.rules `light`, over the stored `yellow_at` (migration 0019)."""
    if colour is Light.RED:
        return CLOCK_RUNS & (Finding.due_at < now)
    if colour is Light.YELLOW:
        return CLOCK_RUNS & (Finding.yellow_at <= now) & (Finding.due_at >= now)
    return CLOCK_RUNS & (Finding.yellow_at > now)


@dataclass(frozen=True)
class EscalationFilters:
    district: str | None = None
    unit: str | None = None
    level: int | None = None
    status: str | None = None
    source: str | None = None
    target_person: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    # The traffic light of the escalation's finding now.
    light: Light | None = None


def _subtree(path: str) -> Select[int]:
    return select(Unit.id).where(Unit.path.startswith(path, autoescape=True))


def visible_escalations(principal: Principal) -> ColumnElement[bool]:
    # A leader's view is what is addressed to them, even when their unit is the city.
    if principal.role == "leader":
        if principal.person_id is None:
            return false()
        return Escalation.target_person_id == principal.person_id
    if principal.city_wide:
        return true()
    return Escalation.responsible_unit_id.in_(_subtree(principal.unit_path))


def status_of(e: Escalation) -> str:
    if e.resolved_at is not None:
        return "resolved"
    if e.acknowledged_at is not None:
        return "acknowledged"
    return "open"


def _status_clause(status: str) -> ColumnElement[bool]:
    if status == "resolved":
        return Escalation.resolved_at.is_not(None)
    resolved = Escalation.resolved_at.is_(None)
    if status == "acknowledged":
        return Escalation.acknowledged_at.is_not(None) & resolved
    return Escalation.acknowledged_at.is_(None) & resolved


async def _unit(session: AsyncSession, code: str, field: str) -> Unit:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise UnknownReference(field, code)
    return unit


async def filter_clauses(
    session: AsyncSession, f: EscalationFilters, *, now: datetime | None = None
) -> list[ColumnElement[bool]]:
    """The filters as SQL; an unknown unit code raises UnknownReference naming the field. The
    light filter needs `now`, the instant the lights are read at."""
    clauses: list[ColumnElement[bool]] = []
    if f.light is not None:
        if now is None:
            raise ValueError("the light filter needs now")
        lit = select(Finding.id).where(
            Finding.id == Escalation.finding_id, light_clause(f.light, now)
        )
        clauses.append(lit.exists())
    if f.district is not None:
        clauses.append(Escalation.district_id == (await _unit(session, f.district, "district")).id)
    if f.unit is not None:
        unit = await _unit(session, f.unit, "unit")
        clauses.append(Escalation.responsible_unit_id.in_(_subtree(unit.path)))
    if f.level is not None:
        clauses.append(Escalation.level == f.level)
    if f.status is not None:
        clauses.append(_status_clause(f.status))
    if f.source is not None:
        clauses.append(Escalation.source == f.source)
    if f.target_person is not None:
        clauses.append(Escalation.target_person_id == f.target_person)
    if f.since is not None:
        clauses.append(Escalation.fired_at >= f.since)
    if f.until is not None:
        clauses.append(Escalation.fired_at < f.until)
    return clauses


Key = tuple[datetime, int]  # (fired_at, id) of the last row of the previous page


def page_ids(
    principal: Principal, clauses: list[ColumnElement[bool]], *, after: Key | None, limit: int
) -> Select[int]:
    """The ids of one page, newest first: the part the indexes must serve."""
    stmt = select(Escalation.id).where(visible_escalations(principal), *clauses)
    if after is not None:
        stmt = stmt.where(tuple_(Escalation.fired_at, Escalation.id) < tuple_(*after))
    return stmt.order_by(Escalation.fired_at.desc(), Escalation.id.desc()).limit(limit)


@dataclass(frozen=True)
class EscalationRow:
    escalation: Escalation
    finding_status: str
    finding_description: str
    finding_due_at: datetime | None
    finding_yellow_at: datetime | None
    category_code: str
    category_name: str
    responsible_code: str | None
    responsible_name: str | None
    target_unit_code: str
    district_code: str | None
    district_name: str | None
    acknowledged_by: str | None

    @property
    def key(self) -> Key:
        return (self.escalation.fired_at, self.escalation.id)

    def light(self, now: datetime) -> Light | None:
        """The traffic light of the escalation's finding at `now`."""
        return light_at(self.finding_status, self.finding_due_at, self.finding_yellow_at, now)


_Responsible = aliased(Unit)
_Target = aliased(Unit)
_District = aliased(Unit)


async def list_escalations(
    session: AsyncSession,
    principal: Principal,
    clauses: list[ColumnElement[bool]],
    *,
    after: Key | None,
    limit: int,
) -> list[EscalationRow]:
    """One page with what each row names (finding, category, units, acknowledger)."""
    return await _named(session, page_ids(principal, clauses, after=after, limit=limit))


async def linked_escalations(session: AsyncSession, ids: list[int]) -> list[EscalationRow]:
    """The escalations a signed link in a message names, newest first. No caller's scope:
    the link itself is the authority (services/core/notify/links.py), and it names these."""
    chosen = (
        select(Escalation.id)
        .where(Escalation.id.in_(ids))
        .order_by(Escalation.fired_at.desc(), Escalation.id.desc())
    )
    return await _named(session, chosen)


async def _named(session: AsyncSession, page: Select[int]) -> list[EscalationRow]:
    ids = page.subquery()
    stmt = (
        select(
            Escalation,
            Finding.status,
            Finding.description,
            Finding.due_at,
            Finding.yellow_at,
            Category.code,
            Category.name,
            _Responsible.code,
            _Responsible.name,
            _Target.code,
            _District.code,
            _District.name,
            User.username,
        )
        .join(ids, ids.c.id == Escalation.id)
        .join(Finding, Finding.id == Escalation.finding_id)
        .join(Category, Category.id == Finding.category_id)
        .join(_Target, _Target.id == Escalation.target_unit_id)
        .outerjoin(_Responsible, _Responsible.id == Escalation.responsible_unit_id)
        .outerjoin(_District, _District.id == Escalation.district_id)
        .outerjoin(User, User.id == Escalation.acknowledged_by_id)
        .order_by(Escalation.fired_at.desc(), Escalation.id.desc())
    )
    # The columns are selected in the order of EscalationRow's fields.
    return [EscalationRow(*tuple(r)) for r in await session.execute(stmt)]


async def one_escalation(
    session: AsyncSession, principal: Principal, escalation_id: int
) -> EscalationRow | None:
    rows = await list_escalations(
        session, principal, [Escalation.id == escalation_id], after=None, limit=1
    )
    return rows[0] if rows else None
