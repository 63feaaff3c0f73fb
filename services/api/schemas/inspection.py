"""Bodies of the campaign instruments' endpoints: evaluation points, criteria, plans, tasks,
inspections and coverage (DESIGN §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .findings import UnitRef


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
