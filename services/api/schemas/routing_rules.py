"""Request and response bodies of /routing-rules: which unit is responsible for a category
(or a group of categories) at places in an area (DESIGN §3)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .categories import Group
from .wire import Code, Input


class RoutingRuleCreate(Input):
    category: Code | None = Field(default=None, description="category code (or give group)")
    group: Group | None = Field(default=None, description="category group (or give category)")
    area_unit: Code = Field(description="the rule applies to places in this unit's subtree")
    responsible_unit: Code | None = Field(
        default=None, description="null: territorial, the unit of the place itself"
    )


class RoutingRuleUpdate(Input):
    category: Code | None = None
    group: Group | None = None
    area_unit: Code | None = None
    responsible_unit: Code | None = None


class RoutingRuleOut(BaseModel):
    id: int
    category: str | None
    group: str | None
    area_unit: str
    responsible_unit: str | None


class RoutingRulePage(BaseModel):
    items: list[RoutingRuleOut]
    next_cursor: str | None
