"""Bodies of the self-assessment (自评自测) endpoints."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from .wire import Code, Day, Name


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Code
    name: Name
    criteria_set: Code
    starts_on: Day
    ends_on: Day


class RoundOut(BaseModel):
    code: str
    name: str
    criteria_set: str
    starts_on: date
    ends_on: date
    created_at: datetime


class RoundList(BaseModel):
    items: list[RoundOut]


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    criterion: Code
    point: Code | None = Field(default=None, description="a point of the district, or none")
    score: float = Field(ge=0, le=1000, allow_inf_nan=False)
    note: str | None = Field(default=None, max_length=2000)


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: list[ScoreIn] = Field(min_length=1, max_length=5000)


class ScoreOut(BaseModel):
    criterion: str
    point: str | None
    score: float
    full_score: float
    note: str | None
    finding: str | None = Field(description="the finding a shortfall became, once approved")


class AssessmentOut(BaseModel):
    round: str
    district: str
    status: str = Field(description="draft | submitted | approved | returned")
    submitted_at: datetime | None
    approved_at: datetime | None
    findings: int | None = Field(default=None, description="shortfalls reported on approval")
    scores: list[ScoreOut]


class GapOut(BaseModel):
    district: str
    name: str
    status: str
    self_percent: float | None = Field(description="self-assessed, percent of full marks")
    inspected_percent: float | None = Field(
        description="what inspections measured at the same points and criteria in the period"
    )
    compared: int = Field(description="(criterion, point) pairs both cover")
    gap: float | None = Field(description="self − inspected, points of percent")
    flagged: bool = Field(description="gap above DUBAN_SELF_ASSESSMENT_GAP_POINTS")


class GapList(BaseModel):
    round: str
    threshold: float
    items: list[GapOut]
