"""Recording an inspection (a visit to an evaluation point): every applicable check item
passed, failed or not applicable; each fail reported as an ordinary finding through the
findings intake (routed, deadlined and escalated like any other) and linked from the result;
a visit with no fail is the complete record that nothing was found. The client's id is the
idempotency key: a phone that was offline replays, and the replay changes nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.intake import IntakeTerms, NewFinding, report
from services.core.findings.rules import Clock, FindingError
from services.core.identity.principal import Principal
from services.core.inspection import store
from services.core.inspection.queries import visible_points
from services.core.inspection.rules import distance_m, position_flags
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
)
from services.core.platform.db import driver_connection
from services.core.platform.errors import InvalidInput, NotFound
from services.core.reference.snapshot import Reference

INSPECTING_ROLES = frozenset({"inspector"})
INSERTED = (
    "id", "point_id", "criteria_set_id", "inspector_id", "district_id", "observed_at",
    "recorded_at", "lat", "lon", "distance_m", "flags", "passed", "failed", "not_applicable",
    "note", "request_hash",
)  # fmt: skip
FIELD_METHOD = "field"


@dataclass(frozen=True)
class NewItem:
    criterion: str
    outcome: str
    note: str | None = None
    # A fail's finding: the category (else the criterion's) and the words (else the check's).
    category: str | None = None
    description: str | None = None
    severity: str = "normal"


@dataclass(frozen=True)
class NewInspection:
    id: uuid.UUID
    point: str
    observed_at: datetime
    lat: float
    lon: float
    items: Sequence[NewItem]
    criteria_set: str | None = None
    note: str | None = None
    canonical: dict[str, Any] = field(default_factory=dict, repr=False)


Outcome = Literal["created", "replayed", "conflict"]


@dataclass(frozen=True)
class Recorded:
    inspection: Inspection
    outcome: Outcome
    # For a visit just recorded, what its answer shows, so that nothing is read back:
    # (criterion code, name, outcome, finding, note) per item, and the criteria's version.
    results: list[tuple[str, str, str, uuid.UUID | None, str | None]] | None = None
    criteria_set: str | None = None


def _digest(canonical: dict[str, Any], inspector_id: int) -> str:
    blob = json.dumps([inspector_id, canonical], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def finding_id(inspection_id: uuid.UUID, criterion_code: str) -> uuid.UUID:
    """The id of a fail's finding: the same on every replay, so the intake recognises it."""
    return uuid.uuid5(inspection_id, f"fail:{criterion_code}")


async def _point(
    session: AsyncSession, code: str, inspector: Principal
) -> tuple[EvaluationPoint, str, str]:
    row = (
        await session.execute(
            select(EvaluationPoint, PointType.code, Unit.code)
            .join(PointType, PointType.id == EvaluationPoint.point_type_id)
            .join(Unit, Unit.id == EvaluationPoint.place_unit_id)
            .where(EvaluationPoint.code == code, visible_points(inspector))
        )
    ).first()
    if row is None:
        raise NotFound(f"No evaluation point {code!r}.")
    return row[0], str(row[1]), str(row[2])


async def _criteria_set(
    session: AsyncSession, new: NewInspection, point_id: int, at: datetime
) -> int:
    """The version named, else that of the plan whose task the visit fulfils, else the
    newest."""
    if new.criteria_set is not None:
        set_id = await session.scalar(
            select(CriteriaSet.id).where(CriteriaSet.code == new.criteria_set)
        )
        if set_id is None:
            raise InvalidInput([("criteria_set", f"no criteria set {new.criteria_set!r}")])
        return set_id
    planned = await session.scalar(
        select(InspectionPlan.criteria_set_id)
        .join(InspectionTask, InspectionTask.plan_id == InspectionPlan.id)
        .where(InspectionTask.point_id == point_id, InspectionTask.opens_at <= at)
        .order_by(InspectionTask.due_at.desc())
        .limit(1)
    )
    if planned is not None:
        return planned
    newest = await session.scalar(select(CriteriaSet.id).order_by(CriteriaSet.id.desc()).limit(1))
    if newest is None:
        raise InvalidInput([("criteria_set", "no criteria are imported yet")])
    return newest


def applicable(criteria: Sequence[Criterion], point_type: str) -> list[Criterion]:
    """The check items (leaves) of a set that apply to a point of the type."""
    parents = {c.parent_id for c in criteria}
    return [
        c
        for c in criteria
        if c.id not in parents and (not c.point_types or point_type in c.point_types)
    ]


def _check_items(new: NewInspection, applying: Sequence[Criterion]) -> dict[str, Criterion]:
    """Every item names an applicable check once, and every field check is answered: the
    record is complete, so "nothing found" means every check passed or did not apply."""
    by_code = {c.code: c for c in applying}
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(new.items):
        if item.criterion not in by_code:
            errors.append(
                (f"items[{i}].criterion", f"{item.criterion!r} is no check item for this point")
            )
        elif item.criterion in seen:
            errors.append((f"items[{i}].criterion", f"{item.criterion!r} is answered twice"))
        seen.add(item.criterion)
        checked = by_code.get(item.criterion)
        no_category = checked is not None and checked.category_code is None
        if item.outcome == "fail" and item.category is None and no_category:
            errors.append(
                (f"items[{i}].category", "this check names no category: give the category")
            )
    missing = [c.code for c in applying if c.method == FIELD_METHOD and c.code not in seen]
    if missing:
        errors.append(("items", f"unanswered field checks: {', '.join(missing)}"))
    if errors:
        raise InvalidInput(errors)
    return by_code


async def record(
    session: AsyncSession,
    new: NewInspection,
    inspector: Principal,
    clock: Clock,
    ref: Reference,
    *,
    tolerance_m: float,
    recurrence_window: timedelta,
) -> Recorded:
    """Store the inspection, its results and a finding per fail, mark the task it fulfils
    done, or recognise a replay."""
    if inspector.role not in INSPECTING_ROLES:
        raise FindingError(403, "Only an inspector records inspections.")
    digest = _digest(new.canonical, inspector.user_id)
    stored = await session.get(Inspection, new.id)
    if stored is not None:
        return Recorded(stored, "replayed" if stored.request_hash == digest else "conflict")
    point, type_code, place_code = await _point(session, new.point, inspector)
    if new.observed_at > clock.now:
        raise InvalidInput([("observed_at", "lies in the future")])
    set_id = await _criteria_set(session, new, point.id, new.observed_at)
    criteria = list(await session.scalars(select(Criterion).where(Criterion.set_id == set_id)))
    by_code = _check_items(new, applicable(criteria, type_code))
    distance = distance_m((new.lat, new.lon), (point.lat, point.lon))
    outcomes = [i.outcome for i in new.items]
    row = Inspection(
        id=new.id,
        point_id=point.id,
        criteria_set_id=set_id,
        inspector_id=inspector.user_id,
        district_id=point.district_id,
        observed_at=new.observed_at,
        recorded_at=clock.now,
        lat=new.lat,
        lon=new.lon,
        distance_m=round(distance, 1),
        flags=position_flags(distance, tolerance_m),
        passed=outcomes.count("pass"),
        failed=outcomes.count("fail"),
        not_applicable=outcomes.count("na"),
        note=new.note,
        request_hash=digest,
    )
    inserted = await session.scalar(
        insert(Inspection)
        .values({c: getattr(row, c) for c in INSERTED})
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Inspection.id)
    )
    if inserted is None:
        # Another copy of the same visit won the race; it has committed meanwhile.
        winner = await session.get(Inspection, new.id, populate_existing=True)
        assert winner is not None  # noqa: S101 - the conflicting row exists by definition
        return Recorded(winner, "replayed" if winner.request_hash == digest else "conflict")
    terms = IntakeTerms(recurrence_window=recurrence_window)
    results = []
    shown: list[tuple[str, str, str, uuid.UUID | None, str | None]] = []
    for index, item in enumerate(new.items):
        criterion = by_code[item.criterion]
        fid = None
        if item.outcome == "fail":
            fid = await _report_fail(
                session, new, item, criterion, point, place_code, type_code, inspector,
                clock, ref, terms, index,
            )  # fmt: skip
        results.append(
            {
                "inspection_id": new.id,
                "criterion_id": criterion.id,
                "outcome": item.outcome,
                "finding_id": fid,
                "note": item.note,
            }
        )
        shown.append((criterion.code, criterion.name, item.outcome, fid, item.note))
    if results:
        await session.execute(insert(InspectionResult), results)
    row.task_id = await store.mark_done(session, point.id, new.id, new.observed_at, clock.now)
    order = {c.id: (c.position, c.id) for c in criteria}
    positions = [order[by_code[i.criterion].id] for i in new.items]
    shown = [r for _, r in sorted(zip(positions, shown, strict=True), key=lambda x: x[0])]
    set_code = await session.scalar(select(CriteriaSet.code).where(CriteriaSet.id == set_id))
    return Recorded(row, "created", shown, set_code)


async def _report_fail(
    session: AsyncSession,
    new: NewInspection,
    item: NewItem,
    criterion: Criterion,
    point: EvaluationPoint,
    place_code: str,
    type_code: str,
    inspector: Principal,
    clock: Clock,
    ref: Reference,
    terms: IntakeTerms,
    index: int,
) -> uuid.UUID:
    category = item.category or criterion.category_code
    assert category is not None  # noqa: S101 - _check_items refused it otherwise
    description = item.description or (
        f"{criterion.name}（{criterion.code}）未通过：{point.name}（测评点位 {point.code}）"
    )
    fid = finding_id(new.id, criterion.code)
    finding = NewFinding(
        id=fid,
        source="inspection",
        category=category,
        severity=item.severity,
        description=description,
        # At the point itself: the same place every visit, so a repeat is recognised.
        lat=point.lat,
        lon=point.lon,
        address=point.address,
        unit=place_code,
        point_type=type_code,
        observed_at=new.observed_at,
        canonical={"inspection": str(new.id), "criterion": criterion.code},
    )
    try:
        reported = await report(
            await driver_connection(session), finding, inspector, clock, terms, ref
        )
    except FindingError as exc:
        field = f"items[{index}].{exc.field}" if exc.field else f"items[{index}]"
        raise FindingError(exc.status, f"Item {index}: {exc.message}", field) from exc
    if reported.outcome == "conflict":
        raise FindingError(409, f"Item {index}: finding {fid} is another's.", f"items[{index}]")
    return fid
