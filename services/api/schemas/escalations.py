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
    personally_supervised_by: list[str] = Field(
        default_factory=list, description="the leaders in personal charge of it (领导包案)"
    )


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
    attachments: list[uuid.UUID] | None = Field(
        default=None,
        max_length=20,
        description="photos and files uploaded to the finding for this reply (POST …/attachments)",
    )


class AttemptOut(BaseModel):
    at: datetime
    finished_at: datetime | None
    outcome: str | None = Field(description="sent | retry | failed | in_doubt (null: under way)")
    provider_code: str | None = Field(description="errcode, SMTP reply, SMS Code, HTTP status")
    answer: str | None


class ChannelReceipt(BaseModel):
    notification_id: int
    channel: str
    target: str | None = Field(description="the mailbox, the number, or the robot's host")
    rank: int = Field(description="place in the recipient's fallback order")
    status: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    digest_id: int | None
    last_error: str | None
    attempts: list[AttemptOut]


class RecipientReceipt(BaseModel):
    kind: str = Field(description="person (the target) | group (a unit's work group)")
    person_id: int | None
    unit_id: int | None
    name: str | None
    state: str = Field(description="delivered | sent | held | sending | not_delivered | inbox_only")
    sent_at: datetime | None
    delivered_at: datetime | None = Field(description="where the provider tells")
    opened_at: datetime | None = Field(description="its link opened, or the inbox item read")
    acknowledged_at: datetime | None = Field(description="the target's 批示")
    inbox_sent_at: datetime | None
    channels: list[ChannelReceipt]


class ReceiptsOut(BaseModel):
    escalation_id: int
    delivery: str = Field(description="delivered | sending | held | not_delivered")
    recipients: list[RecipientReceipt]
