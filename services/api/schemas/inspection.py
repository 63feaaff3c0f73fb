"""Bodies of the campaign instruments' endpoints: evaluation points, criteria, plans, tasks,
inspections and coverage (DESIGN §10)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .findings import UnitRef
from .wire import Code, Day, Name


class PointTypeOut(BaseModel):
    code: str
    name: str
    active: bool


class PointTypeList(BaseModel):
    items: list[PointTypeOut]


class PointOut(BaseModel):
    code: str
    name: str
    type: PointTypeOut
    lat: float
    lon: float
    outline: dict[str, Any] | None = Field(description="GeoJSON Polygon, if the point has one")
    address: str | None
    unit: UnitRef = Field(description="the unit of the place")
    responsible_unit: str | None = Field(description="unit code; null: the unit of the place")
    district: str | None = Field(description="district code")
    active: bool
    last_inspected_at: datetime | None


class PointPage(BaseModel):
    items: list[PointOut]
    next_cursor: str | None


class CriterionOut(BaseModel):
    code: str
    name: str
    parent: str | None = Field(description="the parent indicator's code")
    full_score: float
    point_types: list[str] = Field(description="point types it applies to; empty: all")
    check_items: str | None
    method: str = Field(description="field | questionnaire | records")
    category: str | None = Field(description="the category a failed check is reported under")
    leaf: bool = Field(description="a check item (no indicator below it)")


class CriteriaSetOut(BaseModel):
    code: str
    name: str
    created_at: datetime
    criteria: list[CriterionOut] | None = None


class CriteriaSetList(BaseModel):
    items: list[CriteriaSetOut]


Frequency = Literal["weekly", "monthly", "once"]
PlanKind = Literal["routine", "survey"]


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Code
    name: Name
    kind: PlanKind = Field(
        default="routine", description="routine (巡查计划) or survey (a one-off 摸底排查 round)"
    )
    criteria_set: Code = Field(description="the criteria version the inspections check against")
    starts_on: Day
    ends_on: Day
    units: list[Code] = Field(
        default_factory=list, max_length=200,
        description="unit codes whose subtrees are in scope; empty: the whole city",
    )  # fmt: skip
    frequencies: dict[Code, Frequency] = Field(
        min_length=1, max_length=100,
        description='point types in scope and how often each point is due: '
        '{"farmers_market": "weekly", "back_alley": "monthly"}',
    )  # fmt: skip
    assignees: list[Code] = Field(
        min_length=1, max_length=500, description="inspectors' usernames; the points go in turn"
    )


class PlanOut(BaseModel):
    code: str
    name: str
    kind: str
    criteria_set: str
    starts_on: date
    ends_on: date
    units: list[str]
    frequencies: dict[str, str]
    assignees: list[str]
    tasks: int
    done: int
    overdue: int
    created_at: datetime


class PlanList(BaseModel):
    items: list[PlanOut]


class TaskOut(BaseModel):
    id: int
    plan: str
    point: str = Field(description="point code")
    point_name: str
    assignee: str | None = Field(description="username")
    opens_at: datetime
    due_at: datetime
    status: Literal["open", "done", "overdue"]
    done_at: datetime | None
    inspection: uuid.UUID | None
    reminded_at: datetime | None
    escalated_at: datetime | None


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None
