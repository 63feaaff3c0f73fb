"""Request and response bodies of /categories: what a finding is, its time limit and ladder.

The time limit's shape is checked by `services.core.reference.rules.time_limit_errors`, so
the problem names the exact field (`time_limit.working_days`, `clock`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from services.core.models import CategoryKind, ClockKind

from .wire import Code, Input, Name

Group = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]

# Described once for creating and for changing a category.
UrgentTimeLimit = Annotated[
    dict[str, Any] | None,
    Field(
        description="the limit of an urgent finding, either shape, e.g. "
        '{"duration": "PT4H"}; null: urgent findings get time_limit',
        examples=[{"duration": "PT4H"}],
    ),
]
AcceptWithin = Annotated[
    dict[str, Any] | None,
    Field(
        description="the sign-for deadline (签收时限): "
        '{"working_hours": 0.5..240} (office hours of working days) or {"duration": "PT2H"}; '
        "null: none",
        examples=[{"working_hours": 2}],
    ),
]


class CategoryCreate(Input):
    code: Code
    name: Name
    group: Group = Field(description="e.g. city_appearance, infrastructure, traffic_order")
    kind: CategoryKind
    clock: ClockKind | None = Field(
        default=None, description="derived from time_limit when omitted"
    )
    time_limit: dict[str, Any] = Field(
        description='{"working_days": 1..365} or {"duration": "PT2H"} (ISO 8601)',
        examples=[{"working_days": 2}, {"duration": "PT2H"}],
    )
    urgent_time_limit: UrgentTimeLimit = None
    accept_within: AcceptWithin = None
    duplicate_radius_m: int = Field(default=30, ge=1, le=10_000)
    policy_code: Code | None = "default"
    active: bool = True


class CategoryUpdate(Input):
    name: Name | None = None
    group: Group | None = None
    kind: CategoryKind | None = None
    clock: ClockKind | None = None
    time_limit: dict[str, Any] | None = None
    urgent_time_limit: UrgentTimeLimit = None
    accept_within: AcceptWithin = None
    duplicate_radius_m: int | None = Field(default=None, ge=1, le=10_000)
    policy_code: Code | None = None
    active: bool | None = None


class CategoryOut(BaseModel):
    id: int
    code: str
    name: str
    group: str
    kind: str
    clock: str
    time_limit: dict[str, Any]
    urgent_time_limit: dict[str, Any] | None
    accept_within: dict[str, Any] | None
    duplicate_radius_m: int
    policy_code: str | None
    active: bool


class CategoryPage(BaseModel):
    items: list[CategoryOut]
    next_cursor: str | None
