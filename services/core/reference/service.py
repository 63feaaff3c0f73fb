"""The configuration admins run (DESIGN §7): units, people, posts, categories and routing
rules, with the rules that keep them consistent — one holder of a head or city-leader post
at a time, one routing rule per category or group and area, a time limit its clock can
count, nothing deleted while something still refers to it.

Units and categories are addressed by their stable code, the rest by id. Every use case
takes a session, flushes and never commits (the request commits); a refusal is a
DomainError naming the field at fault. `changes` are the fields a PATCH body gave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.core.models import (
    Category,
    EscalationPolicy,
    Finding,
    Person,
    Post,
    RoutingRule,
    Unit,
    User,
)
from services.core.platform.errors import Conflict, InvalidInput, NotFound, invalid, refuse_nulls
from services.core.reference import store
from services.core.reference.rules import (
    SINGLE_HOLDER_ROLES,
    accept_within_errors,
    applies_to_errors,
    clock_after_change,
    clock_of,
    is_within,
    normalised_time_limit,
    tenure_errors,
    time_limit_errors,
    urgent_time_limit_errors,
)

Changes = Mapping[str, Any]
_Row = TypeVar("_Row", Unit, Person, Post, Category, RoutingRule)
_Coded = TypeVar("_Coded", Unit, Category)
References = Sequence[tuple[InstrumentedAttribute[Any], str]]


def _found(row: _Row | None, missing: str) -> _Row:
    if row is None:
        raise NotFound(missing)
    return row


async def _by_code(session: AsyncSession, model: type[_Coded], code: str) -> _Coded | None:
    return await session.scalar(select(model).where(model.code == code))


def _check(errors: Sequence[tuple[str, str]], message: str | None = None) -> None:
    if errors:
        raise InvalidInput(errors, message)


async def _flush(session: AsyncSession, conflict: str) -> None:
    # A concurrent request may have taken the code between our check and the insert.
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


async def _delete(session: AsyncSession, obj: Any, label: str, refs: References) -> None:
    used_by: list[str] = []
    for column, what in refs:
        if what not in used_by and await session.scalar(select(exists().where(column == obj.id))):
            used_by.append(what)
    if used_by:
        raise Conflict(f"{label} is still referenced by {', '.join(used_by)}; remove those first.")
    await session.delete(obj)
    await _flush(session, f"{label} is still referenced; remove what refers to it first.")


# ---- units ----


async def unit(session: AsyncSession, code: str) -> Unit:
    return _found(await _by_code(session, Unit, code), f"No unit with code {code!r}.")


async def _unit_ref(session: AsyncSession, code: str, field: str) -> Unit:
    """The unit a body names in `field`: an unknown code is bad input, not a missing page."""
    found = await _by_code(session, Unit, code)
    if found is None:
        raise invalid(field, f"no unit with code {code!r}")
    return found


async def _optional_unit_ref(session: AsyncSession, code: str | None, field: str) -> Unit | None:
    return None if code is None else await _unit_ref(session, code, field)


async def create_unit(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    kind: str,
    parent: str | None,
    lat: float | None = None,
    lon: float | None = None,
    webhook_url: str | None = None,
) -> Unit:
    taken = f"A unit with code {code!r} already exists."
    if await session.scalar(select(exists().where(Unit.code == code))):
        raise Conflict(taken)
    parent_unit = await _optional_unit_ref(session, parent, "parent")
    try:
        created = await store.create_unit(session, code, name, kind, parent_unit, lat=lat, lon=lon)
    except IntegrityError as exc:
        raise Conflict(taken) from exc
    created.webhook_url = webhook_url
    await session.flush()
    await session.refresh(created, ["created_at"])
    return created


async def update_unit(session: AsyncSession, code: str, changes: Changes) -> Unit:
    """Setting `parent` moves the whole subtree; a unit never moves under itself."""
    refuse_nulls(changes, ("name", "kind"))
    target = await unit(session, code)
    if "parent" in changes:
        parent = await _optional_unit_ref(session, changes["parent"], "parent")
        if parent is not None and is_within(parent.path, target.path):
            raise invalid("parent", "a unit cannot be moved under itself or its own subtree")
        await store.move_unit(session, target, parent)
    for field in ("name", "kind", "lat", "lon", "webhook_url"):
        if field in changes:
            setattr(target, field, changes[field])
    await session.flush()
    return target


_UNIT_REFERENCES: References = (
    (Unit.parent_id, "child units"),
    (Post.unit_id, "posts"),
    (User.unit_id, "users"),
    (RoutingRule.area_unit_id, "routing rules"),
    (RoutingRule.responsible_unit_id, "routing rules"),
    (Finding.place_unit_id, "findings"),
    (Finding.responsible_unit_id, "findings"),
    (Finding.district_id, "findings"),
)


async def delete_unit(session: AsyncSession, code: str) -> None:
    await _delete(session, await unit(session, code), f"Unit {code!r}", _UNIT_REFERENCES)


# ---- people ----


async def person(session: AsyncSession, person_id: int) -> Person:
    return _found(await session.get(Person, person_id), f"No person with id {person_id}.")


async def create_person(session: AsyncSession, fields: Changes) -> Person:
    created = Person(**fields)
    session.add(created)
    await session.flush()
    await session.refresh(created, ["created_at"])
    return created


async def update_person(session: AsyncSession, person_id: int, changes: Changes) -> Person:
    refuse_nulls(changes, ("name",))
    target = await person(session, person_id)
    for field, value in changes.items():
        setattr(target, field, value)
    await session.flush()
    return target


async def delete_person(session: AsyncSession, person_id: int) -> None:
    refs = ((Post.person_id, "posts"), (User.person_id, "users"))
    await _delete(session, await person(session, person_id), f"Person {person_id}", refs)


# ---- posts ----


async def post(session: AsyncSession, post_id: int) -> Post:
    return _found(await session.get(Post, post_id), f"No post with id {post_id}.")


async def _check_person(session: AsyncSession, person_id: int) -> None:
    if await session.get(Person, person_id) is None:
        raise invalid("person", f"no person with id {person_id}")


async def _check_single_holder(session: AsyncSession, held: Post) -> None:
    """A head or city-leader post has one holder at a time: the tenures may not overlap."""
    if held.role not in SINGLE_HOLDER_ROLES:
        return
    overlapping = (
        await session.execute(
            select(Post.id)
            .where(
                Post.unit_id == held.unit_id,
                Post.role == held.role,
                Post.id != held.id if held.id is not None else true(),
                or_(Post.valid_to.is_(None), Post.valid_to > held.valid_from),
                true() if held.valid_to is None else Post.valid_from < held.valid_to,
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if overlapping is not None:
        raise Conflict(
            f"Post {overlapping} already holds {held.role} of this unit in that period; "
            "end it (valid_to) before appointing the successor."
        )


async def _check_post(session: AsyncSession, held: Post) -> None:
    _check(tenure_errors(held.valid_from, held.valid_to))
    await _check_single_holder(session, held)


async def create_post(
    session: AsyncSession,
    *,
    unit: str,
    role: str,
    person: int,
    valid_from: datetime,
    valid_to: datetime | None = None,
) -> Post:
    holder = await _unit_ref(session, unit, "unit")
    await _check_person(session, person)
    created = Post(
        unit_id=holder.id, role=role, person_id=person, valid_from=valid_from, valid_to=valid_to
    )
    await _check_post(session, created)
    session.add(created)
    await session.flush()
    return created


async def update_post(session: AsyncSession, post_id: int, changes: Changes) -> Post:
    refuse_nulls(changes, ("unit", "role", "person", "valid_from"))
    target = await post(session, post_id)
    if "unit" in changes:
        target.unit_id = (await _unit_ref(session, changes["unit"], "unit")).id
    if "person" in changes:
        await _check_person(session, changes["person"])
        target.person_id = changes["person"]
    for field in ("role", "valid_from", "valid_to"):
        if field in changes:
            setattr(target, field, changes[field])
    await _check_post(session, target)
    await session.flush()
    return target


async def delete_post(session: AsyncSession, post_id: int) -> None:
    await _delete(session, await post(session, post_id), f"Post {post_id}", ())


# ---- categories ----


async def category(session: AsyncSession, code: str) -> Category:
    return _found(await _by_code(session, Category, code), f"No category with code {code!r}.")


async def _check_policy(session: AsyncSession, code: str | None) -> None:
    if code is not None and not await session.scalar(
        select(exists().where(EscalationPolicy.code == code))
    ):
        raise invalid("policy_code", f"no escalation policy with code {code!r}")


async def create_category(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    group: str,
    kind: str,
    clock: str | None,
    time_limit: Mapping[str, Any],
    duplicate_radius_m: int,
    policy_code: str | None,
    active: bool,
    urgent_time_limit: Mapping[str, Any] | None = None,
    accept_within: Mapping[str, Any] | None = None,
) -> Category:
    """`clock` defaults to the one the time limit is counted on."""
    counted_on = clock or clock_of(time_limit) or "working_days"
    _check(time_limit_errors(counted_on, time_limit))
    _check(urgent_time_limit_errors(urgent_time_limit))
    _check(accept_within_errors(accept_within))
    taken = f"A category with code {code!r} already exists."
    if await session.scalar(select(exists().where(Category.code == code))):
        raise Conflict(taken)
    await _check_policy(session, policy_code)
    created = Category(
        code=code,
        name=name,
        group=group,
        kind=kind,
        clock=counted_on,
        time_limit=normalised_time_limit(time_limit),
        urgent_time_limit=normalised_time_limit(urgent_time_limit) if urgent_time_limit else None,
        accept_within=dict(accept_within) if accept_within else None,
        duplicate_radius_m=duplicate_radius_m,
        policy_code=policy_code,
        active=active,
    )
    session.add(created)
    await _flush(session, taken)
    return created


async def update_category(session: AsyncSession, code: str, changes: Changes) -> Category:
    required = ("name", "group", "kind", "clock", "time_limit", "duplicate_radius_m", "active")
    refuse_nulls(changes, required)
    target = await category(session, code)
    time_limit = changes.get("time_limit", target.time_limit)
    clock = clock_after_change(target.clock, changes.get("clock"), changes.get("time_limit"))
    _check(time_limit_errors(clock, time_limit))
    # Either may be set to null: no urgent limit, no sign-for deadline.
    if "urgent_time_limit" in changes:
        urgent = changes["urgent_time_limit"]
        _check(urgent_time_limit_errors(urgent))
        target.urgent_time_limit = normalised_time_limit(urgent) if urgent else None
    if "accept_within" in changes:
        _check(accept_within_errors(changes["accept_within"]))
        target.accept_within = dict(changes["accept_within"]) if changes["accept_within"] else None
    if "policy_code" in changes:
        await _check_policy(session, changes["policy_code"])
    target.clock = clock
    target.time_limit = normalised_time_limit(time_limit)
    for field in ("name", "group", "kind", "duplicate_radius_m", "policy_code", "active"):
        if field in changes:
            setattr(target, field, changes[field])
    await session.flush()
    return target


async def delete_category(session: AsyncSession, code: str) -> None:
    refs = ((Finding.category_id, "findings"), (RoutingRule.category_id, "routing rules"))
    label = f"Category {code!r} (set active=false to retire it)"
    await _delete(session, await category(session, code), label, refs)


# ---- routing rules ----


async def routing_rule(session: AsyncSession, rule_id: int) -> RoutingRule:
    found = await session.get(RoutingRule, rule_id)
    return _found(found, f"No routing rule with id {rule_id}.")


async def _category_id(session: AsyncSession, code: str | None) -> int | None:
    if not code:
        return None
    found = await session.scalar(select(Category.id).where(Category.code == code))
    if found is None:
        raise invalid("category", f"no category with code {code!r}")
    return found


def _check_applies_to(category: int | str | None, group: str | None) -> None:
    _check(
        applies_to_errors(category, group),
        "A routing rule applies to exactly one of a category or a group.",
    )


async def _check_rule_unique(session: AsyncSession, rule: RoutingRule) -> None:
    """One rule per category (or group) and area: routing must never have to pick."""
    same: list[ColumnElement[bool]] = [RoutingRule.area_unit_id == rule.area_unit_id]
    if rule.category_id is not None:
        same.append(RoutingRule.category_id == rule.category_id)
    else:
        same.append(RoutingRule.group == rule.group)
    if rule.id is not None:
        same.append(RoutingRule.id != rule.id)
    if await session.scalar(select(exists().where(*same))):
        raise Conflict(
            "A routing rule for this category or group in this area already exists; "
            "change that one instead."
        )


async def _responsible_id(session: AsyncSession, code: str | None) -> int | None:
    responsible = await _optional_unit_ref(session, code, "responsible_unit")
    return responsible.id if responsible is not None else None


async def create_routing_rule(
    session: AsyncSession,
    *,
    category: str | None,
    group: str | None,
    area_unit: str,
    responsible_unit: str | None,
) -> RoutingRule:
    """`responsible_unit` None: territorial, the unit of the place itself is responsible."""
    _check_applies_to(category, group)
    category_id = await _category_id(session, category)
    area = await _unit_ref(session, area_unit, "area_unit")
    created = RoutingRule(
        category_id=category_id,
        group=group,
        area_unit_id=area.id,
        responsible_unit_id=await _responsible_id(session, responsible_unit),
    )
    await _check_rule_unique(session, created)
    session.add(created)
    await session.flush()
    return created


async def update_routing_rule(session: AsyncSession, rule_id: int, changes: Changes) -> RoutingRule:
    refuse_nulls(changes, ("area_unit",))
    target = await routing_rule(session, rule_id)
    if "category" in changes:
        target.category_id = await _category_id(session, changes["category"])
    if "group" in changes:
        target.group = changes["group"]
    _check_applies_to(target.category_id, target.group)
    if "area_unit" in changes:
        target.area_unit_id = (await _unit_ref(session, changes["area_unit"], "area_unit")).id
    if "responsible_unit" in changes:
        target.responsible_unit_id = await _responsible_id(session, changes["responsible_unit"])
    await _check_rule_unique(session, target)
    await session.flush()
    return target


async def delete_routing_rule(session: AsyncSession, rule_id: int) -> None:
    await _delete(session, await routing_rule(session, rule_id), f"Routing rule {rule_id}", ())
