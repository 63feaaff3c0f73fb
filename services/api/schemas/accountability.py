"""Bodies of the accountability ledger, the 问责 records and the 批示 follow-ups."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from .wire import Code, Day, Id, Input, Timestamp

Action = Literal[
    "reminder_talk", "interview", "public_criticism", "admonishment", "accountability", "other"
]
LedgerRole = Literal["head", "deputy", "handler", "city_leader", "verifier"]


class FollowUps(BaseModel):
    met: int
    missed: int
    pending: int


class CommitmentFiguresOut(BaseModel):
    """A commitment's own ladder, counted beside the findings' (its notices ask no 批示)."""

    received: int
    by_level: dict[str, int] = Field(description="commitment escalations received per level")
    delivered: int
    opened: int
    open_after_last_level: int = Field(
        description="commitments not accepted as done after their ladder's last level"
    )


class FiguresOut(BaseModel):
    received: int
    by_level: dict[str, int] = Field(description="escalations received per level, '1'..'4'")
    delivered: int
    opened: int
    acknowledged: int
    median_ack_working_hours: float | None
    instructions: int = Field(description="批示 given")
    rectified_after_instruction: int
    median_rectify_working_hours: float | None = Field(
        description="from the 批示 to the item's closing as rectified"
    )
    follow_ups: FollowUps
    open_after_level_4: int
    commitments: CommitmentFiguresOut = Field(
        description="the commitments' escalations, beside (not in) the findings' figures above"
    )


class LedgerEscalationOut(BaseModel):
    id: int
    finding_id: str
    level: int
    fired_at: datetime
    delivered: bool
    opened: bool
    acknowledged_at: datetime | None
    instruction: str | None
    follow_up_due: datetime | None
    rectified_at: datetime | None
    still_open: bool


class CommitmentLedgerEscalationOut(BaseModel):
    id: int
    commitment_id: int
    level: int
    fired_at: datetime
    delivered: bool
    opened: bool
    still_open: bool


class ShareOut(BaseModel):
    person_id: int | None
    person_name: str | None
    unit_name: str
    role: str
    figures: FiguresOut
    escalations: list[LedgerEscalationOut]
    commitment_escalations: list[CommitmentLedgerEscalationOut]


class TenureOut(BaseModel):
    post_id: int
    unit: str
    unit_name: str
    role: str
    person_id: int
    person_name: str
    valid_from: datetime
    valid_to: datetime | None


class LedgerOut(BaseModel):
    subject: Literal["person", "post"]
    name: str
    since: datetime
    until: datetime
    totals: FiguresOut
    shares: list[ShareOut] = Field(
        description="a person's: per post held; a post's: per holder at the time"
    )
    tenures: list[TenureOut]


# An escalation's or commitment's id in a body. The document states bounds as JSON numbers
# (doubles): bigint's largest id would be written as 2**63, so the bound is the largest
# double below it.
LINK_MAX = 2**63 - 1024
LinkId = Annotated[int, Field(ge=1, le=LINK_MAX)]
Summary = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class RecordIn(Input):
    action: Action
    person: Id | None = None
    unit: Code | None = None
    decided_on: Day
    summary: Summary
    escalations: list[LinkId] = Field(default_factory=list, max_length=200)
    commitments: list[LinkId] = Field(default_factory=list, max_length=200)


class RecordOut(BaseModel):
    id: int
    action: Action
    action_name: str
    person: int | None
    person_name: str | None
    unit: str | None
    unit_name: str | None
    decided_on: date
    summary: str
    created_by: str
    created_at: datetime
    escalations: list[int]
    commitments: list[int]


class RecordPage(BaseModel):
    items: list[RecordOut]
    next_cursor: str | None


class FollowUpIn(Input):
    due_at: Timestamp


class FollowUpOut(BaseModel):
    escalation_id: int
    due_at: datetime
    set_at: datetime


class PackIn(Input):
    """Exactly one subject: a finding, a commitment (with the findings it covers), a unit
    (its subtree) or a person; a unit's or a person's pack covers `since` to `until`."""

    finding: uuid.UUID | None = None
    commitment: Id | None = None
    unit: Code | None = None
    person: Id | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
