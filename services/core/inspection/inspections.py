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

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.intake import IntakeTerms, NewFinding, report
from services.core.findings.rules import Clock, FindingError
from services.core.identity.principal import Principal
from services.core.inspection import store
from services.core.inspection.rules import distance_m, position_flags
from services.core.models import Inspection
from services.core.platform.db import driver_connection
from services.core.platform.errors import InvalidInput, NotFound
from services.core.reference.snapshot import Reference

INSPECTING_ROLES = frozenset({"inspector"})
INSERTED = (
    "id", "point_id", "criteria_set_id", "inspector_id", "district_id", "observed_at", "lat",
    "lon", "distance_m", "flags", "passed", "failed", "not_applicable", "note", "request_hash",
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


def applicable(criteria: Sequence[store.Check], point_type: str) -> list[store.Check]:
    """The check items (leaves) of a set that apply to a point of the type."""
    parents = {c.parent_id for c in criteria}
    return [
        c
        for c in criteria
        if c.id not in parents and (not c.point_types or point_type in c.point_types)
    ]


def _check_items(new: NewInspection, applying: Sequence[store.Check]) -> dict[str, store.Check]:
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
    subtree = None if inspector.city_wide else inspector.unit_path
    look = await store.look_around(
        session, new.id, new.point, subtree, new.criteria_set, new.observed_at
    )
    if look.taken:
        return await _stored(session, new.id, digest)
    place = look.place
    if place is None:
        raise NotFound(f"No evaluation point {new.point!r}.")
    if new.observed_at > clock.now:
        raise InvalidInput([("observed_at", "lies in the future")])
    if look.set_id is None:
        why = "no criteria are imported yet"
        if new.criteria_set is not None:
            why = f"no criteria set {new.criteria_set!r}"
        raise InvalidInput([("criteria_set", why)])
    by_code = _check_items(new, applicable(look.checks, place.type_code))
    terms = IntakeTerms(recurrence_window=recurrence_window)
    results: list[store.NewResult] = []
    for index, item in enumerate(new.items):
        check = by_code[item.criterion]
        fid = None
        if item.outcome == "fail":
            fid = await _report_fail(
                session, new, item, check, place, inspector, clock, ref, terms, index
            )
        results.append(store.NewResult(check.id, item.outcome, fid, item.note))
    distance = distance_m((new.lat, new.lon), (place.lat, place.lon))
    outcomes = [i.outcome for i in new.items]
    row = Inspection(
        id=new.id,
        point_id=place.id,
        criteria_set_id=look.set_id,
        inspector_id=inspector.user_id,
        district_id=place.district_id,
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
    visit = {c: getattr(row, c) for c in INSERTED} | {"at": clock.now}
    visit["flags"] = json.dumps(row.flags)
    written, row.task_id = await store.insert_visit(session, visit, results)
    if not written:
        # Another copy of the same visit won the race; it has committed meanwhile.
        return await _stored(session, new.id, digest)
    order = {c.id: (c.position, c.id) for c in look.checks}
    shown = sorted(
        ((by_code[i.criterion], i, r) for i, r in zip(new.items, results, strict=True)),
        key=lambda x: order[x[0].id],
    )
    return Recorded(
        row,
        "created",
        [(c.code, c.name, i.outcome, r.finding_id, i.note) for c, i, r in shown],
        look.set_code,
    )


async def _stored(session: AsyncSession, inspection_id: uuid.UUID, digest: str) -> Recorded:
    """The visit already stored under the id: this one's replay, or another's."""
    stored = await session.get(Inspection, inspection_id, populate_existing=True)
    assert stored is not None  # noqa: S101 - the id is taken by definition
    return Recorded(stored, "replayed" if stored.request_hash == digest else "conflict")


async def _report_fail(
    session: AsyncSession,
    new: NewInspection,
    item: NewItem,
    criterion: store.Check,
    point: store.Place,
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
        unit=point.place_code,
        point_type=point.type_code,
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
