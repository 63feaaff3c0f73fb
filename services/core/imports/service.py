"""Importing an office's files: the organisation (units, people, posts, boundaries) and the
catalogue (categories, routing rules, escalation policies).

Idempotent by code: a row whose code (for posts: unit, role, person and start; for routing
rules: area and category or group) is already there updates it, and importing the same file
twice changes nothing the second time. All or nothing per file: the rows are read and
checked first (services/core/imports/rules.py), then against the database, then written in
a savepoint, which is rolled back if anything at all is wrong, or for a dry run. Rows the
file does not hold are left as they are: an import never deletes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.rules import DEFAULT_REMINDER_AT
from services.core.identity.store import Operator, record
from services.core.inspection.rules import district_and_street
from services.core.models import (
    AssessmentRound,
    Category,
    CriteriaSet,
    Criterion,
    EscalationPolicy,
    EvaluationPoint,
    Inspection,
    Person,
    PointType,
    Post,
    RoutingRule,
    Unit,
    UnitBoundary,
)
from services.core.reference.places import read_boundary
from services.core.reference.store import create_unit, move_unit, overlapping_holder

from . import readers
from .rules import Kind, Record, RowError, error_text, kinds, ladder_level, policy_levels, read_rows

CITY = "city"
DEFAULT_RADIUS_M = 30
DEFAULT_POLICY = "default"


@dataclass
class Outcome:
    kind: str
    dry_run: bool
    rows: int = 0
    # The keys of what was (or, in a dry run, would be) created and updated.
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Refused(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


class _DryRun(Exception):
    pass


@dataclass
class _Work:
    session: AsyncSession
    records: Sequence[Record]
    outcome: Outcome
    now: datetime
    errors: list[RowError] = field(default_factory=list)

    def refuse(self, line: int | None, column: str | None, zh: str, en: str) -> None:
        self.errors.append(RowError(line, column, zh, en))

    def done(self, key: str, created: bool, changed: bool) -> None:
        if created:
            self.outcome.created.append(key)
        elif changed:
            self.outcome.updated.append(key)
        else:
            self.outcome.unchanged += 1

    def check(self) -> None:
        if self.errors:
            raise _Refused(self.errors)


def _no_unit(code: str) -> tuple[str, str]:
    return f"没有编码为 {code!r} 的单位", f"no unit with code {code!r}"


def _assign(obj: Any, values: dict[str, Any], fields: Sequence[str]) -> bool:
    """Set the fields the row has; whether any of them changed."""
    changed = False
    for name in fields:
        if name in values and getattr(obj, name) != values[name]:
            setattr(obj, name, values[name])
            changed = True
    return changed


# ---- units ----


async def _units(w: _Work) -> None:
    existing = {u.code: u for u in await w.session.scalars(select(Unit))}
    by_id = {u.id: u for u in existing.values()}
    roots = [u for u in existing.values() if u.parent_id is None]
    parent_of: dict[str, str | None] = {
        u.code: by_id[u.parent_id].code if u.parent_id is not None else None
        for u in existing.values()
    }
    rows = {r.values["code"]: r for r in w.records}
    for code, r in rows.items():
        if "parent" in r.values or code not in existing:
            parent_of[code] = r.values.get("parent")
    new_roots: list[str] = []
    for r in rows.values():
        _check_parent(w, r, parent_of, existing, roots, new_roots)
    w.check()
    for code in _parents_first(list(rows), parent_of):
        r = rows[code]
        v = r.values
        parent_code = parent_of[code]
        parent = existing[parent_code] if parent_code is not None else None
        unit = existing.get(code)
        if unit is None:
            unit = await create_unit(
                w.session, code, v["name"], v["kind"], parent, lat=v.get("lat"), lon=v.get("lon")
            )
            unit.webhook_url = v.get("webhook_url")
            existing[code] = unit
            w.done(code, created=True, changed=True)
            continue
        moved = False
        if unit.parent_id != (parent.id if parent is not None else None):
            await move_unit(w.session, unit, parent)
            moved = True
        changed = _assign(unit, v, ("name", "kind", "lat", "lon", "webhook_url"))
        w.done(code, created=False, changed=moved or changed)
    await w.session.flush()


def _check_parent(
    w: _Work,
    r: Record,
    parent_of: dict[str, str | None],
    existing: dict[str, Unit],
    roots: list[Unit],
    new_roots: list[str],
) -> None:
    code = r.values["code"]
    parent = parent_of[code]
    kind = r.values.get("kind") or (existing[code].kind if code in existing else None)
    if parent is None:
        if kind != CITY:
            w.refuse(
                r.line, "parent", "只有市（根单位）没有上级单位",
                "only the city (the root unit) has no parent",
            )  # fmt: skip
        elif roots and code not in {u.code for u in roots}:
            w.refuse(
                r.line, "parent",
                f"本库的城市是 {roots[0].code}（{roots[0].name}）：其他单位须有上级单位",
                f"this database's city is {roots[0].code} ({roots[0].name}): every other unit "
                "has a parent",
            )  # fmt: skip
        elif not roots and new_roots:
            w.refuse(
                r.line, "parent", "只能有一个根单位（市）", "there is only one root unit (the city)"
            )
        else:
            new_roots.append(code)
        return
    if code in existing and existing[code].parent_id is None:
        w.refuse(
            r.line,
            "parent",
            "市是根单位，没有上级单位",
            "the city is the root unit: it has no parent",
        )
        return
    if parent not in parent_of:
        w.refuse(r.line, "parent", *_no_unit(parent))
        return
    seen = {code}
    at: str | None = parent
    while at is not None:
        if at in seen:
            w.refuse(
                r.line, "parent", "上级关系成环", "the chain of parents loops back to this unit"
            )
            return
        seen.add(at)
        at = parent_of.get(at)


def _parents_first(codes: list[str], parent_of: dict[str, str | None]) -> list[str]:
    wanted = set(codes)
    ordered: list[str] = []
    placed: set[str] = set()

    def visit(code: str) -> None:
        if code in placed:
            return
        parent = parent_of.get(code)
        if parent is not None and parent in wanted:
            visit(parent)
        placed.add(code)
        ordered.append(code)

    for code in codes:
        visit(code)
    return ordered


# ---- people and posts ----


async def _people(w: _Work) -> None:
    codes = [r.values["code"] for r in w.records]
    existing = {
        p.code: p for p in await w.session.scalars(select(Person).where(Person.code.in_(codes)))
    }
    for r in w.records:
        v = r.values
        person = existing.get(v["code"])
        fields = ("name", "title", "phone", "email", "webhook_url")
        if person is None:
            person = Person(code=v["code"], **{f: v.get(f) for f in fields})
            w.session.add(person)
            w.done(v["code"], created=True, changed=True)
        else:
            w.done(v["code"], created=False, changed=_assign(person, v, fields))
    await w.session.flush()


async def _ids(session: AsyncSession, column: Any, key: Any, codes: set[str]) -> dict[str, int]:
    rows = await session.execute(select(key, column).where(key.in_(codes)))
    return {str(code): int(id_) for code, id_ in rows}


async def _posts(w: _Work) -> None:
    units = await _ids(w.session, Unit.id, Unit.code, {r.values["unit"] for r in w.records})
    people = await _ids(w.session, Person.id, Person.code, {r.values["person"] for r in w.records})
    for r in w.records:
        if r.values["unit"] not in units:
            w.refuse(r.line, "unit", *_no_unit(r.values["unit"]))
        if r.values["person"] not in people:
            p = r.values["person"]
            w.refuse(r.line, "person", f"没有编码为 {p!r} 的人员", f"no person with code {p!r}")
    w.check()
    existing = list(
        await w.session.scalars(select(Post).where(Post.unit_id.in_(set(units.values()))))
    )
    touched: list[tuple[Record, Post]] = []
    for r in w.records:
        v = r.values
        unit_id, person_id = units[v["unit"]], people[v["person"]]
        key = f"{v['unit']}/{v['role']}/{v['person']}/{v['valid_from'].isoformat()}"
        post = next(
            (
                p
                for p in existing
                if (p.unit_id, p.role, p.person_id) == (unit_id, v["role"], person_id)
                and p.valid_from == v["valid_from"]
            ),
            None,
        )
        if post is None:
            post = Post(
                unit_id=unit_id,
                role=v["role"],
                person_id=person_id,
                valid_from=v["valid_from"],
                valid_to=v.get("valid_to"),
            )
            w.session.add(post)
            w.done(key, created=True, changed=True)
        else:
            w.done(key, created=False, changed=_assign(post, v, ("valid_to",)))
        touched.append((r, post))
    await w.session.flush()
    for r, post in touched:
        other = await overlapping_holder(w.session, post)
        if other is not None:
            w.refuse(
                r.line, "valid_from",
                "此岗位在这段时间已有人担任：请先填写前任的任职结束",
                "someone else holds this post in that period: end the predecessor's tenure "
                "(valid_to) first",
            )  # fmt: skip


# ---- the catalogue ----


async def _categories(w: _Work) -> None:
    codes = [r.values["code"] for r in w.records]
    existing = {
        c.code: c for c in await w.session.scalars(select(Category).where(Category.code.in_(codes)))
    }
    policies = set(await w.session.scalars(select(EscalationPolicy.code)))
    for r in w.records:
        policy = r.values.get("policy")
        if policy is not None and policy not in policies:
            w.refuse(
                r.line, "policy", f"没有编码为 {policy!r} 的督办阶梯",
                f"no escalation policy with code {policy!r}",
            )  # fmt: skip
    w.check()
    for r in w.records:
        v = dict(r.values)
        if "time_limit" in v:
            v["clock"] = "continuous" if "duration" in v["time_limit"] else "working_days"
        if "duplicate_radius_m" in v and v["duplicate_radius_m"] is None:
            v["duplicate_radius_m"] = DEFAULT_RADIUS_M
        if "active" in v and v["active"] is None:
            v["active"] = True
        if "policy" in v:
            v["policy_code"] = v.pop("policy")
        category = existing.get(v["code"])
        fields = (
            "name", "group", "kind", "clock", "time_limit", "duplicate_radius_m", "policy_code",
            "active",
        )  # fmt: skip
        if category is None:
            category = Category(
                code=v["code"],
                name=v["name"],
                group=v["group"],
                kind=v["kind"],
                clock=v["clock"],
                time_limit=v["time_limit"],
                duplicate_radius_m=v.get("duplicate_radius_m", DEFAULT_RADIUS_M),
                policy_code=v.get("policy_code", DEFAULT_POLICY),
                active=v.get("active", True),
            )
            w.session.add(category)
            w.done(v["code"], created=True, changed=True)
        else:
            w.done(v["code"], created=False, changed=_assign(category, v, fields))
    await w.session.flush()


async def _routing_rules(w: _Work) -> None:
    unit_codes = {r.values["area_unit"] for r in w.records} | {
        r.values["responsible_unit"] for r in w.records if r.values.get("responsible_unit")
    }
    units = await _ids(w.session, Unit.id, Unit.code, unit_codes)
    categories = await _ids(
        w.session,
        Category.id,
        Category.code,
        {r.values["category"] for r in w.records if r.values.get("category")},
    )
    for r in w.records:
        for column in ("area_unit", "responsible_unit"):
            code = r.values.get(column)
            if code is not None and code not in units:
                w.refuse(r.line, column, *_no_unit(code))
        category = r.values.get("category")
        if category is not None and category not in categories:
            w.refuse(
                r.line, "category", f"没有编码为 {category!r} 的类别",
                f"no category with code {category!r}",
            )  # fmt: skip
    w.check()
    existing = list(await w.session.scalars(select(RoutingRule)))
    for r in w.records:
        v = r.values
        area = units[v["area_unit"]]
        category_id = categories[v["category"]] if v.get("category") else None
        group = v.get("group")
        responsible = units[v["responsible_unit"]] if v.get("responsible_unit") else None
        key = f"{v['area_unit']}/{v.get('category') or v.get('group')}"
        rule = next(
            (
                x
                for x in existing
                if (x.area_unit_id, x.category_id, x.group) == (area, category_id, group)
            ),
            None,
        )
        if rule is None:
            rule = RoutingRule(
                category_id=category_id,
                group=group,
                area_unit_id=area,
                responsible_unit_id=responsible,
            )
            w.session.add(rule)
            existing.append(rule)
            w.done(key, created=True, changed=True)
        else:
            changed = "responsible_unit" in v and rule.responsible_unit_id != responsible
            if changed:
                rule.responsible_unit_id = responsible
            w.done(key, created=False, changed=changed)
    await w.session.flush()


def _normalised(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "level": lv["level"],
            "target": lv["target"],
            "after": lv["after"],
            "channels": lv["channels"],
        }
        for lv in sorted(levels, key=lambda lv: int(lv["level"]))
    ]


async def _policies(w: _Work) -> None:
    now = w.now
    grouped = policy_levels(w.records)
    existing = {
        p.code: p
        for p in await w.session.scalars(
            select(EscalationPolicy).where(EscalationPolicy.code.in_(list(grouped)))
        )
    }
    for code, rows in grouped.items():
        first = rows[0].values
        levels = _normalised([ladder_level(r) for r in rows])
        reminder = first.get("reminder_at", DEFAULT_REMINDER_AT)
        policy = existing.get(code)
        if policy is None:
            w.session.add(
                EscalationPolicy(
                    code=code,
                    name=first["name"],
                    reminder_at=reminder,
                    levels=levels,
                    created_at=now,
                    updated_at=now,
                )
            )
            w.done(code, created=True, changed=True)
            continue
        values: dict[str, Any] = {"name": first["name"], "levels": levels}
        if "reminder_at" in first:
            values["reminder_at"] = reminder
        changed = _assign(policy, values, ("name", "levels", "reminder_at"))
        if changed:
            policy.updated_at = now
        w.done(code, created=False, changed=changed)
    await w.session.flush()


# ---- boundaries ----


async def _boundaries(w: _Work) -> None:
    units = await _ids(w.session, Unit.id, Unit.code, {r.values["code"] for r in w.records})
    geometries: dict[int, dict[str, Any]] = {}
    for r in w.records:
        code = r.values["code"]
        if code not in units:
            w.refuse(r.line, "code", *_no_unit(code))
        _area, error = read_boundary(r.values["geometry"])
        if error is not None:
            w.refuse(r.line, "geometry", error.zh, error.en)
        elif code in units:
            g = r.values["geometry"]
            geometries[units[code]] = {"type": g["type"], "coordinates": g["coordinates"]}
    w.check()
    existing = {
        b.unit_id: b
        for b in await w.session.scalars(
            select(UnitBoundary).where(UnitBoundary.unit_id.in_(list(geometries)))
        )
    }
    for r in w.records:
        unit_id = units[r.values["code"]]
        geometry = geometries[unit_id]
        boundary = existing.get(unit_id)
        if boundary is None:
            w.session.add(UnitBoundary(unit_id=unit_id, geometry=geometry))
            w.done(r.values["code"], created=True, changed=True)
        else:
            changed = boundary.geometry != geometry
            if changed:
                boundary.geometry = geometry
                boundary.updated_at = w.now
            w.done(r.values["code"], created=False, changed=changed)
    await w.session.flush()


# ---- evaluation points ----


async def _point_types(w: _Work) -> None:
    codes = [r.values["code"] for r in w.records]
    existing = {
        t.code: t
        for t in await w.session.scalars(select(PointType).where(PointType.code.in_(codes)))
    }
    for r in w.records:
        v = dict(r.values)
        if "active" in v and v["active"] is None:
            v["active"] = True
        point_type = existing.get(v["code"])
        if point_type is None:
            w.session.add(PointType(code=v["code"], name=v["name"], active=v.get("active", True)))
            w.done(v["code"], created=True, changed=True)
        else:
            w.done(v["code"], created=False, changed=_assign(point_type, v, ("name", "active")))
    await w.session.flush()


async def _points(w: _Work) -> None:
    units = {u.code: u for u in await w.session.scalars(select(Unit))}
    kinds_by_id = {u.id: u.kind for u in units.values()}
    types = await _ids(
        w.session, PointType.id, PointType.code, {r.values["type"] for r in w.records}
    )
    for r in w.records:
        for column in ("unit", "responsible_unit"):
            unit_code = r.values.get(column)
            if unit_code is not None and unit_code not in units:
                w.refuse(r.line, column, *_no_unit(unit_code))
        if r.values["type"] not in types:
            t = r.values["type"]
            w.refuse(
                r.line, "type", f"没有编码为 {t!r} 的点位类型：请先导入点位类型",
                f"no point type with code {t!r}: import the point types first",
            )  # fmt: skip
    w.check()
    codes = [r.values["code"] for r in w.records]
    existing = {
        p.code: p
        for p in await w.session.scalars(
            select(EvaluationPoint).where(EvaluationPoint.code.in_(codes))
        )
    }
    for r in w.records:
        v = dict(r.values)
        place = units[v.pop("unit")]
        district_id, street_id = district_and_street(place.path, kinds_by_id)
        v["place_unit_id"], v["district_id"], v["street_id"] = place.id, district_id, street_id
        v["point_type_id"] = types[v.pop("type")]
        if "responsible_unit" in v:
            responsible = v.pop("responsible_unit")
            v["responsible_unit_id"] = units[responsible].id if responsible else None
        if "active" in v and v["active"] is None:
            v["active"] = True
        fields = (
            "name", "point_type_id", "lat", "lon", "outline", "place_unit_id",
            "responsible_unit_id", "district_id", "street_id", "address", "active",
        )  # fmt: skip
        point = existing.get(v["code"])
        if point is None:
            point = EvaluationPoint(
                code=v["code"], created_at=w.now, updated_at=w.now,
                **{f: v[f] for f in fields if f in v},
            )  # fmt: skip
            w.session.add(point)
            existing[v["code"]] = point
            w.done(v["code"], created=True, changed=True)
        else:
            changed = _assign(point, v, fields)
            if changed:
                point.updated_at = w.now
            w.done(v["code"], created=False, changed=changed)
    await w.session.flush()


# ---- evaluation criteria ----


async def _criteria(w: _Work) -> None:
    """Each set (version) of the file created or brought up to date; a set that results were
    recorded under is frozen: its criteria stay as they were scored, and a change is a new
    version (another set code)."""
    by_set: dict[str, list[Record]] = {}
    for r in w.records:
        by_set.setdefault(r.values["set"], []).append(r)
    sets = {
        c.code: c
        for c in await w.session.scalars(select(CriteriaSet).where(CriteriaSet.code.in_(by_set)))
    }
    type_codes = set(await w.session.scalars(select(PointType.code)))
    categories = set(await w.session.scalars(select(Category.code)))
    for r in w.records:
        for t in r.values.get("point_types") or []:
            if t not in type_codes:
                w.refuse(
                    r.line, "point_types", f"没有编码为 {t!r} 的点位类型",
                    f"no point type with code {t!r}",
                )  # fmt: skip
        category = r.values.get("category")
        if category is not None and category not in categories:
            w.refuse(
                r.line, "category", f"没有编码为 {category!r} 的类别",
                f"no category with code {category!r}",
            )  # fmt: skip
    w.check()
    for set_code, rows in by_set.items():
        await _criteria_set(w, set_code, rows, sets.get(set_code))
    await w.session.flush()


async def _criteria_set(
    w: _Work, set_code: str, rows: list[Record], criteria_set: CriteriaSet | None
) -> None:
    name = next((r.values["set_name"] for r in rows if r.values.get("set_name")), set_code)
    if criteria_set is None:
        criteria_set = CriteriaSet(code=set_code, name=name, created_at=w.now)
        w.session.add(criteria_set)
        await w.session.flush()
    existing = {
        c.code: c
        for c in await w.session.scalars(
            select(Criterion).where(Criterion.set_id == criteria_set.id)
        )
    }
    parent_of = {code: existing[code].parent_id for code in existing}
    codes_by_id = {c.id: code for code, c in existing.items()}
    parents: dict[str, str | None] = {
        code: codes_by_id.get(pid) if pid is not None else None for code, pid in parent_of.items()
    }
    for r in rows:
        if "parent" in r.values or r.values["code"] not in parents:
            parents[r.values["code"]] = r.values.get("parent")
    for r in rows:
        parent = parents[r.values["code"]]
        if parent is not None and parent not in parents:
            w.refuse(
                r.line, "parent", f"此版本中没有编码为 {parent!r} 的指标",
                f"no indicator {parent!r} in set {set_code!r}",
            )  # fmt: skip
        elif _loops(r.values["code"], parents):
            w.refuse(r.line, "parent", "上级关系成环", "the chain of parents loops back")
    w.check()
    scored = await _set_scored(w.session, criteria_set.id)
    fields = ("name", "full_score", "point_types", "check_items", "method", "category_code")
    for code in _parents_first([r.values["code"] for r in rows], parents):
        r = next(x for x in rows if x.values["code"] == code)
        v = dict(r.values)
        v["category_code"] = v.pop("category", None) if "category" in v else None
        if "point_types" in v and v["point_types"] is None:
            v["point_types"] = []
        parent = parents[code]
        v["parent_id"] = existing[parent].id if parent is not None else None
        criterion = existing.get(code)
        if criterion is None:
            if scored:
                w.refuse(r.line, "set", *_frozen(set_code))
                continue
            criterion = Criterion(
                set_id=criteria_set.id, code=code, position=r.line,
                method=v["method"], full_score=v["full_score"], name=v["name"],
                parent_id=v["parent_id"], point_types=v.get("point_types") or [],
                check_items=v.get("check_items"), category_code=v["category_code"],
            )  # fmt: skip
            w.session.add(criterion)
            await w.session.flush()
            existing[code] = criterion
            w.done(f"{set_code}/{code}", created=True, changed=True)
            continue
        changed = _assign(criterion, v, (*fields, "parent_id"))
        if changed and scored:
            w.refuse(r.line, "set", *_frozen(set_code))
        w.done(f"{set_code}/{code}", created=False, changed=changed)


def _frozen(set_code: str) -> tuple[str, str]:
    return (
        f"版本 {set_code!r} 已有测评结果，不能修改：请以新的版本编码导入",
        f"results were recorded under set {set_code!r}: it cannot change; import the new "
        "criteria as a new version (another set code)",
    )


def _loops(code: str, parents: dict[str, str | None]) -> bool:
    seen = {code}
    at = parents.get(code)
    while at is not None:
        if at in seen:
            return True
        seen.add(at)
        at = parents.get(at)
    return False


async def _set_scored(session: AsyncSession, set_id: int) -> bool:
    """Whether any inspection or self-assessment was recorded under the set."""
    inspected = await session.scalar(select(exists().where(Inspection.criteria_set_id == set_id)))
    assessed = await session.scalar(
        select(exists().where(AssessmentRound.criteria_set_id == set_id))
    )
    return bool(inspected or assessed)


# ---- the use case ----


APPLY: dict[str, Callable[[_Work], Awaitable[None]]] = {
    "units": _units,
    "people": _people,
    "posts": _posts,
    "categories": _categories,
    "routing-rules": _routing_rules,
    "policies": _policies,
    "boundaries": _boundaries,
    "point-types": _point_types,
    "points": _points,
    "criteria": _criteria,
}


@dataclass(frozen=True)
class Parsed:
    """A file read and its rows checked, before the database is asked anything."""

    kind: str
    records: list[Record]
    errors: list[RowError]


def parse(kind_name: str, data: bytes, tz: ZoneInfo) -> Parsed:
    """Read and check a file of `kind_name` (CPU only: the API runs it off the event loop)."""
    kind = kinds(tz)[kind_name]
    table = readers.read(kind, data)
    records, errors = read_rows(kind, table.rows)
    errors = table.errors + errors
    if not errors and not records:
        errors = [RowError(None, None, "文件中没有数据行", "the file holds no rows")]
    return Parsed(kind_name, records, errors)


async def apply(
    session: AsyncSession,
    parsed: Parsed,
    *,
    operator: Operator,
    now: datetime,
    dry_run: bool = False,
    source: str = "",
) -> Outcome:
    """Write a parsed file: everything, or nothing and every reason why. A dry run checks
    and counts exactly as an import does, and writes nothing. A real import that changed
    anything is recorded in the administrative audit trail."""
    kind_name = parsed.kind
    outcome = Outcome(kind=kind_name, dry_run=dry_run, rows=len(parsed.records))
    if parsed.errors:
        outcome.errors = list(parsed.errors)
        return outcome
    work = _Work(session, parsed.records, outcome, now)
    try:
        async with session.begin_nested():
            await APPLY[kind_name](work)
            work.check()
            if dry_run:
                raise _DryRun
    except _DryRun:
        return outcome
    except _Refused as refused:
        return _failed(outcome, refused.errors)
    except IntegrityError as exc:
        return _failed(
            outcome,
            [
                RowError(
                    None,
                    None,
                    f"数据库拒绝了此文件：{exc.orig}",
                    f"the database refused the file: {exc.orig}",
                )
            ],
        )
    if outcome.created or outcome.updated:
        await record(
            session,
            operator,
            f"import.{kind_name}",
            source or kind_name,
            {"rows": outcome.rows, "created": outcome.created, "updated": outcome.updated},
        )
    return outcome


def _failed(outcome: Outcome, errors: list[RowError]) -> Outcome:
    outcome.created, outcome.updated, outcome.unchanged = [], [], 0
    outcome.errors = errors
    return outcome


async def import_file(
    session: AsyncSession,
    kind_name: str,
    data: bytes,
    *,
    operator: Operator,
    tz: ZoneInfo,
    now: datetime,
    dry_run: bool = False,
    source: str = "",
) -> Outcome:
    """Import one file of `kind_name` (parse, then apply)."""
    return await apply(
        session, parse(kind_name, data, tz), operator=operator, now=now, dry_run=dry_run,
        source=source,
    )  # fmt: skip


def describe_errors(kind_name: str, errors: Sequence[RowError], tz: ZoneInfo) -> list[str]:
    kind: Kind = kinds(tz)[kind_name]
    return [error_text(kind, e) for e in errors]
