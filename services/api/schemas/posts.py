"""Request and response bodies of /posts: who holds which role in a unit, and since when."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.core.models import PostRole

from .wire import Code, Id, Input, Timestamp


class PostCreate(Input):
    unit: Code = Field(description="unit code")
    role: PostRole
    person: Id = Field(description="person id")
    valid_from: Timestamp
    valid_to: Timestamp | None = Field(
        default=None, description="end of the tenure; null while the person holds the post"
    )


class PostUpdate(Input):
    unit: Code | None = None
    role: PostRole | None = None
    person: Id | None = None
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None


class PostOut(BaseModel):
    id: int
    unit: str
    role: str
    person: int
    valid_from: datetime
    valid_to: datetime | None


class PostPage(BaseModel):
    items: list[PostOut]
    next_cursor: str | None
