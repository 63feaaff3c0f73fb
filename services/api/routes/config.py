"""Configuration for admins (DESIGN §7): units, people, posts, categories, routing rules.

Units and categories are addressed by their stable code; people, posts and rules by id.
A unit that is still referenced (children, posts, users, rules, findings) cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVarTuple

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import ColumnElement, Select, exists, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

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
from services.core.reference.store import create_unit, is_in_subtree, move_unit

from ..deps import Admin, Session
from ..pagination import Page, PageDep, id_key, split_page
from ..problems import Problem
from ..schemas.config import (
    CODE_PATTERN,
    CategoryCreate,
    CategoryOut,
    CategoryPage,
    CategoryUpdate,
    Code,
    PersonCreate,
    PersonOut,
    PersonPage,
    PersonUpdate,
    PostCreate,
    PostOut,
    PostPage,
    PostUpdate,
    RoutingRuleCreate,
    RoutingRuleOut,
    RoutingRulePage,
    RoutingRuleUpdate,
    UnitCreate,
    UnitKind,
    UnitOut,
    UnitPage,
    UnitUpdate,
    clock_of,
    normalised_time_limit,
    time_limit_errors,
)
from ..schemas.wire import Id

router = APIRouter(tags=["configuration"])
Ts = TypeVarTuple("Ts")

CodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
IdPath = Annotated[Id, Path()]


# ---- shared helpers ----


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        f"The request is not valid: check {field}.",
        kind="validation",
        errors=[{"field": field, "message": message}],
    )


def _conflict(detail: str) -> Problem:
    return Problem(409, detail, kind="conflict")


def _reject_nulls(body: Any, fields: Sequence[str]) -> None:
    for field in fields:
        if field in body.model_fields_set and getattr(body, field) is None:
            raise _invalid(field, "may not be null")


async def _flush(session: AsyncSession, conflict: str) -> None:
    # A concurrent request may have taken the code between our check and the insert.
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _conflict(conflict) from exc


async def _references(
    session: AsyncSession, target_id: int, refs: Sequence[tuple[InstrumentedAttribute[Any], str]]
) -> list[str]:
    found: list[str] = []
    for column, what in refs:
        if what not in found and await session.scalar(select(exists().where(column == target_id))):
            found.append(what)
    return found


async def _delete(
    session: AsyncSession,
    obj: Any,
    label: str,
    refs: Sequence[tuple[InstrumentedAttribute[Any], str]],
) -> Response:
    used_by = await _references(session, obj.id, refs)
    if used_by:
        raise _conflict(f"{label} is still referenced by {', '.join(used_by)}; remove those first.")
    await session.delete(obj)
    await _flush(session, f"{label} is still referenced; remove what refers to it first.")
    return Response(status_code=204)


async def _unit_ref(session: AsyncSession, code: str | None, field: str) -> Unit | None:
    if code is None:
        return None
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise _invalid(field, f"no unit with code {code!r}")
    return unit


async def _codes(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    units = await session.scalars(select(Unit).where(Unit.id.in_(wanted)))
    return {u.id: u.code for u in units}


def _keyset(stmt: Select[*Ts], id_column: Any, page: Page) -> Select[*Ts]:
    after = page.after(id_key)
    if after is not None:
        stmt = stmt.where(id_column > after)
    return stmt.order_by(id_column).limit(page.limit + 1)


# ---- units ----

_Parent = aliased(Unit)


def _unit_out(unit: Unit, parent_code: str | None) -> UnitOut:
    return UnitOut(
        id=unit.id,
        code=unit.code,
        name=unit.name,
        kind=unit.kind,
        parent=parent_code,
        lat=unit.lat,
        lon=unit.lon,
        webhook_url=unit.webhook_url,
        created_at=unit.created_at,
    )


async def _unit_or_404(session: AsyncSession, code: str) -> Unit:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise Problem(404, f"No unit with code {code!r}.")
    return unit


async def _unit_response(session: AsyncSession, unit: Unit) -> UnitOut:
    codes = await _codes(session, {unit.parent_id})
    return _unit_out(unit, codes.get(unit.parent_id) if unit.parent_id is not None else None)


@router.get("/units", response_model=UnitPage)
async def list_units(
    session: Session,
    _: Admin,
    page: PageDep,
    kind: Annotated[UnitKind | None, Query()] = None,
    parent: Annotated[Code | None, Query(description="direct children of this unit")] = None,
) -> UnitPage:
    stmt = select(Unit, _Parent.code).outerjoin(_Parent, _Parent.id == Unit.parent_id)
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind)
    if parent is not None:
        stmt = stmt.where(_Parent.code == parent)
    rows = (await session.execute(_keyset(stmt, Unit.id, page))).all()
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    return UnitPage(items=[_unit_out(u, p) for u, p in items], next_cursor=cursor)


@router.get("/units/{code}", response_model=UnitOut)
async def get_unit(code: CodePath, session: Session, _: Admin) -> UnitOut:
    return await _unit_response(session, await _unit_or_404(session, code))


@router.post("/units", response_model=UnitOut, status_code=201)
async def create_unit_endpoint(body: UnitCreate, session: Session, _: Admin) -> UnitOut:
    if await session.scalar(select(exists().where(Unit.code == body.code))):
        raise _conflict(f"A unit with code {body.code!r} already exists.")
    parent = await _unit_ref(session, body.parent, "parent")
    try:
        unit = await create_unit(
            session, body.code, body.name, body.kind, parent, lat=body.lat, lon=body.lon
        )
    except IntegrityError as exc:
        raise _conflict(f"A unit with code {body.code!r} already exists.") from exc
    unit.webhook_url = body.webhook_url
    await session.flush()
    await session.refresh(unit, ["created_at"])
    return _unit_out(unit, parent.code if parent is not None else None)


@router.patch("/units/{code}", response_model=UnitOut)
async def update_unit(code: CodePath, body: UnitUpdate, session: Session, _: Admin) -> UnitOut:
    _reject_nulls(body, ("name", "kind"))
    unit = await _unit_or_404(session, code)
    fields = body.model_fields_set
    if "parent" in fields:
        parent = await _unit_ref(session, body.parent, "parent")
        if parent is not None and is_in_subtree(parent, unit):
            raise _invalid("parent", "a unit cannot be moved under itself or its own subtree")
        await move_unit(session, unit, parent)
    for field in ("name", "kind", "lat", "lon", "webhook_url"):
        if field in fields:
            setattr(unit, field, getattr(body, field))
    await session.flush()
    return await _unit_response(session, unit)


_UNIT_REFERENCES: tuple[tuple[InstrumentedAttribute[Any], str], ...] = (
    (Unit.parent_id, "child units"),
    (Post.unit_id, "posts"),
    (User.unit_id, "users"),
    (RoutingRule.area_unit_id, "routing rules"),
    (RoutingRule.responsible_unit_id, "routing rules"),
    (Finding.place_unit_id, "findings"),
    (Finding.responsible_unit_id, "findings"),
    (Finding.district_id, "findings"),
)


@router.delete("/units/{code}", status_code=204, response_class=Response)
async def delete_unit(code: CodePath, session: Session, _: Admin) -> Response:
    unit = await _unit_or_404(session, code)
    return await _delete(session, unit, f"Unit {code!r}", _UNIT_REFERENCES)


# ---- people ----


def _person_out(p: Person) -> PersonOut:
    return PersonOut(
        id=p.id,
        name=p.name,
        title=p.title,
        phone=p.phone,
        email=p.email,
        webhook_url=p.webhook_url,
        created_at=p.created_at,
    )


async def _person_or_404(session: AsyncSession, person_id: int) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise Problem(404, f"No person with id {person_id}.")
    return person


@router.get("/people", response_model=PersonPage)
async def list_people(session: Session, _: Admin, page: PageDep) -> PersonPage:
    rows = (await session.scalars(_keyset(select(Person), Person.id, page))).all()
    items, cursor = split_page(rows, page.limit, lambda p: [p.id])
    return PersonPage(items=[_person_out(p) for p in items], next_cursor=cursor)


@router.get("/people/{person_id}", response_model=PersonOut)
async def get_person(person_id: IdPath, session: Session, _: Admin) -> PersonOut:
    return _person_out(await _person_or_404(session, person_id))


@router.post("/people", response_model=PersonOut, status_code=201)
async def create_person(body: PersonCreate, session: Session, _: Admin) -> PersonOut:
    person = Person(**body.model_dump())
    session.add(person)
    await session.flush()
    await session.refresh(person, ["created_at"])
    return _person_out(person)


@router.patch("/people/{person_id}", response_model=PersonOut)
async def update_person(
    person_id: IdPath, body: PersonUpdate, session: Session, _: Admin
) -> PersonOut:
    _reject_nulls(body, ("name",))
    person = await _person_or_404(session, person_id)
    for field in body.model_fields_set:
        setattr(person, field, getattr(body, field))
    await session.flush()
    return _person_out(person)


@router.delete("/people/{person_id}", status_code=204, response_class=Response)
async def delete_person(person_id: IdPath, session: Session, _: Admin) -> Response:
    person = await _person_or_404(session, person_id)
    refs = ((Post.person_id, "posts"), (User.person_id, "users"))
    return await _delete(session, person, f"Person {person_id}", refs)


# ---- posts ----


async def _post_out(session: AsyncSession, post: Post) -> PostOut:
    codes = await _codes(session, {post.unit_id})
    return PostOut(
        id=post.id,
        unit=codes[post.unit_id],
        role=post.role,
        person=post.person_id,
        valid_from=post.valid_from,
        valid_to=post.valid_to,
    )


async def _post_or_404(session: AsyncSession, post_id: int) -> Post:
    post = await session.get(Post, post_id)
    if post is None:
        raise Problem(404, f"No post with id {post_id}.")
    return post


async def _check_person(session: AsyncSession, person_id: int) -> None:
    if await session.get(Person, person_id) is None:
        raise _invalid("person", f"no person with id {person_id}")


def _check_validity(post: Post) -> None:
    if post.valid_to is not None and post.valid_to <= post.valid_from:
        raise _invalid("valid_to", "must be later than valid_from")


# Escalations are addressed to the one holder of these posts at firing time.
SINGLE_HOLDER_ROLES = ("head", "city_leader")


async def _check_single_holder(session: AsyncSession, post: Post) -> None:
    if post.role not in SINGLE_HOLDER_ROLES:
        return
    overlapping = (
        await session.execute(
            select(Post.id)
            .where(
                Post.unit_id == post.unit_id,
                Post.role == post.role,
                Post.id != post.id if post.id is not None else true(),
                or_(Post.valid_to.is_(None), Post.valid_to > post.valid_from),
                true() if post.valid_to is None else Post.valid_from < post.valid_to,
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if overlapping is not None:
        raise _conflict(
            f"Post {overlapping} already holds {post.role} of this unit in that period; "
            "end it (valid_to) before appointing the successor."
        )


@router.get("/posts", response_model=PostPage)
async def list_posts(
    session: Session,
    _: Admin,
    page: PageDep,
    unit: Annotated[Code | None, Query(description="posts of this unit")] = None,
) -> PostPage:
    stmt = select(Post, Unit.code).join(Unit, Unit.id == Post.unit_id)
    if unit is not None:
        stmt = stmt.where(Unit.code == unit)
    rows = (await session.execute(_keyset(stmt, Post.id, page))).all()
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    out = [
        PostOut(
            id=p.id,
            unit=code,
            role=p.role,
            person=p.person_id,
            valid_from=p.valid_from,
            valid_to=p.valid_to,
        )
        for p, code in items
    ]
    return PostPage(items=out, next_cursor=cursor)


@router.get("/posts/{post_id}", response_model=PostOut)
async def get_post(post_id: IdPath, session: Session, _: Admin) -> PostOut:
    return await _post_out(session, await _post_or_404(session, post_id))


@router.post("/posts", response_model=PostOut, status_code=201)
async def create_post(body: PostCreate, session: Session, _: Admin) -> PostOut:
    unit = await _unit_ref(session, body.unit, "unit")
    assert unit is not None  # noqa: S101 - the code is required by the schema
    await _check_person(session, body.person)
    post = Post(
        unit_id=unit.id,
        role=body.role,
        person_id=body.person,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
    )
    _check_validity(post)
    await _check_single_holder(session, post)
    session.add(post)
    await session.flush()
    return await _post_out(session, post)


@router.patch("/posts/{post_id}", response_model=PostOut)
async def update_post(post_id: IdPath, body: PostUpdate, session: Session, _: Admin) -> PostOut:
    _reject_nulls(body, ("unit", "role", "person", "valid_from"))
    post = await _post_or_404(session, post_id)
    fields = body.model_fields_set
    if body.unit is not None:
        unit = await _unit_ref(session, body.unit, "unit")
        assert unit is not None  # noqa: S101
        post.unit_id = unit.id
    if body.person is not None:
        await _check_person(session, body.person)
        post.person_id = body.person
    if body.role is not None:
        post.role = body.role
    if body.valid_from is not None:
        post.valid_from = body.valid_from
    if "valid_to" in fields:
        post.valid_to = body.valid_to
    _check_validity(post)
    await _check_single_holder(session, post)
    await session.flush()
    return await _post_out(session, post)


@router.delete("/posts/{post_id}", status_code=204, response_class=Response)
async def delete_post(post_id: IdPath, session: Session, _: Admin) -> Response:
    post = await _post_or_404(session, post_id)
    return await _delete(session, post, f"Post {post_id}", ())


# ---- categories ----


def _category_out(c: Category) -> CategoryOut:
    return CategoryOut(
        id=c.id,
        code=c.code,
        name=c.name,
        group=c.group,
        kind=c.kind,
        clock=c.clock,
        time_limit=c.time_limit,
        duplicate_radius_m=c.duplicate_radius_m,
        policy_code=c.policy_code,
        active=c.active,
    )


async def _category_or_404(session: AsyncSession, code: str) -> Category:
    category = await session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise Problem(404, f"No category with code {code!r}.")
    return category


def _check_time_limit(clock: str, time_limit: dict[str, Any]) -> None:
    errors = time_limit_errors(clock, time_limit)
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise Problem(
            422, f"The request is not valid: check {fields}.", kind="validation", errors=errors
        )


async def _check_policy(session: AsyncSession, code: str | None) -> None:
    if code is not None and not await session.scalar(
        select(exists().where(EscalationPolicy.code == code))
    ):
        raise _invalid("policy_code", f"no escalation policy with code {code!r}")


@router.get("/categories", response_model=CategoryPage)
async def list_categories(session: Session, _: Admin, page: PageDep) -> CategoryPage:
    rows = (await session.scalars(_keyset(select(Category), Category.id, page))).all()
    items, cursor = split_page(rows, page.limit, lambda c: [c.id])
    return CategoryPage(items=[_category_out(c) for c in items], next_cursor=cursor)


@router.get("/categories/{code}", response_model=CategoryOut)
async def get_category(code: CodePath, session: Session, _: Admin) -> CategoryOut:
    return _category_out(await _category_or_404(session, code))


@router.post("/categories", response_model=CategoryOut, status_code=201)
async def create_category(body: CategoryCreate, session: Session, _: Admin) -> CategoryOut:
    clock = body.clock or clock_of(body.time_limit) or "working_days"
    _check_time_limit(clock, body.time_limit)
    if await session.scalar(select(exists().where(Category.code == body.code))):
        raise _conflict(f"A category with code {body.code!r} already exists.")
    await _check_policy(session, body.policy_code)
    category = Category(
        code=body.code,
        name=body.name,
        group=body.group,
        kind=body.kind,
        clock=clock,
        time_limit=normalised_time_limit(body.time_limit),
        duplicate_radius_m=body.duplicate_radius_m,
        policy_code=body.policy_code,
        active=body.active,
    )
    session.add(category)
    await _flush(session, f"A category with code {body.code!r} already exists.")
    return _category_out(category)


@router.patch("/categories/{code}", response_model=CategoryOut)
async def update_category(
    code: CodePath, body: CategoryUpdate, session: Session, _: Admin
) -> CategoryOut:
    _reject_nulls(
        body, ("name", "group", "kind", "clock", "time_limit", "duplicate_radius_m", "active")
    )
    category = await _category_or_404(session, code)
    fields = body.model_fields_set
    clock: str
    time_limit = body.time_limit if body.time_limit is not None else category.time_limit
    if body.clock is not None:
        clock = body.clock
    elif body.time_limit is not None:
        # A new limit of the other kind brings its clock along unless one is given.
        clock = clock_of(body.time_limit) or category.clock
    else:
        clock = category.clock
    _check_time_limit(clock, time_limit)
    if "policy_code" in fields:
        await _check_policy(session, body.policy_code)
    category.clock = clock
    category.time_limit = normalised_time_limit(time_limit)
    for field in ("name", "group", "kind", "duplicate_radius_m", "policy_code", "active"):
        if field in fields:
            setattr(category, field, getattr(body, field))
    await session.flush()
    return _category_out(category)


@router.delete("/categories/{code}", status_code=204, response_class=Response)
async def delete_category(code: CodePath, session: Session, _: Admin) -> Response:
    category = await _category_or_404(session, code)
    refs = ((Finding.category_id, "findings"), (RoutingRule.category_id, "routing rules"))
    return await _delete(
        session, category, f"Category {code!r} (set active=false to retire it)", refs
    )


# ---- routing rules ----

_Area = aliased(Unit)
_Responsible = aliased(Unit)


def _rule_statement() -> Select[RoutingRule, str, str, str]:
    return (
        select(RoutingRule, Category.code, _Area.code, _Responsible.code)
        .outerjoin(Category, Category.id == RoutingRule.category_id)
        .join(_Area, _Area.id == RoutingRule.area_unit_id)
        .outerjoin(_Responsible, _Responsible.id == RoutingRule.responsible_unit_id)
    )


def _rule_out(row: Any) -> RoutingRuleOut:
    rule, category, area, responsible = row
    return RoutingRuleOut(
        id=rule.id,
        category=category,
        group=rule.group,
        area_unit=area,
        responsible_unit=responsible,
    )


async def _rule_response(session: AsyncSession, rule_id: int) -> RoutingRuleOut:
    row = (await session.execute(_rule_statement().where(RoutingRule.id == rule_id))).one()
    return _rule_out(row)


async def _rule_or_404(session: AsyncSession, rule_id: int) -> RoutingRule:
    rule = await session.get(RoutingRule, rule_id)
    if rule is None:
        raise Problem(404, f"No routing rule with id {rule_id}.")
    return rule


async def _category_ref(session: AsyncSession, code: str) -> Category:
    category = await session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise _invalid("category", f"no category with code {code!r}")
    return category


def _exactly_one(category: str | int | None, group: str | None) -> None:
    if (category is None) == (group is None):
        raise Problem(
            422,
            "A routing rule applies to exactly one of a category or a group.",
            kind="validation",
            errors=[
                {"field": "category", "message": "give exactly one of category and group"},
                {"field": "group", "message": "give exactly one of category and group"},
            ],
        )


async def _check_rule_unique(session: AsyncSession, rule: RoutingRule) -> None:
    same: list[ColumnElement[bool]] = [RoutingRule.area_unit_id == rule.area_unit_id]
    if rule.category_id is not None:
        same.append(RoutingRule.category_id == rule.category_id)
    else:
        same.append(RoutingRule.group == rule.group)
    if rule.id is not None:
        same.append(RoutingRule.id != rule.id)
    if await session.scalar(select(exists().where(*same))):
        raise _conflict(
            "A routing rule for this category or group in this area already exists; "
            "change that one instead."
        )


@router.get("/routing-rules", response_model=RoutingRulePage)
async def list_routing_rules(session: Session, _: Admin, page: PageDep) -> RoutingRulePage:
    rows = (await session.execute(_keyset(_rule_statement(), RoutingRule.id, page))).all()
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    return RoutingRulePage(items=[_rule_out(r) for r in items], next_cursor=cursor)


@router.get("/routing-rules/{rule_id}", response_model=RoutingRuleOut)
async def get_routing_rule(rule_id: IdPath, session: Session, _: Admin) -> RoutingRuleOut:
    await _rule_or_404(session, rule_id)
    return await _rule_response(session, rule_id)


@router.post("/routing-rules", response_model=RoutingRuleOut, status_code=201)
async def create_routing_rule(
    body: RoutingRuleCreate, session: Session, _: Admin
) -> RoutingRuleOut:
    _exactly_one(body.category, body.group)
    category = await _category_ref(session, body.category) if body.category else None
    area = await _unit_ref(session, body.area_unit, "area_unit")
    assert area is not None  # noqa: S101 - required by the schema
    responsible = await _unit_ref(session, body.responsible_unit, "responsible_unit")
    rule = RoutingRule(
        category_id=category.id if category is not None else None,
        group=body.group,
        area_unit_id=area.id,
        responsible_unit_id=responsible.id if responsible is not None else None,
    )
    await _check_rule_unique(session, rule)
    session.add(rule)
    await session.flush()
    return await _rule_response(session, rule.id)


@router.patch("/routing-rules/{rule_id}", response_model=RoutingRuleOut)
async def update_routing_rule(
    rule_id: IdPath, body: RoutingRuleUpdate, session: Session, _: Admin
) -> RoutingRuleOut:
    _reject_nulls(body, ("area_unit",))
    rule = await _rule_or_404(session, rule_id)
    fields = body.model_fields_set
    if "category" in fields:
        category = await _category_ref(session, body.category) if body.category else None
        rule.category_id = category.id if category is not None else None
    if "group" in fields:
        rule.group = body.group
    _exactly_one(rule.category_id, rule.group)
    if body.area_unit is not None:
        area = await _unit_ref(session, body.area_unit, "area_unit")
        assert area is not None  # noqa: S101
        rule.area_unit_id = area.id
    if "responsible_unit" in fields:
        responsible = await _unit_ref(session, body.responsible_unit, "responsible_unit")
        rule.responsible_unit_id = responsible.id if responsible is not None else None
    await _check_rule_unique(session, rule)
    await session.flush()
    return await _rule_response(session, rule.id)


@router.delete("/routing-rules/{rule_id}", status_code=204, response_class=Response)
async def delete_routing_rule(rule_id: IdPath, session: Session, _: Admin) -> Response:
    rule = await _rule_or_404(session, rule_id)
    return await _delete(session, rule, f"Routing rule {rule_id}", ())
