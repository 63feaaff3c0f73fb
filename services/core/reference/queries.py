"""Reads of the reference data for the configuration screens and the dispatch: pages of
units, people, posts, categories and routing rules (admins only, so unscoped), with the
codes clients address them by."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.models import Category, Person, Post, RoutingRule, Unit
from services.core.platform.keyset import keyset
from services.core.reference.rules import ancestry

_Parent = aliased(Unit)
_Area = aliased(Unit)
_Responsible = aliased(Unit)

# A routing rule with the codes of its category, area and responsible unit.
RuleRow = Row[RoutingRule, str | None, str, str | None]


async def unit_codes(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    units = await session.scalars(select(Unit).where(Unit.id.in_(wanted)))
    return {u.id: u.code for u in units}


async def district_of(session: AsyncSession, unit: Unit) -> int | None:
    """The district a unit belongs to (itself if it is one); None above district level."""
    return (
        await session.execute(
            select(Unit.id)
            .where(Unit.id.in_(ancestry(unit.path)), Unit.kind == "district")
            .limit(1)
        )
    ).scalar_one_or_none()


async def units_page(
    session: AsyncSession, after: int | None, limit: int, *, kind: str | None, parent: str | None
) -> Sequence[Row[Unit, str | None]]:
    """Units with their parent's code; `parent`: the direct children of that unit."""
    stmt: Select[Unit, str | None] = select(Unit, _Parent.code).outerjoin(
        _Parent, _Parent.id == Unit.parent_id
    )
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind)
    if parent is not None:
        stmt = stmt.where(_Parent.code == parent)
    return (await session.execute(keyset(stmt, Unit.id, after, limit))).all()


async def people_page(session: AsyncSession, after: int | None, limit: int) -> Sequence[Person]:
    return (await session.scalars(keyset(select(Person), Person.id, after, limit))).all()


async def posts_page(
    session: AsyncSession, after: int | None, limit: int, *, unit: str | None
) -> Sequence[Row[Post, str]]:
    """Posts with their unit's code; `unit`: that unit's posts only."""
    stmt = select(Post, Unit.code).join(Unit, Unit.id == Post.unit_id)
    if unit is not None:
        stmt = stmt.where(Unit.code == unit)
    return (await session.execute(keyset(stmt, Post.id, after, limit))).all()


async def categories_page(
    session: AsyncSession, after: int | None, limit: int
) -> Sequence[Category]:
    return (await session.scalars(keyset(select(Category), Category.id, after, limit))).all()


def _rules() -> Select[RoutingRule, str | None, str, str | None]:
    return (
        select(RoutingRule, Category.code, _Area.code, _Responsible.code)
        .outerjoin(Category, Category.id == RoutingRule.category_id)
        .join(_Area, _Area.id == RoutingRule.area_unit_id)
        .outerjoin(_Responsible, _Responsible.id == RoutingRule.responsible_unit_id)
    )


async def routing_rules_page(
    session: AsyncSession, after: int | None, limit: int
) -> Sequence[RuleRow]:
    return (await session.execute(keyset(_rules(), RoutingRule.id, after, limit))).all()


async def routing_rule_row(session: AsyncSession, rule_id: int) -> RuleRow:
    return (await session.execute(_rules().where(RoutingRule.id == rule_id))).one()
