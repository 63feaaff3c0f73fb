"""Bodies of the supervision endpoints: the escalation list and the acknowledgement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.escalation.acknowledge import MAX_INSTRUCTION

from .findings import LIGHT_DESCRIPTION, CategoryRef, LightName, UnitRef

EscalationStatus = Literal["open", "acknowledged", "resolved"]
Reason = Literal["overdue", "vacant_post"]


class FindingSummary(BaseModel):
    id: uuid.UUID
    category: CategoryRef
    description: str
    responsible_unit: UnitRef | None
    due_at: datetime | None
    status: str
    light: LightName | None = Field(description=LIGHT_DESCRIPTION)


class TargetOut(BaseModel):
    kind: str = Field(description="unit_head, district_head, city_leader, discipline_commission")
    person_id: int | None
    name: str | None = Field(description="the person addressed, as they were when it fired")
    title: str | None
    unit: UnitRef


class EscalationOut(BaseModel):
    id: int
    finding: FindingSummary
    level: int
    target: TargetOut
    reason: Reason
    source: str
    fired_at: datetime
    due_for: datetime = Field(description="when the level was due")
    lag_seconds: float = Field(description="fired_at - due_for")
    district: UnitRef | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    instruction: str | None
    resolved_at: datetime | None
    status: EscalationStatus


class EscalationPage(BaseModel):
    items: list[EscalationOut]
    next_cursor: str | None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # PostgreSQL refuses NUL in text; line breaks are welcome in an instruction.
    instruction: str = Field(
        min_length=1,
        max_length=MAX_INSTRUCTION,
        pattern=r"^[^\x00]*$",
        description="the leader's instruction (批示)",
    )
