"""Bodies of the contact-point configuration (where people and units are reached)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .wire import Code, WebhookUrl

Kind = Literal["dingtalk", "wecom", "email", "sms", "webhook"]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"
    ),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{5,20}$")]
Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Position = Annotated[int, Field(ge=0, le=100)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class ContactPointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = Field(
        default=None, description="the person reached (exactly one of person_id and unit)"
    )
    unit: Code | None = Field(default=None, description="the unit (its work group), by code")
    kind: Kind
    url: WebhookUrl | None = Field(
        default=None,
        description="dingtalk, wecom, webhook: the robot's or receiver's URL as the provider "
        "gives it (with its access_token or key); stored sealed, never shown again",
    )
    secret: Secret | None = Field(
        default=None, description="dingtalk signed mode (加签): the robot's SEC… secret; sealed"
    )
    email: Email | None = Field(default=None, description="email: the mailbox")
    phone: Phone | None = Field(default=None, description="sms: the mobile number")
    position: Position = Field(default=0, description="fallback order: lower is tried first")
    active: bool = True
    label: Label | None = None


class ContactPointUpdate(BaseModel):
    """Only what is given changes; a new `url` or `secret` is sealed anew."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    secret: Secret | None = None
    email: Email | None = None
    phone: Phone | None = None
    position: Position | None = None
    active: bool | None = None
    label: Label | None = None


class ContactPointOut(BaseModel):
    id: int
    person_id: int | None
    unit: str | None
    kind: Kind
    target: str = Field(description="the mailbox, the number, or the URL's scheme and host")
    signed: bool = Field(description="a signing secret is stored (DingTalk 加签)")
    position: int
    active: bool
    label: str | None
    created_at: datetime


class ContactPointPage(BaseModel):
    items: list[ContactPointOut]
    next_cursor: str | None
