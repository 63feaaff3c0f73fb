"""The rules of the reference data, as pure functions over values (no I/O).

Routing (DESIGN §3): who is responsible for a finding, from routing rules over the place's
ancestry. Facilities go to their owner department first, events to the territorial street
first: the seeded rules encode that, a rule with no responsible unit meaning "the unit of
the place". The rules themselves are read from the reference snapshot (snapshot.py).

Configuration: what an admin may store (a post's tenure, a category's time limit, a routing
rule's scope). Each check returns the (field, message) pairs at fault, empty when sound;
service.py turns them into refusals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.core.calendar.deadlines import MAX_WORKING_DAYS, parse_duration

FieldError = tuple[str, str]

# ---- routing ----


@dataclass(frozen=True)
class Rule:
    area_unit_id: int
    category_specific: bool
    responsible_unit_id: int | None


def ancestry(path: str) -> list[int]:
    """Unit ids from the root down to the unit itself, from its materialised path."""
    return [int(part) for part in path.strip("/").split("/") if part]


def choose(rules: Sequence[Rule], place_ancestry: Sequence[int], place_unit_id: int) -> int | None:
    """The rule for the nearest area wins; at the same area a category rule beats a group rule."""
    depth = {unit_id: i for i, unit_id in enumerate(place_ancestry)}
    applicable = [r for r in rules if r.area_unit_id in depth]
    if not applicable:
        return None
    best = max(applicable, key=lambda r: (depth[r.area_unit_id], r.category_specific))
    return best.responsible_unit_id if best.responsible_unit_id is not None else place_unit_id


def applies_to_errors(category: object | None, group: str | None) -> list[FieldError]:
    """A routing rule applies to exactly one of a category or a group of categories."""
    if (category is None) == (group is None):
        message = "give exactly one of category and group"
        return [("category", message), ("group", message)]
    return []


# ---- the unit tree ----


def is_within(path: str, root_path: str) -> bool:
    """Whether the unit at `path` lies in the subtree rooted at `root_path` (itself included)."""
    return path.startswith(root_path)


# ---- posts ----

# Escalations are addressed to the one holder of these posts at firing time.
SINGLE_HOLDER_ROLES = ("head", "city_leader")


def tenure_errors(valid_from: datetime, valid_to: datetime | None) -> list[FieldError]:
    if valid_to is not None and valid_to <= valid_from:
        return [("valid_to", "must be later than valid_from")]
    return []


# ---- categories ----


def clock_of(time_limit: Mapping[str, Any]) -> str | None:
    """The clock a time limit is counted on, or None when it is not one of the two shapes."""
    if set(time_limit) == {"working_days"}:
        return "working_days"
    if set(time_limit) == {"duration"}:
        return "continuous"
    return None


def clock_after_change(
    current: str, clock: str | None, time_limit: Mapping[str, Any] | None
) -> str:
    """A category's clock after an edit: the one given; else a new limit of the other kind
    brings its own clock along; else it stays."""
    if clock is not None:
        return clock
    if time_limit is not None:
        return clock_of(time_limit) or current
    return current


def time_limit_errors(clock: str, time_limit: Mapping[str, Any]) -> list[FieldError]:
    """What is wrong with a (clock, time limit) pair; empty when valid."""
    expected = clock_of(time_limit)
    if expected is None:
        shapes = 'must be exactly {"working_days": N} or {"duration": "<ISO 8601>"}'
        return [("time_limit", shapes)]
    if expected == "working_days":
        days = time_limit["working_days"]
        # bool is an int in Python; true is not a number of days.
        if not isinstance(days, int) or isinstance(days, bool):
            return [("time_limit.working_days", "must be an integer")]
        if not 1 <= days <= MAX_WORKING_DAYS:
            return [("time_limit.working_days", f"must be between 1 and {MAX_WORKING_DAYS}")]
    else:
        duration = time_limit["duration"]
        if not isinstance(duration, str):
            return [("time_limit.duration", "must be a string such as PT2H")]
        try:
            parse_duration(duration)
        except ValueError as exc:
            return [("time_limit.duration", str(exc))]
    if clock != expected:
        kind = next(iter(time_limit))
        return [("clock", f"a {kind} time limit needs the {expected} clock")]
    return []


def normalised_time_limit(time_limit: Mapping[str, Any]) -> dict[str, Any]:
    if "duration" in time_limit:
        return {"duration": str(time_limit["duration"]).strip().upper()}
    return dict(time_limit)


def urgent_time_limit_errors(limit: Mapping[str, Any] | None) -> list[FieldError]:
    """What is wrong with a category's urgent time limit (either shape; None: none)."""
    if limit is None:
        return []
    clock = clock_of(limit)
    if clock is None:
        shapes = 'must be exactly {"working_days": N} or {"duration": "<ISO 8601>"}'
        return [("urgent_time_limit", shapes)]
    return [
        (field.replace("time_limit", "urgent_time_limit", 1), message)
        for field, message in time_limit_errors(clock, limit)
    ]


def accept_within_errors(value: object) -> list[FieldError]:
    """What is wrong with a category's sign-for deadline (签收时限); None: none."""
    if value is None:
        return []
    shape = '{"working_hours": 0.5..240} or {"duration": "PT2H"}'
    if not isinstance(value, Mapping) or len(value) != 1:
        return [("accept_within", shape)]
    if "working_hours" in value:
        hours = value["working_hours"]
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0.5 <= hours <= 240:
            return [("accept_within.working_hours", "a number of hours from 0.5 to 240")]
        return []
    if "duration" in value:
        try:
            parse_duration(str(value["duration"]))
        except ValueError as exc:
            return [("accept_within.duration", str(exc))]
        return []
    return [("accept_within", shape)]
