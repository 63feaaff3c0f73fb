"""Request and response bodies of the exposure-video endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.core.exposure.service import MAX_SEGMENTS

from .findings import CategoryRef, Location, UnitRef
from .wire import Day

OFFSET_PATTERN = r"^(\d{1,2}:[0-5]\d:[0-5]\d|\d{1,3}:[0-5]\d)$"


class RectifyWithin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working_days: int = Field(ge=1, le=365, description="counted from registration")


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID | None = Field(
        default=None,
        description="the finding's id; default: derived from the video id and the position",
    )
    offset: str = Field(
        pattern=OFFSET_PATTERN, description="where the problem is shown: mm:ss or hh:mm:ss"
    )
    category: str = Field(min_length=1, max_length=64, description="category code")
    description: str = Field(min_length=1, max_length=4000)
    location: Location
    unit: str | None = Field(default=None, max_length=64, description="unit code of the place")
    point_type: str | None = Field(default=None, max_length=64)


class ExposureVideoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID | None = Field(
        default=None, description="Client-generated UUID: the idempotency key of the video."
    )
    title: str = Field(min_length=1, max_length=300)
    publisher: str | None = Field(default=None, max_length=200)
    aired_on: Day = Field(description="the day it was broadcast")
    url: str | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$")
    rectify_within: RectifyWithin
    policy: str = Field(
        default="exposure_video", min_length=1, max_length=64, description="escalation policy"
    )
    segments: list[SegmentIn] = Field(min_length=1, max_length=MAX_SEGMENTS)


class Progress(BaseModel):
    segments: int = Field(description="segments in your scope")
    by_status: dict[str, int]
    overdue: int = Field(description="with the unit (assigned/accepted) and past due")
    escalated: int = Field(description="with at least one escalation fired")
    rectified: int = Field(description="closed as rectified")
    rectified_on_time: int = Field(description="closed as rectified, submitted by due_at")


class SegmentOut(BaseModel):
    id: uuid.UUID
    offset: str | None
    category: CategoryRef
    description: str
    location: Location
    status: str
    close_reason: str | None
    responsible_unit: UnitRef | None
    due_at: datetime | None
    overdue: bool
    escalation_level: int | None = Field(description="the highest escalation level fired")
    recurrence_of: uuid.UUID | None
    links: dict[str, str]


class ExposureVideoOut(BaseModel):
    id: uuid.UUID
    title: str
    publisher: str | None
    aired_on: date
    url: str | None
    rectify_within: RectifyWithin
    policy: str
    due_at: datetime = Field(description="the batch deadline of every segment")
    created_at: datetime
    progress: Progress
    segments: list[SegmentOut] | None = Field(
        default=None, description="in the order they appear; only on the single video"
    )
    links: dict[str, str]


class ExposureVideoPage(BaseModel):
    items: list[ExposureVideoOut]
    next_cursor: str | None
