"""Bodies of the campaign instruments' endpoints: evaluation points, criteria, plans, tasks,
inspections and coverage (DESIGN §10)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .findings import Removed, UnitRef
from .wire import Code, Day, Degrees, Name, Timestamp


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
    removed: list[Removed] = Field(default_factory=list)
    sync_cursor: str | None = None


class InspectionLocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Degrees = Field(ge=-90, le=90, description="WGS84 latitude where the inspector stood")
    lon: Degrees = Field(ge=-180, le=180)


class InspectionItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    criterion: Code = Field(description="the check item's code")
    outcome: Literal["pass", "fail", "na"]
    note: str | None = Field(default=None, max_length=2000)
    category: Code | None = Field(
        default=None, description="a fail's finding category; default: the criterion's"
    )
    description: str | None = Field(
        default=None, min_length=1, max_length=4000, description="a fail's finding text"
    )
    severity: Literal["normal", "urgent"] = "normal"


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID | None = Field(
        default=None, description="client-generated UUID: the idempotency key of the visit"
    )
    point: Code
    criteria_set: Code | None = Field(
        default=None, description="default: the version of the plan whose task this fulfils"
    )
    observed_at: Timestamp
    location: InspectionLocation
    items: list[InspectionItem] = Field(
        max_length=500,
        description="every applicable field check answered: pass, fail (becomes a finding) "
        "or na; with no fail the visit is the record that nothing was found",
    )
    note: str | None = Field(default=None, max_length=4000)


class ResultOut(BaseModel):
    criterion: str
    name: str
    outcome: str
    finding: uuid.UUID | None = Field(description="the finding a fail became")
    note: str | None


class InspectionOut(BaseModel):
    id: uuid.UUID
    point: str
    inspector: str
    criteria_set: str
    observed_at: datetime
    recorded_at: datetime
    location: InspectionLocation
    distance_m: float = Field(description="from the point's position")
    flags: list[str] = Field(description="far: beyond DUBAN_GPS_TOLERANCE_M of the point")
    passed: int
    failed: int
    not_applicable: int
    nothing_found: bool
    task: int | None = Field(description="the inspection task this visit fulfilled")
    note: str | None
    results: list[ResultOut] | None = None


class InspectionPage(BaseModel):
    items: list[InspectionOut]
    next_cursor: str | None
    removed: list[Removed] = Field(default_factory=list)
    sync_cursor: str | None = None


class CoverageItem(BaseModel):
    code: str | None = Field(description="district, street or point type code; null: none")
    name: str
    tasks_due: int = Field(description="inspection tasks due in the period")
    tasks_done: int
    points_due: int = Field(description="points with a task due in the period")
    points_inspected: int = Field(description="of those, points whose task was done")
    coverage: float | None = Field(description="tasks_done ÷ tasks_due; null when none due")
    overdue: int = Field(description="tasks of the period not done and past due, now")
    blind_spots: int = Field(description="active points not inspected for `blind_spot_days`")


class CoverageOut(BaseModel):
    by: str
    since: datetime
    until: datetime
    blind_spot_days: int
    generated_at: datetime
    items: list[CoverageItem]


class BlindSpotOut(BaseModel):
    point: str
    name: str
    type: str
    district: str | None
    street: str | None
    lat: float
    lon: float
    last_inspected_at: datetime | None = Field(description="null: never inspected")
    days_unvisited: int | None


class BlindSpotList(BaseModel):
    days: int
    items: list[BlindSpotOut]


class InspectionPhotoOut(BaseModel):
    id: uuid.UUID
    sha256: str
    media_type: str
    bytes: int
    gps: InspectionLocation | None = Field(description="from the photo's EXIF, if any")
    flags: list[str] = Field(
        description="far: taken beyond DUBAN_GPS_TOLERANCE_M of the point; "
        "unverified_metadata: no capture time or position in the photo"
    )
    uploaded_at: datetime


class InspectionPhotoList(BaseModel):
    items: list[InspectionPhotoOut]
