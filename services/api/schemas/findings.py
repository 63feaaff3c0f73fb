"""Request and response bodies of the findings endpoints (DESIGN §7)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, Strict

from services.core.escalation.rules import Light
from services.core.findings.rules import Action
from services.core.models import SEVERITIES, SOURCES, SuspensionReason

from .wire import INT4_MAX, Degrees, Timestamp

Source = Literal[
    "inspection", "exposure_video", "self_assessment", "public_report", "leader_assigned"
]
Severity = Literal["normal", "urgent"]
assert set(SOURCES) == set(get_args(Source))  # noqa: S101 - keep the two lists in step
assert set(SEVERITIES) == set(get_args(Severity))  # noqa: S101
LightName = Literal["green", "yellow", "red"]
assert set(Light) == set(get_args(LightName))  # noqa: S101
LIGHT_DESCRIPTION = (
    "the traffic light (红黄绿灯) while the rectification clock runs (assigned, accepted): "
    "red past due, yellow from yellow_at (the plan's reminder fraction, 80 % by default, of "
    "the time from dispatch to due), else green; null while the clock does not run "
    "(reported, submitted, closed)"
)


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Degrees = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: Degrees = Field(ge=-180, le=180, description="WGS84 longitude")
    address: str | None = Field(default=None, max_length=500)


class FindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID | None = Field(
        default=None, description="Client-generated UUID: the idempotency key of the report."
    )
    source: Source = "inspection"
    category: str = Field(min_length=1, max_length=64, description="category code")
    severity: Severity = "normal"
    description: str = Field(min_length=1, max_length=4000)
    location: Location
    unit: str | None = Field(default=None, max_length=64, description="unit code of the place")
    point_type: str | None = Field(default=None, max_length=64)
    observed_at: Timestamp


class FindingBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    findings: list[dict[str, Any]] = Field(min_length=1)


class UnitRef(BaseModel):
    code: str
    name: str


class CategoryRef(BaseModel):
    code: str
    name: str


class Extension(BaseModel):
    requested_until: datetime | None
    count: int


class SuspensionOut(BaseModel):
    """A pending request to suspend (state requested) or a running suspension (active)."""

    id: int
    state: Literal["requested", "active"]
    reason: str
    note: str
    resume_at: datetime = Field(description="the expected date the clock runs again")
    requested_at: datetime
    suspended_at: datetime | None = Field(description="when the office approved it")


class FindingOut(BaseModel):
    id: uuid.UUID
    source: str
    category: CategoryRef
    severity: str
    description: str
    location: Location
    unit: UnitRef | None = Field(description="the unit of the place")
    responsible_unit: UnitRef | None
    district: UnitRef | None
    point_type: str | None
    observed_at: datetime
    reported_at: datetime
    reporter: str
    status: str
    close_reason: str | None
    dispatched_at: datetime | None
    due_at: datetime | None
    submitted_at: datetime | None
    closed_at: datetime | None
    next_escalation_at: datetime | None
    overdue: bool
    light: LightName | None = Field(description=LIGHT_DESCRIPTION)
    yellow_at: datetime | None = Field(
        description="when the light turns (or turned) yellow; moves with an extension"
    )
    rework_count: int
    extension: Extension
    return_requested_at: datetime | None = Field(
        default=None,
        description="when the responsible unit asked to return it (回退); a dispatcher "
        "approves (approve_return) or refuses (deny_return)",
    )
    co_units: list[UnitRef] = Field(
        default_factory=list,
        description="co-handling units (协办): they see the finding and add progress; the "
        "responsible unit (主办) accepts and submits",
    )
    recurrence_of: uuid.UUID | None = Field(
        description="the finding of the same responsible unit this one is a recurrence of"
    )
    possible_recurrence_of: uuid.UUID | None = Field(
        default=None,
        description="a finding another unit rectified nearby: a recurrence only if a "
        "dispatcher confirms it (confirm_recurrence / dismiss_recurrence)",
    )
    duplicate_of: uuid.UUID | None
    version: int
    suspension: SuspensionOut | None = Field(
        default=None,
        description="a pending request to suspend (挂账) or the running suspension",
    )
    accept_due_at: datetime | None = Field(
        default=None,
        description="the sign-for deadline (签收时限) of an assigned finding whose category "
        "has one; on GET /findings/{id} and a transition's answer",
    )
    accept_light: LightName | None = Field(
        default=None,
        description="the sign-for track's own light: red once assigned past accept_due_at, "
        "else green; null once accepted",
    )
    possible_duplicates: list[uuid.UUID] = Field(default_factory=list)
    links: dict[str, str]
    personally_supervised_by: list[str] = Field(
        default_factory=list,
        description="the leaders in personal charge of it (领导包案), whom its escalations "
        "reach too",
    )


SyncRemovalReason = Literal["closed_invalid", "closed_duplicate", "filtered_out", "out_of_scope"]


class Removed(BaseModel):
    """A row a phone should drop from its list (README "Sync for phones")."""

    id: str
    reason: SyncRemovalReason


class FindingPage(BaseModel):
    items: list[FindingOut]
    next_cursor: str | None
    # With `updated_since`: what to drop. On a list's first page, and on a sync's last:
    # the `updated_since` of the next sync.
    removed: list[Removed] = Field(default_factory=list)
    sync_cursor: str | None = None


class BatchResult(BaseModel):
    id: uuid.UUID | None
    outcome: Literal["created", "replayed", "conflict", "invalid"]
    finding: FindingOut | None = None
    problem: dict[str, Any] | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Action
    expected_version: Annotated[int, Strict()] | None = Field(default=None, ge=1, le=INT4_MAX)
    note: str | None = Field(default=None, max_length=4000)
    unit: str | None = Field(
        default=None, max_length=64, description="dispatch, transfer: unit code"
    )
    co_units: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None,
        max_length=20,
        description="dispatch, transfer: the co-handling units' codes (replaces the list)",
    )
    evidence: list[uuid.UUID] | None = Field(default=None, max_length=50)
    attachments: list[uuid.UUID] | None = Field(
        default=None,
        max_length=20,
        description="photos and files uploaded for this step (POST …/attachments), any action",
    )
    due_at: Timestamp | None = Field(default=None, description="extension: the new deadline")
    duplicate_of: uuid.UUID | None = Field(default=None, description="mark_duplicate: original")
    reason: SuspensionReason | None = Field(
        default=None, description="request_suspension: why the clock should stop (挂账)"
    )
    resume_at: Timestamp | None = Field(
        default=None,
        description="request_suspension (approve_suspension may change it): the expected "
        "date the clock runs again",
    )


class EventOut(BaseModel):
    id: int
    action: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    payload: dict[str, Any]
    at: datetime


class EventList(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


BulkAction = Literal["dispatch", "transfer", "approve_extension", "approve_return", "close_invalid"]


class BulkItem(BaseModel):
    """One finding of a bulk action; its own unit and note take precedence over the shared."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID
    expected_version: Annotated[int, Strict()] | None = Field(default=None, ge=1, le=INT4_MAX)
    unit: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=4000)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: BulkAction
    unit: str | None = Field(
        default=None, max_length=64, description="dispatch, transfer: for every item without one"
    )
    note: str | None = Field(
        default=None, max_length=4000, description="for every item without its own"
    )
    items: list[dict[str, Any]] = Field(
        min_length=1, description="up to 500 `{id, expected_version?, unit?, note?}`"
    )


class BulkResult(BaseModel):
    id: uuid.UUID | None
    outcome: Literal["done", "refused", "invalid"]
    finding: FindingOut | None = None
    problem: dict[str, Any] | None = None


class BulkResponse(BaseModel):
    results: list[BulkResult]
