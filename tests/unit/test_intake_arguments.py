"""The intake's SQL function reads the finding and its events as JSON (findings/store.py): the
text must give PostgreSQL back the same instant, id and words, and a value JSON has no type
for must not fail the report."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from services.core.findings.store import NewEvent, events_argument, json_argument


def test_times_ids_and_chinese_text_come_back_as_they_were() -> None:
    at = datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    finding_id = uuid.uuid4()
    argument = json_argument({"id": finding_id, "reported_at": at, "description": "垃圾堆放"})
    decoded = json.loads(argument)
    assert uuid.UUID(decoded["id"]) == finding_id
    assert datetime.fromisoformat(decoded["reported_at"]) == at
    assert decoded["description"] == "垃圾堆放"


def test_a_value_json_has_no_type_for_is_written_as_its_text() -> None:
    class Offset:
        def __str__(self) -> str:
            return "00:01:30"

    event = NewEvent(
        7,
        "report",
        None,
        "reported",
        {"video_offset": Offset(), "unit": None},
        at=datetime.now(UTC),
    )
    (decoded,) = json.loads(events_argument([event]))
    # None values are left out of the payload; the rest as text.
    assert decoded["payload"] == {"video_offset": "00:01:30"}
    assert decoded["actor_id"] == 7
