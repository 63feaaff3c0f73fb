"""The desks' pure rules: the buttons are the lifecycle table's own answers, the routing
suggestion comes from the snapshot, the figures a verifier compares, the outlines the phone
draws."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.core.desks.rules import (
    DISPATCH_DESK,
    HANDLER_TASK,
    VERIFY_DESK,
    age_words,
    allowed_actions,
    distance_m,
    outline,
    waited,
)
from services.core.findings.rules import Action
from services.core.identity.principal import Actor


@dataclass(frozen=True)
class Row:
    status: str
    submitted_by_id: int | None = None
    extension_requested_until: datetime | None = None
    possible_recurrence_of: uuid.UUID | None = None
    return_requested_at: datetime | None = None


def test_a_verifier_sees_no_button_on_their_own_or_their_units_submission() -> None:
    submitted = Row("submitted", submitted_by_id=7)
    assert allowed_actions(submitted, Actor(3, "verifier", False), VERIFY_DESK) == [
        Action.VERIFY,
        Action.REJECT,
    ]
    assert allowed_actions(submitted, Actor(7, "verifier", False), VERIFY_DESK) == []
    assert allowed_actions(submitted, Actor(3, "verifier", True), VERIFY_DESK) == []


def test_the_dispatchers_buttons_follow_the_state() -> None:
    dispatcher = Actor(1, "dispatcher", False)
    queued = allowed_actions(Row("reported"), dispatcher, DISPATCH_DESK)
    assert queued == [Action.DISPATCH, Action.MARK_DUPLICATE, Action.CLOSE_INVALID]
    asked = Row("accepted", extension_requested_until=datetime.now(UTC))
    assert Action.APPROVE_EXTENSION in allowed_actions(asked, dispatcher, DISPATCH_DESK)
    assert Action.APPROVE_EXTENSION not in allowed_actions(
        Row("accepted"), dispatcher, DISPATCH_DESK
    )
    # a handler of another unit has no task button
    assert allowed_actions(Row("assigned"), Actor(2, "unit_handler", False), HANDLER_TASK) == []


def test_return_requests_and_transfers_on_the_dispatchers_desk() -> None:
    dispatcher = Actor(1, "dispatcher", False)
    held = allowed_actions(Row("accepted"), dispatcher, DISPATCH_DESK)
    assert Action.TRANSFER in held
    assert Action.APPROVE_RETURN not in held
    asked = Row("accepted", return_requested_at=datetime.now(UTC))
    assert {Action.APPROVE_RETURN, Action.DENY_RETURN, Action.TRANSFER} <= set(
        allowed_actions(asked, dispatcher, DISPATCH_DESK)
    )
    assert Action.TRANSFER not in allowed_actions(Row("reported"), dispatcher, DISPATCH_DESK)


def test_a_co_handling_unit_only_adds_progress() -> None:
    co = Actor(2, "unit_handler", False, holds_co_unit=True)
    assert allowed_actions(Row("accepted"), co, HANDLER_TASK) == [Action.PROGRESS]
    lead = Actor(2, "unit_handler", True)
    assert allowed_actions(Row("accepted"), lead, HANDLER_TASK) == [
        Action.RETURN,
        Action.REQUEST_EXTENSION,
        Action.SUBMIT,
        Action.PROGRESS,
    ]
    asked = Row("accepted", return_requested_at=datetime.now(UTC))
    assert Action.RETURN not in allowed_actions(asked, lead, HANDLER_TASK)


def test_distances_ages_and_outlines() -> None:
    assert distance_m(36.0, 120.0, 36.001, 120.0) == pytest.approx(111.2, abs=0.1)
    assert distance_m(36.0, 120.0, 36.0, 120.0) == 0
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert age_words(waited(now - timedelta(days=2, hours=5, minutes=59), now)) == (2, 5)
    assert waited(now + timedelta(hours=1), now) == timedelta(0)  # a clock ahead: no age
    square = {
        "type": "Polygon",
        "coordinates": [[[120.0, 36.0], [120.0000001, 36.0], [120.01, 36.0], [120.01, 36.01],
                         [120.0, 36.01], [120.0, 36.0]]],
    }  # fmt: skip
    (ring,) = outline(square)
    assert ring[0] == ring[-1]
    assert len(ring) == 5  # the point 1 cm from a corner is simplified away
