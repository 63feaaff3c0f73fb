"""Local calendar overrides: a date made a working day or a day off (admin configuration)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .config import Title

OverrideKind = Literal["workday", "holiday"]
# The calendar answers for these years (as GET /calendar/{year} does).
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _plain_date(value: object) -> object:
    # Lax parsing would take "2026-10-01T00:00:00" or a Unix time for a date.
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _in_range(day: dt.date) -> dt.date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR}–{LAST_YEAR}")
    return day


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="YYYY-MM-DD, local date")
    kind: OverrideKind = Field(description="workday: a day made working; holiday: a day off")
    note: Title | None = None

    _plain = field_validator("date", mode="before")(_plain_date)
    _range = field_validator("date")(_in_range)


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
