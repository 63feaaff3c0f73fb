"""Reads of the campaign instruments, every one filtered by the caller's scope in SQL: the
evaluation points, the criteria, the tasks, the inspections, coverage and blind spots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.identity.principal import Principal
from services.core.inspection.rules import blind_since, coverage
from services.core.models import (
    CriteriaSet,
    Criterion,
    EvaluationPoint,
    Inspection,
    InspectionPlan,
    InspectionResult,
    InspectionTask,
    PointType,
    Unit,
    User,
)
from services.core.platform.errors import NotFound, invalid


def _subtree(path: str) -> Select[int]:
    return select(Unit.id).where(Unit.path.startswith(path, autoescape=True))


def visible_points(principal: Principal) -> ColumnElement[bool]:
    """A point is visible to a caller whose subtree holds its place or its responsible unit;
    city-wide callers see every point."""
    if principal.city_wide:
        return true()
    subtree = _subtree(principal.unit_path)
    return or_(
        EvaluationPoint.place_unit_id.in_(subtree),
        EvaluationPoint.responsible_unit_id.in_(subtree),
    )


async def unit_by_code(session: AsyncSession, code: str, field: str) -> Unit:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise invalid(field, f"no unit with code {code!r}")
    return unit


async def point_type_by_code(session: AsyncSession, code: str, field: str) -> PointType:
    found = await session.scalar(select(PointType).where(PointType.code == code))
    if found is None:
        raise invalid(field, f"no point type with code {code!r}")
    return found


@dataclass(frozen=True)
class PointRow:
    point: EvaluationPoint
    type_code: str
    type_name: str
    place_code: str
    place_name: str
    responsible_code: str | None
    district_code: str | None


def _point_rows() -> Select[EvaluationPoint, str, str, str, str, str, str]:
    place, responsible, district = aliased(Unit), aliased(Unit), aliased(Unit)
    return (
        select(
            EvaluationPoint,
            PointType.code,
            PointType.name,
            place.code,
            place.name,
            responsible.code,
            district.code,
        )
        .join(PointType, PointType.id == EvaluationPoint.point_type_id)
        .join(place, place.id == EvaluationPoint.place_unit_id)
        .outerjoin(responsible, responsible.id == EvaluationPoint.responsible_unit_id)
        .outerjoin(district, district.id == EvaluationPoint.district_id)
    )


@dataclass(frozen=True)
class PointFilter:
    district: str | None = None
    unit: str | None = None
    point_type: str | None = None
    active: bool | None = None


async def point_clauses(session: AsyncSession, f: PointFilter) -> list[ColumnElement[bool]]:
    """The filters as SQL; an unknown code is a 422 naming its field."""
    clauses: list[ColumnElement[bool]] = []
    if f.district is not None:
        district = await unit_by_code(session, f.district, "district")
        clauses.append(EvaluationPoint.district_id == district.id)
    if f.unit is not None:
        unit = await unit_by_code(session, f.unit, "unit")
        clauses.append(EvaluationPoint.place_unit_id.in_(_subtree(unit.path)))
    if f.point_type is not None:
        point_type = await point_type_by_code(session, f.point_type, "type")
        clauses.append(EvaluationPoint.point_type_id == point_type.id)
    if f.active is not None:
        clauses.append(EvaluationPoint.active.is_(f.active))
    return clauses


def _row(r: Sequence[object]) -> PointRow:
    return PointRow(*r)  # type: ignore[arg-type]


async def points_page(
    session: AsyncSession,
    principal: Principal,
    f: PointFilter,
    *,
    after_id: int | None,
    limit: int,
) -> list[PointRow]:
    """The visible points that match `f`, by id, `limit` after the keyset `after_id`."""
    query = (
        _point_rows()
        .where(visible_points(principal), *await point_clauses(session, f))
        .order_by(EvaluationPoint.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(EvaluationPoint.id > after_id)
    return [_row(r) for r in await session.execute(query)]


async def point(session: AsyncSession, principal: Principal, code: str) -> PointRow:
    """One point by code; 404 when it does not exist or lies outside the caller's scope."""
    found = (
        await session.execute(
            _point_rows().where(EvaluationPoint.code == code, visible_points(principal))
        )
    ).first()
    if found is None:
        raise NotFound(f"No evaluation point {code!r}.")
    return _row(found)


async def point_types(session: AsyncSession) -> list[PointType]:
    return list(await session.scalars(select(PointType).order_by(PointType.code)))


def blind_clause(since: datetime) -> ColumnElement[bool]:
    """Not inspected since `since` (or never)."""
    return or_(
        EvaluationPoint.last_inspected_at.is_(None), EvaluationPoint.last_inspected_at < since
    )


async def criteria_sets(session: AsyncSession) -> list[CriteriaSet]:
    return list(await session.scalars(select(CriteriaSet).order_by(CriteriaSet.id)))


async def criteria_set(session: AsyncSession, code: str) -> CriteriaSet:
    found = await session.scalar(select(CriteriaSet).where(CriteriaSet.code == code))
    if found is None:
        raise NotFound(f"No criteria set {code!r}.")
    return found


async def criteria_of(session: AsyncSession, set_id: int) -> list[Criterion]:
    """The indicators of a set in the order of their file (parents before children)."""
    return list(
        await session.scalars(
            select(Criterion)
            .where(Criterion.set_id == set_id)
            .order_by(Criterion.position, Criterion.id)
        )
    )


@dataclass(frozen=True)
class TaskFilter:
    plan: str | None = None
    district: str | None = None
    # Only the caller's own tasks.
    mine: bool = False
    # open | done | overdue
    status: str | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None


@dataclass(frozen=True)
class TaskRow:
    task: InspectionTask
    plan_code: str
    point_code: str
    point_name: str
    assignee: str | None


def visible_tasks(principal: Principal) -> ColumnElement[bool]:
    """A task is visible to its assignee and to whoever may see its point."""
    if principal.city_wide:
        return true()
    return or_(
        InspectionTask.assignee_id == principal.user_id,
        InspectionTask.point_id.in_(select(EvaluationPoint.id).where(visible_points(principal))),
    )


def task_rows() -> Select[InspectionTask, str, str, str, str]:
    return (
        select(
            InspectionTask,
            InspectionPlan.code,
            EvaluationPoint.code,
            EvaluationPoint.name,
            User.username,
        )
        .join(InspectionPlan, InspectionPlan.id == InspectionTask.plan_id)
        .join(EvaluationPoint, EvaluationPoint.id == InspectionTask.point_id)
        .outerjoin(User, User.id == InspectionTask.assignee_id)
    )


async def tasks_page(
    session: AsyncSession,
    principal: Principal,
    f: TaskFilter,
    now: datetime,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[TaskRow]:
    """The visible tasks that match `f`, soonest due first."""
    clauses: list[ColumnElement[bool]] = [visible_tasks(principal)]
    if f.plan is not None:
        plan_id = await session.scalar(
            select(InspectionPlan.id).where(InspectionPlan.code == f.plan)
        )
        if plan_id is None:
            raise invalid("plan", f"no inspection plan {f.plan!r}")
        clauses.append(InspectionTask.plan_id == plan_id)
    if f.district is not None:
        district = await unit_by_code(session, f.district, "district")
        clauses.append(InspectionTask.district_id == district.id)
    if f.mine:
        clauses.append(InspectionTask.assignee_id == principal.user_id)
    if f.status == "open":
        clauses.append(InspectionTask.done_at.is_(None))
    elif f.status == "done":
        clauses.append(InspectionTask.done_at.is_not(None))
    elif f.status == "overdue":
        clauses += [InspectionTask.done_at.is_(None), InspectionTask.due_at < now]
    if f.due_after is not None:
        clauses.append(InspectionTask.due_at >= f.due_after)
    if f.due_before is not None:
        clauses.append(InspectionTask.due_at < f.due_before)
    if after is not None:
        clauses.append(tuple_(InspectionTask.due_at, InspectionTask.id) > tuple_(*after))
    query = (
        task_rows().where(*clauses).order_by(InspectionTask.due_at, InspectionTask.id).limit(limit)
    )
    return [TaskRow(*r) for r in await session.execute(query)]


async def task(session: AsyncSession, principal: Principal, task_id: int) -> TaskRow:
    found = (
        await session.execute(
            task_rows().where(InspectionTask.id == task_id, visible_tasks(principal))
        )
    ).first()
    if found is None:
        raise NotFound(f"No inspection task {task_id}.")
    return TaskRow(*found)


async def plans(session: AsyncSession) -> list[InspectionPlan]:
    return list(await session.scalars(select(InspectionPlan).order_by(InspectionPlan.id)))


async def plan_by_code(session: AsyncSession, code: str) -> InspectionPlan:
    found = await session.scalar(select(InspectionPlan).where(InspectionPlan.code == code))
    if found is None:
        raise NotFound(f"No inspection plan {code!r}.")
    return found


async def plan_task_counts(
    session: AsyncSession, plan_id: int, now: datetime
) -> tuple[int, int, int]:
    """(tasks, done, overdue) of a plan."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(InspectionTask.done_at.is_not(None)),
                func.count().filter(InspectionTask.done_at.is_(None), InspectionTask.due_at < now),
            ).where(InspectionTask.plan_id == plan_id)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def visible_inspections(principal: Principal) -> ColumnElement[bool]:
    """An inspection is visible to its inspector and to whoever may see its point."""
    if principal.city_wide:
        return true()
    return or_(
        Inspection.inspector_id == principal.user_id,
        Inspection.point_id.in_(select(EvaluationPoint.id).where(visible_points(principal))),
    )


@dataclass(frozen=True)
class InspectionRow:
    inspection: Inspection
    point_code: str
    inspector: str
    criteria_set: str


def inspection_rows() -> Select[Inspection, str, str, str]:
    return (
        select(Inspection, EvaluationPoint.code, User.username, CriteriaSet.code)
        .join(EvaluationPoint, EvaluationPoint.id == Inspection.point_id)
        .join(User, User.id == Inspection.inspector_id)
        .join(CriteriaSet, CriteriaSet.id == Inspection.criteria_set_id)
    )


async def inspection(
    session: AsyncSession, principal: Principal, inspection_id: uuid.UUID
) -> InspectionRow:
    found = (
        await session.execute(
            inspection_rows().where(Inspection.id == inspection_id, visible_inspections(principal))
        )
    ).first()
    if found is None:
        raise NotFound(f"No inspection {inspection_id}.")
    return InspectionRow(*found)


async def inspection_row(session: AsyncSession, inspection_id: uuid.UUID) -> InspectionRow:
    """An inspection just recorded (or replayed) by its own inspector."""
    found = (await session.execute(inspection_rows().where(Inspection.id == inspection_id))).one()
    return InspectionRow(*found)


async def results_of(
    session: AsyncSession, inspection_id: uuid.UUID
) -> list[tuple[str, str, str, uuid.UUID | None, str | None]]:
    """(criterion code, name, outcome, finding, note) of an inspection, in the criteria's order."""
    rows = await session.execute(
        select(
            Criterion.code,
            Criterion.name,
            InspectionResult.outcome,
            InspectionResult.finding_id,
            InspectionResult.note,
        )
        .join(Criterion, Criterion.id == InspectionResult.criterion_id)
        .where(InspectionResult.inspection_id == inspection_id)
        .order_by(Criterion.position, Criterion.id)
    )
    return [(str(a), str(b), str(c), d, e) for a, b, c, d, e in rows]


async def inspections_page(
    session: AsyncSession,
    principal: Principal,
    *,
    point_code: str | None,
    district: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[InspectionRow]:
    """The visible inspections, newest first."""
    clauses: list[ColumnElement[bool]] = [visible_inspections(principal)]
    if point_code is not None:
        clauses.append(EvaluationPoint.code == point_code)
    if district is not None:
        unit = await unit_by_code(session, district, "district")
        clauses.append(Inspection.district_id == unit.id)
    if since is not None:
        clauses.append(Inspection.observed_at >= since)
    if until is not None:
        clauses.append(Inspection.observed_at < until)
    if after is not None:
        clauses.append(tuple_(Inspection.observed_at, Inspection.id) < tuple_(*after))
    query = (
        inspection_rows()
        .where(*clauses)
        .order_by(Inspection.observed_at.desc(), Inspection.id.desc())
        .limit(limit)
    )
    return [InspectionRow(*r) for r in await session.execute(query)]


# ---- coverage and blind spots ----

CoverageBy = Literal["district", "street", "point_type"]


@dataclass
class CoverageRow:
    """One group's figures over a period: the tasks due in it and done, the points they
    concern, the tasks overdue now, and the coverage (tasks done ÷ due)."""

    key_id: int | None
    code: str = ""
    name: str = ""
    tasks_due: int = 0
    tasks_done: int = 0
    points_due: int = 0
    points_inspected: int = 0
    overdue: int = 0
    blind_spots: int = 0

    @property
    def coverage(self) -> float | None:
        return coverage(self.tasks_due, self.tasks_done)


def _task_scope(principal: Principal | None) -> list[ColumnElement[bool]]:
    if principal is None or principal.city_wide:
        return []
    return [
        InspectionTask.point_id.in_(select(EvaluationPoint.id).where(visible_points(principal)))
    ]


async def coverage_rows(
    session: AsyncSession,
    principal: Principal | None,
    by: CoverageBy,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    blind_days: int,
    district: str | None = None,
) -> list[CoverageRow]:
    """Coverage per district, street or point type over the tasks due in [since, until), in
    the caller's scope (None: the whole city); with the blind spots (active points not
    inspected for `blind_days`) of each group as of `now`."""
    task_key = {
        "district": InspectionTask.district_id,
        "street": InspectionTask.street_id,
        "point_type": InspectionTask.point_type_id,
    }[by]
    point_key = {
        "district": EvaluationPoint.district_id,
        "street": EvaluationPoint.street_id,
        "point_type": EvaluationPoint.point_type_id,
    }[by]
    where = [InspectionTask.due_at >= since, InspectionTask.due_at < until, *_task_scope(principal)]
    point_where = [
        EvaluationPoint.active.is_(True),
        visible_points(principal) if principal is not None else true(),
    ]
    if district is not None:
        unit = await unit_by_code(session, district, "district")
        where.append(InspectionTask.district_id == unit.id)
        point_where.append(EvaluationPoint.district_id == unit.id)
    done = InspectionTask.done_at.is_not(None)
    tasks = await session.execute(
        select(
            task_key,
            func.count(),
            func.count().filter(done),
            func.count(func.distinct(InspectionTask.point_id)),
            func.count(func.distinct(InspectionTask.point_id)).filter(done),
            func.count().filter(~done, InspectionTask.due_at < now),
        )
        .where(*where)
        .group_by(task_key)
    )
    rows: dict[int | None, CoverageRow] = {}
    for key, due, n_done, points, inspected, overdue in tasks:
        rows[key] = CoverageRow(key, tasks_due=due, tasks_done=n_done, points_due=points,
                                points_inspected=inspected, overdue=overdue)  # fmt: skip
    blind = await session.execute(
        select(point_key, func.count())
        .where(*point_where, blind_clause(blind_since(now, blind_days)))
        .group_by(point_key)
    )
    for key, n in blind:
        rows.setdefault(key, CoverageRow(key)).blind_spots = n
    await _name(session, by, rows)
    return sorted(rows.values(), key=lambda r: (r.code == "", r.code))


async def _name(session: AsyncSession, by: CoverageBy, rows: dict[int | None, CoverageRow]) -> None:
    ids = [k for k in rows if k is not None]
    if by == "point_type":
        names = await session.execute(
            select(PointType.id, PointType.code, PointType.name).where(PointType.id.in_(ids))
        )
    else:
        names = await session.execute(select(Unit.id, Unit.code, Unit.name).where(Unit.id.in_(ids)))
    for id_, code, name in names:
        rows[id_].code, rows[id_].name = code, name


@dataclass(frozen=True)
class BlindSpot:
    point: EvaluationPoint
    type_code: str
    district_code: str | None
    street_code: str | None


async def blind_spots(
    session: AsyncSession,
    principal: Principal,
    *,
    now: datetime,
    days: int,
    district: str | None = None,
    point_type: str | None = None,
    limit: int = 50,
) -> list[BlindSpot]:
    """The active points of the caller's scope not inspected for `days`: never inspected
    first, then the longest unvisited. Two index ranges (never, then stale), not a sort of
    every point."""
    clauses: list[ColumnElement[bool]] = [
        EvaluationPoint.active.is_(True),
        visible_points(principal),
    ]
    clauses += await point_clauses(session, PointFilter(district=district, point_type=point_type))
    district_u, street_u = aliased(Unit), aliased(Unit)
    base = (
        select(EvaluationPoint, PointType.code, district_u.code, street_u.code)
        .join(PointType, PointType.id == EvaluationPoint.point_type_id)
        .outerjoin(district_u, district_u.id == EvaluationPoint.district_id)
        .outerjoin(street_u, street_u.id == EvaluationPoint.street_id)
        .where(*clauses)
    )
    never = list(
        await session.execute(
            base.where(EvaluationPoint.last_inspected_at.is_(None))
            .order_by(EvaluationPoint.id)
            .limit(limit)
        )
    )
    stale: list[Any] = []
    if len(never) < limit:
        stale = list(
            await session.execute(
                base.where(EvaluationPoint.last_inspected_at < blind_since(now, days))
                .order_by(EvaluationPoint.last_inspected_at, EvaluationPoint.id)
                .limit(limit - len(never))
            )
        )
    return [BlindSpot(*r) for r in [*never, *stale]]


MAP_POINTS = 3000


async def map_points(
    session: AsyncSession, principal: Principal, limit: int = MAP_POINTS
) -> list[tuple[str, str, float, float, datetime | None]]:
    """(code, name, lat, lon, last inspected) of the active points in scope, for the map:
    the least recently inspected first, so a map cut at `limit` shows the blind ones."""
    rows = await session.execute(
        select(
            EvaluationPoint.code,
            EvaluationPoint.name,
            EvaluationPoint.lat,
            EvaluationPoint.lon,
            EvaluationPoint.last_inspected_at,
        )
        .where(EvaluationPoint.active.is_(True), visible_points(principal))
        .order_by(EvaluationPoint.last_inspected_at.asc().nulls_first(), EvaluationPoint.id)
        .limit(limit)
    )
    return [(str(c), str(n), float(a), float(o), t) for c, n, a, o, t in rows]
