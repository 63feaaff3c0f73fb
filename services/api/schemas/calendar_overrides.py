"""Local calendar overrides: a date made a working day or a day off (admin configuration)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .wire import Day, Title

OverrideKind = Literal["workday", "holiday"]


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day = Field(description="YYYY-MM-DD, local date")
    kind: OverrideKind = Field(description="workday: a day made working; holiday: a day off")
    note: Title | None = None


class OverrideUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: OverrideKind | None = None
    note: Title | None = None


class OverrideOut(BaseModel):
    date: dt.date
    kind: str
    note: str | None
    created_at: dt.datetime


class OverridePage(BaseModel):
    items: list[OverrideOut]
    next_cursor: str | None
