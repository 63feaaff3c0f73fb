"""The reference data every report needs — units and their boundaries, categories, routing
rules, escalation policies, calendar overrides — as one immutable in-memory snapshot per process.

Reading those tables costs more than storing the finding itself, and they change a few times
a day at most. A snapshot is tagged with `config_revision.revision`, which triggers bump on
any write to them (migration 0007); `ReferenceCache.current` compares the tag with the
database on every call and reloads when it moved, so a snapshot is never used once the
tables differ from it. Nothing here is scoped by caller: scope checks stay with the callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.rules import WorkingCalendar
from services.core.calendar.store import load_calendar
from services.core.escalation.plans import DEFAULT_POLICY, UnknownPolicy, policy_plan
from services.core.escalation.rules import Plan
from services.core.models import (
    Category,
    EscalationPolicy,
    RoutingRule,
    Unit,
    UnitBoundary,
)
from services.core.reference.places import Places, build_places
from services.core.reference.rules import Rule, ancestry, choose

DISTRICT = "district"


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    name: str
    kind: str
    path: str
    # The district the unit lies in (itself if it is one); None above district level.
    district_id: int | None


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    code: str
    name: str
    group: str
    kind: str
    clock: str
    time_limit: Mapping[str, Any]
    duplicate_radius_m: int
    policy_code: str | None
    active: bool
    # An urgent finding's limit (None: the normal one applies).
    urgent_time_limit: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RuleRow:
    category_id: int | None
    group: str | None
    responsible_unit_id: int | None


@dataclass(frozen=True)
class Reference:
    revision: int
    units: Mapping[int, UnitInfo]
    unit_codes: Mapping[str, UnitInfo]
    categories: Mapping[int, CategoryInfo]
    category_codes: Mapping[str, CategoryInfo]
    # Routing rules by their area unit.
    rules: Mapping[int, tuple[RuleRow, ...]]
    # Each policy's plan from its first level; built once per snapshot, as a report's plan
    # is read from it for every report.
    plans: Mapping[str, Plan]
    calendar: WorkingCalendar
    # The units' areas, for a report that names no unit (services/core/reference/places.py).
    places: Places

    def unit_at(self, lat: float, lon: float) -> UnitInfo | None:
        """The deepest unit whose boundary holds the point; None outside every boundary."""
        unit_id = self.places.unit_at(lat, lon)
        return self.units.get(unit_id) if unit_id is not None else None

    def route(self, category: CategoryInfo, place: UnitInfo) -> UnitInfo | None:
        """The responsible unit for a finding of this category at this place (DESIGN §3),
        by `services.core.reference.rules.choose`."""
        chain = ancestry(place.path)
        candidates = [
            Rule(area, row.category_id is not None, row.responsible_unit_id)
            for area in chain
            for row in self.rules.get(area, ())
            if row.category_id == category.id or row.group == category.group
        ]
        chosen = choose(candidates, chain, place.id)
        return self.units.get(chosen) if chosen is not None else None

    def plan(self, code: str | None, *, start_level: int = 1) -> Plan:
        plan = self.plans.get(code or DEFAULT_POLICY)
        if plan is None:
            raise UnknownPolicy(code or DEFAULT_POLICY)
        return plan if plan.start_level == start_level else replace(plan, start_level=start_level)


def _districts(units: Sequence[Unit]) -> dict[int, int | None]:
    kinds = {u.id: u.kind for u in units}
    out: dict[int, int | None] = {}
    for u in units:
        out[u.id] = next((i for i in ancestry(u.path) if kinds.get(i) == DISTRICT), None)
    return out


async def load_reference(session: AsyncSession, revision: int) -> Reference:
    """Read the reference tables whole (a few thousand rows at a city's scale). The caller
    read `revision` before calling, so the snapshot is at least as new as its tag."""
    units = list((await session.execute(select(Unit))).scalars())
    district = _districts(units)
    unit_infos = [UnitInfo(u.id, u.code, u.name, u.kind, u.path, district[u.id]) for u in units]
    categories = [
        CategoryInfo(
            c.id,
            c.code,
            c.name,
            c.group,
            c.kind,
            c.clock,
            MappingProxyType(dict(c.time_limit)),
            c.duplicate_radius_m,
            c.policy_code,
            c.active,
            MappingProxyType(dict(c.urgent_time_limit)) if c.urgent_time_limit else None,
        )
        for c in (await session.execute(select(Category))).scalars()
    ]
    rules: dict[int, list[RuleRow]] = {}
    for r in (await session.execute(select(RoutingRule))).scalars():
        rules.setdefault(r.area_unit_id, []).append(
            RuleRow(r.category_id, r.group, r.responsible_unit_id)
        )
    plans = {
        p.code: policy_plan(p.code, p.reminder_at, p.levels)
        for p in (await session.execute(select(EscalationPolicy))).scalars()
    }
    boundaries = await session.execute(select(UnitBoundary.unit_id, UnitBoundary.geometry))
    paths = {u.id: u.path for u in units}
    places = build_places(
        (unit_id, len(ancestry(paths[unit_id])), geometry)
        for unit_id, geometry in boundaries
        if unit_id in paths
    )
    return Reference(
        revision=revision,
        units=MappingProxyType({u.id: u for u in unit_infos}),
        unit_codes=MappingProxyType({u.code: u for u in unit_infos}),
        categories=MappingProxyType({c.id: c for c in categories}),
        category_codes=MappingProxyType({c.code: c for c in categories}),
        rules=MappingProxyType({k: tuple(v) for k, v in rules.items()}),
        plans=MappingProxyType(plans),
        calendar=await load_calendar(session),
        places=places,
    )


class ReferenceCache:
    """The latest snapshot of one database. One per engine: the tag is only meaningful for
    the database it was read from."""

    def __init__(self) -> None:
        self._snapshot: Reference | None = None

    def fresh(self, revision: int) -> Reference | None:
        """The snapshot if it is tagged `revision` (read from the database just now)."""
        snapshot = self._snapshot
        return snapshot if snapshot is not None and snapshot.revision == revision else None

    async def at(self, session: AsyncSession, revision: int) -> Reference:
        """The snapshot for `revision`, read from the database on `session` if this process
        does not hold it yet."""
        return self.fresh(revision) or await self.reload(session, revision)

    async def reload(self, session: AsyncSession, revision: int) -> Reference:
        snapshot = await load_reference(session, revision)
        self._snapshot = snapshot
        return snapshot
