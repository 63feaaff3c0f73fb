"""The campaign instruments' use cases: inspection plans and their tasks. Every use case takes
a session, flushes and never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.rules import Clock
from services.core.inspection import store
from services.core.inspection.rules import windows
from services.core.models import CriteriaSet, InspectionPlan, PointType, Unit, User
from services.core.platform.errors import Conflict, InvalidInput

# A plan longer than this is a typo (and would write millions of tasks).
MAX_PLAN_DAYS = 366


@dataclass(frozen=True)
class NewPlan:
    code: str
    name: str
    kind: str
    criteria_set: str
    starts_on: date
    ends_on: date
    units: list[str]
    frequencies: dict[str, str]
    assignees: list[str]


@dataclass(frozen=True)
class PlanOutcome:
    plan: InspectionPlan
    created: bool
    tasks: int


def _same(plan: InspectionPlan, new: NewPlan, set_id: int) -> bool:
    return (
        plan.name == new.name
        and plan.kind == new.kind
        and plan.criteria_set_id == set_id
        and plan.starts_on == new.starts_on
        and plan.ends_on == new.ends_on
        and plan.units == new.units
        and plan.frequencies == new.frequencies
        and plan.assignees == new.assignees
    )


async def _check(
    session: AsyncSession, new: NewPlan
) -> tuple[int, dict[str, Unit], dict[str, int], dict[str, int]]:
    errors: list[tuple[str, str]] = []
    set_id = await session.scalar(
        select(CriteriaSet.id).where(CriteriaSet.code == new.criteria_set)
    )
    if set_id is None:
        errors.append(("criteria_set", f"no criteria set {new.criteria_set!r}"))
    if new.ends_on < new.starts_on:
        errors.append(("ends_on", "must not be before starts_on"))
    elif (new.ends_on - new.starts_on).days >= MAX_PLAN_DAYS:
        errors.append(("ends_on", f"a plan spans at most {MAX_PLAN_DAYS} days"))
    units = {u.code: u for u in await session.scalars(select(Unit).where(Unit.code.in_(new.units)))}
    errors += [(f"units[{i}]", f"no unit {c!r}") for i, c in enumerate(new.units) if c not in units]
    types = {
        str(c): int(i)
        for c, i in await session.execute(
            select(PointType.code, PointType.id).where(PointType.code.in_(new.frequencies))
        )
    }
    errors += [
        (f"frequencies.{c}", f"no point type {c!r}") for c in new.frequencies if c not in types
    ]
    users = {
        str(n): (int(i), str(r))
        for n, i, r in await session.execute(
            select(User.username, User.id, User.role).where(User.username.in_(new.assignees))
        )
    }
    for i, name in enumerate(new.assignees):
        if name not in users:
            errors.append((f"assignees[{i}]", f"no user {name!r}"))
        elif users[name][1] != "inspector":
            errors.append((f"assignees[{i}]", f"{name!r} is not an inspector"))
    if errors:
        raise InvalidInput(errors)
    assert set_id is not None  # noqa: S101 - refused above otherwise
    return set_id, units, types, {n: users[n][0] for n in new.assignees}


async def create_plan(
    session: AsyncSession, new: NewPlan, creator_id: int | None, clock: Clock
) -> PlanOutcome:
    """Store the plan and generate its tasks; the same plan again (same code and terms) is a
    replay that changes nothing, another plan under a taken code a 409."""
    set_id, units, types, assignees = await _check(session, new)
    existing = await session.scalar(select(InspectionPlan).where(InspectionPlan.code == new.code))
    if existing is not None:
        if not _same(existing, new, set_id):
            raise Conflict(f"The plan code {new.code!r} is taken by another plan.")
        return PlanOutcome(existing, False, 0)
    plan = InspectionPlan(
        code=new.code,
        name=new.name,
        kind=new.kind,
        criteria_set_id=set_id,
        starts_on=new.starts_on,
        ends_on=new.ends_on,
        units=new.units,
        frequencies=new.frequencies,
        assignees=new.assignees,
        created_by_id=creator_id,
        created_at=clock.now,
    )
    session.add(plan)
    await session.flush()
    tasks = await generate(session, plan, clock, units, types, assignees)
    return PlanOutcome(plan, True, tasks)


async def generate(
    session: AsyncSession,
    plan: InspectionPlan,
    clock: Clock,
    units: dict[str, Unit],
    types: dict[str, int],
    assignees: dict[str, int],
) -> int:
    """The plan's tasks for every point in scope (again: only what is missing, e.g. for points
    imported since)."""
    city = clock.city
    total = 0
    for type_code, frequency in plan.frequencies.items():
        # A one-off survey (摸底排查) is one window over the whole period, whatever is written.
        how_often = "once" if plan.kind == "survey" else frequency
        cut = windows(how_often, plan.starts_on, plan.ends_on, city.calendar, city.tz,
                      city.end_of_day)  # fmt: skip
        total += await store.generate_tasks(
            session,
            plan.id,
            types[type_code],
            cut,
            [assignees[n] for n in plan.assignees],
            [units[c].path for c in plan.units],
        )
    return total
