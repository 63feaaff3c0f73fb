"""Escalation policies (DESIGN §6): an ordered ladder of levels, addressed by code.

The ladder itself is checked by `services.core.escalation.rules.validate_levels`, the same rules the
sweep relies on, so a policy the API accepts is always one the worker can run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.core.escalation.rules import validate_levels
from services.core.models import CHANNELS

from .wire import Code, Name

LEVEL_KEYS = frozenset({"level", "target", "after", "channels"})
MAX_LEVELS = 9

Levels = list[dict[str, Any]]
LEVELS_DOC = (
    'ordered ladder: [{"level": 1, "target": "unit_head", "after": {"working_days": 0}, '
    '"channels": ["inbox", "webhook"]}]; `after` counts from the finding\'s due_at'
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyCreate(_In):
    code: Code
    name: Name
    reminder_at: float | None = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="pre-due reminder at this fraction of the time limit; null: none",
    )
    levels: Levels = Field(min_length=1, max_length=MAX_LEVELS, description=LEVELS_DOC)


class PolicyUpdate(_In):
    """Edits apply to findings dispatched afterwards; dispatched findings keep their snapshot."""

    name: Name | None = None
    reminder_at: float | None = Field(default=None, gt=0, lt=1)
    levels: Levels | None = Field(default=None, min_length=1, max_length=MAX_LEVELS)


class PolicyOut(BaseModel):
    code: str
    name: str
    reminder_at: float | None
    levels: Levels
    created_at: datetime
    updated_at: datetime


class PolicyPage(BaseModel):
    items: list[PolicyOut]
    next_cursor: str | None


def _channel_errors(i: int, level: Mapping[str, Any]) -> list[tuple[str, str]]:
    channels = level.get("channels", ["inbox"])
    field = f"levels[{i}].channels"
    allowed = ", ".join(CHANNELS)
    if not isinstance(channels, list) or not channels:
        return [(field, f"a non-empty list of {allowed}")]
    if any(not isinstance(c, str) or c not in CHANNELS for c in channels):
        return [(field, f"each one of {allowed}")]
    if len(set(channels)) != len(channels):
        return [(field, "each channel at most once")]
    return []


def ladder_errors(levels: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Everything wrong with a ladder, as (field, message) naming `levels[i].…`."""
    errors: list[tuple[str, str]] = []
    for i, level in enumerate(levels):
        unknown = sorted(set(level) - LEVEL_KEYS)
        if unknown:
            errors.append((f"levels[{i}]", f"unknown keys: {', '.join(unknown)}"))
        if isinstance(level.get("level"), bool):
            # bool is an int in Python; `true` is not level 1.
            errors.append((f"levels[{i}].level", "a unique level number from 1 to 9"))
        errors += _channel_errors(i, level)
    errors += validate_levels(levels)
    return sorted(set(errors))


def normalised_levels(levels: Sequence[Mapping[str, Any]]) -> Levels:
    """The stored form: sorted by level, durations upper-case, channels explicit."""
    out: Levels = []
    for level in sorted(levels, key=lambda lv: int(lv["level"])):
        after = dict(level["after"])
        if "duration" in after:
            after["duration"] = str(after["duration"]).strip().upper()
        out.append(
            {
                "level": level["level"],
                "target": level["target"],
                "after": after,
                "channels": list(level.get("channels", ["inbox"])),
            }
        )
    return out
