"""Bodies of the commitments ledger (整改承诺台账) and personal supervision (领导包案)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.core.models import MeetingKind

from .wire import Code, Day, Title

# A pledge's text: several lines allowed, no NUL (PostgreSQL refuses it).
Pledge = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=r"^[^\x00]*$"),
]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    held_on: Day
    title: Annotated[Title, StringConstraints(min_length=1)]
    kind: MeetingKind
    videos: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="the exposure videos it reviewed"
    )


class MeetingOut(BaseModel):
    id: int
    held_on: date
    title: str
    kind: str
    videos: list[uuid.UUID] = Field(description="those with a segment in the caller's scope")
    commitments: int = Field(description="the commitments in the caller's scope")
    created_at: datetime


class MeetingPage(BaseModel):
    items: list[MeetingOut]
    next_cursor: str | None


class DeadlineIn(BaseModel):
    """Exactly one: a date, or working days counted from the meeting."""

    model_config = ConfigDict(extra="forbid")

    date: Day | None = None
    working_days: int | None = Field(default=None, ge=1, le=365, strict=True)


class CommitmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Code
    status_quo: Pledge = Field(description="现状")
    problems: Pledge = Field(description="存在问题")
    targets: Pledge = Field(description="目标")
    measures: Pledge = Field(description="措施")
    deadline: DeadlineIn = Field(description="完成时限")
    findings: list[uuid.UUID] = Field(default_factory=list, max_length=500)


class UnitOut(BaseModel):
    code: str
    name: str


class PersonOut(BaseModel):
    person_id: int
    name: str
    title: str | None


class SupervisorOut(PersonOut):
    since: datetime


class LevelOut(BaseModel):
    level: int
    target: str
    reason: str
    fired_at: datetime
    due_for: datetime
    target_name: str | None
    target_title: str | None
    target_unit: str


class CommitmentOut(BaseModel):
    id: int
    meeting: int
    meeting_title: str
    unit: UnitOut
    district: str | None
    status_quo: str
    problems: str
    targets: str
    measures: str
    deadline: dict[str, object]
    due_at: datetime
    leader: PersonOut | None = Field(description="the head of the unit when it was recorded")
    percent: int = Field(description="the progress the campaign office last accepted")
    status: Literal["on_track", "at_risk", "overdue", "done"]
    accepted_at: datetime | None
    findings: list[uuid.UUID] = Field(description="those in the caller's scope")
    personally_supervised: bool
    supervisors: list[SupervisorOut]
    escalations: list[LevelOut]
    created_at: datetime
    version: int


class CommitmentPage(BaseModel):
    items: list[CommitmentOut]
    next_cursor: str | None


class ProgressCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Pledge
    percent: int = Field(ge=0, le=100, strict=True)


class PhotoOut(BaseModel):
    id: uuid.UUID
    media_type: str
    bytes: int
    width: int
    height: int
    uploaded_at: datetime
    url: str


class ProgressOut(BaseModel):
    id: int
    commitment: int
    text: str
    percent: int
    reported_at: datetime
    review: Literal["pending", "accepted", "returned"]
    reviewed_at: datetime | None
    review_note: str | None
    photos: list[PhotoOut] = Field(default_factory=list)


class ProgressList(BaseModel):
    items: list[ProgressOut]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "return"]
    note: Note | None = None


class SupervisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


class SupervisionOut(BaseModel):
    id: int
    person_id: int
    finding: uuid.UUID | None
    commitment: int | None
    note: str | None
    started_at: datetime
    ended_at: datetime | None


class SupervisionList(BaseModel):
    items: list[SupervisionOut]


class EarlierOut(BaseModel):
    finding: uuid.UUID
    relation: Literal["recurrence_of", "possible_recurrence_of", "same_place"]
    description: str
    status: str
    close_reason: str | None
    reported_at: datetime
    video: str | None = Field(description="the exposure video it was a segment of")
    aired_on: date | None


class CommitmentBrief(BaseModel):
    id: int
    meeting_title: str
    unit: UnitOut
    targets: str
    due_at: datetime
    status: Literal["on_track", "at_risk", "overdue", "done"]
    personally_supervised: bool


class RevisitOut(BaseModel):
    segment: uuid.UUID
    description: str
    status: str
    video_offset: str | None
    earlier: list[EarlierOut] = Field(description="the earlier problems at its place")
    commitments: list[CommitmentBrief] = Field(description="the commitments that covered them")


class RevisitsOut(BaseModel):
    """回头看: what a follow-up exposure video revisits, segment by segment."""

    video: uuid.UUID
    items: list[RevisitOut]
