"""The configuration rules of the reference data as pure functions: a category's time limit
and clock, a post's tenure, a routing rule's scope, the unit tree."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.core.reference.rules import (
    applies_to_errors,
    clock_after_change,
    is_within,
    normalised_time_limit,
    tenure_errors,
    time_limit_errors,
)

T0 = datetime(2026, 1, 1, 8)


@pytest.mark.parametrize(
    ("clock", "limit", "fields"),
    [
        ("working_days", {"working_days": 2}, []),
        ("continuous", {"duration": "PT2H"}, []),
        ("working_days", {"working_days": 0}, ["time_limit.working_days"]),
        ("working_days", {"working_days": True}, ["time_limit.working_days"]),
        ("working_days", {"working_days": 2.0}, ["time_limit.working_days"]),
        ("continuous", {"duration": 7200}, ["time_limit.duration"]),
        ("continuous", {"duration": "soon"}, ["time_limit.duration"]),
        ("working_days", {"working_days": 2, "duration": "PT2H"}, ["time_limit"]),
        ("working_days", {}, ["time_limit"]),
        ("continuous", {"working_days": 2}, ["clock"]),
        ("working_days", {"duration": "PT2H"}, ["clock"]),
    ],
)
def test_a_time_limit_names_the_field_at_fault(
    clock: str, limit: dict[str, Any], fields: list[str]
) -> None:
    assert [field for field, _ in time_limit_errors(clock, limit)] == fields


@pytest.mark.parametrize(
    ("current", "clock", "limit", "after"),
    [
        ("working_days", None, None, "working_days"),  # nothing about the clock changed
        ("working_days", "continuous", None, "continuous"),  # the clock given wins
        ("working_days", None, {"duration": "PT2H"}, "continuous"),  # a limit brings its own
        ("continuous", None, {"working_days": 3}, "working_days"),
        ("continuous", "continuous", {"working_days": 3}, "continuous"),  # then refused
        ("continuous", None, {"neither": 1}, "continuous"),  # refused by the limit's check
    ],
)
def test_a_category_edit_keeps_or_changes_its_clock(
    current: str, clock: str | None, limit: dict[str, Any] | None, after: str
) -> None:
    assert clock_after_change(current, clock, limit) == after


def test_a_duration_is_stored_upper_case() -> None:
    assert normalised_time_limit({"duration": " pt2h "}) == {"duration": "PT2H"}
    assert normalised_time_limit({"working_days": 2}) == {"working_days": 2}


def test_a_tenure_ends_after_it_starts() -> None:
    assert tenure_errors(T0, None) == []
    assert tenure_errors(T0, T0 + timedelta(seconds=1)) == []
    assert [f for f, _ in tenure_errors(T0, T0)] == ["valid_to"]
    assert [f for f, _ in tenure_errors(T0, T0 - timedelta(days=1))] == ["valid_to"]


@pytest.mark.parametrize(
    ("category", "group", "fields"),
    [
        ("exposed_garbage", None, []),
        (None, "city_appearance", []),
        (None, None, ["category", "group"]),
        ("exposed_garbage", "city_appearance", ["category", "group"]),
    ],
)
def test_a_routing_rule_applies_to_a_category_or_a_group(
    category: str | None, group: str | None, fields: list[str]
) -> None:
    assert [f for f, _ in applies_to_errors(category, group)] == fields


def test_a_subtree_holds_its_root_and_its_descendants_only() -> None:
    assert is_within("/1/4/", "/1/4/")
    assert is_within("/1/4/17/", "/1/4/")
    assert not is_within("/1/", "/1/4/")
    assert not is_within("/1/5/", "/1/4/")
