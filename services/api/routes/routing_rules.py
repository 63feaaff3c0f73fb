"""/routing-rules for admins (DESIGN §3, §7): which unit is responsible for a category (or
a group of categories) at places in an area, addressed by id.

A rule names exactly one of a category and a group, and an area has one rule for each
(services/core/reference/service.py); the nearest area's rule wins when routing
(services/core/reference/rules.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.core.reference import queries, service

from ..deps import Admin, Session
from ..pagination import PageDep, id_key, split_page
from ..schemas.routing_rules import (
    RoutingRuleCreate,
    RoutingRuleOut,
    RoutingRulePage,
    RoutingRuleUpdate,
)
from ..schemas.wire import IdPath

router = APIRouter(tags=["configuration"])


def _out(row: queries.RuleRow) -> RoutingRuleOut:
    rule, category, area, responsible = row
    return RoutingRuleOut(
        id=rule.id,
        category=category,
        group=rule.group,
        area_unit=area,
        responsible_unit=responsible,
    )


@router.get("/routing-rules", response_model=RoutingRulePage)
async def list_routing_rules(session: Session, _: Admin, page: PageDep) -> RoutingRulePage:
    rows = await queries.routing_rules_page(session, page.after(id_key), page.limit + 1)
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    return RoutingRulePage(items=[_out(r) for r in items], next_cursor=cursor)


@router.get("/routing-rules/{rule_id}", response_model=RoutingRuleOut)
async def get_routing_rule(rule_id: IdPath, session: Session, _: Admin) -> RoutingRuleOut:
    await service.routing_rule(session, rule_id)
    return _out(await queries.routing_rule_row(session, rule_id))


@router.post("/routing-rules", response_model=RoutingRuleOut, status_code=201)
async def create_routing_rule(
    body: RoutingRuleCreate, session: Session, _: Admin
) -> RoutingRuleOut:
    rule = await service.create_routing_rule(session, **body.model_dump())
    return _out(await queries.routing_rule_row(session, rule.id))


@router.patch("/routing-rules/{rule_id}", response_model=RoutingRuleOut)
async def update_routing_rule(
    rule_id: IdPath, body: RoutingRuleUpdate, session: Session, _: Admin
) -> RoutingRuleOut:
    changes = body.model_dump(exclude_unset=True)
    rule = await service.update_routing_rule(session, rule_id, changes)
    return _out(await queries.routing_rule_row(session, rule.id))


@router.delete("/routing-rules/{rule_id}", status_code=204, response_class=Response)
async def delete_routing_rule(rule_id: IdPath, session: Session, _: Admin) -> Response:
    await service.delete_routing_rule(session, rule_id)
    return Response(status_code=204)
