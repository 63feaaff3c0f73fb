"""Response bodies of the inbox and the outbox (notifications) endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from services.core.models import CHANNELS, NOTIFICATION_STATUSES

Status = Literal["pending", "sent", "failed", "standby", "skipped", "digested", "in_doubt"]
Channel = Literal["inbox", "webhook", "dingtalk", "wecom", "email", "sms"]
assert set(NOTIFICATION_STATUSES) == set(get_args(Status))  # noqa: S101 - keep them in step
assert set(CHANNELS) == set(get_args(Channel))  # noqa: S101


class InboxItem(BaseModel):
    id: int
    kind: str = Field(
        description="escalation | reminder (a finding's) | undelivered (to the campaign office: "
        "escalations that reached nobody) | task_reminder | task_escalation (an overdue "
        "inspection task's) | commitment (an overdue commitment's level)"
    )
    subject: str
    payload: dict[str, Any]
    finding_id: uuid.UUID | None = Field(
        description="null for an office notice and an inspection task's notice"
    )
    task_id: int | None = Field(default=None, description="the overdue inspection task")
    commitment_id: int | None = Field(default=None, description="the overdue commitment")
    escalation_id: int | None
    created_at: datetime
    read_at: datetime | None
    read: bool
    links: dict[str, str]


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None


class Recipient(BaseModel):
    person: str | None = Field(description="the person's name; null for a unit's webhook")
    unit: str | None = Field(description="unit code")
    unit_name: str | None


class NotificationOut(BaseModel):
    id: int
    kind: str
    channel: Channel
    status: Status
    recipient: Recipient
    address: str | None = Field(description="webhook: scheme and host only (URLs hold tokens)")
    subject: str
    finding_id: uuid.UUID | None
    task_id: int | None = None
    escalation_id: int | None
    contact_point_id: int | None = Field(description="the robot, mailbox, phone or webhook")
    chain_rank: int = Field(description="place in the recipient's fallback order (0: first)")
    digest_id: int | None = Field(description="the digest message that carried it")
    attempts: int
    last_error: str | None
    created_at: datetime
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None = Field(description="the provider says it arrived")
    opened_at: datetime | None = Field(description="its signed link was first opened")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
