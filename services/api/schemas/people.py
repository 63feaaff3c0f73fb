"""Request and response bodies of /people: the office holders posts and escalations name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from .wire import PRINTABLE, Input, ShortText, Title, WebhookUrl

# A person's name is stored in 100 characters (a unit's in 200).
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=PRINTABLE)
]


class PersonCreate(Input):
    name: PersonName
    title: Title | None = None
    phone: ShortText | None = None
    email: Title | None = None
    webhook_url: WebhookUrl | None = None


class PersonUpdate(Input):
    name: PersonName | None = None
    title: Title | None = None
    phone: ShortText | None = None
    email: Title | None = None
    webhook_url: WebhookUrl | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    webhook_url: str | None
    created_at: datetime


class PersonPage(BaseModel):
    items: list[PersonOut]
    next_cursor: str | None
