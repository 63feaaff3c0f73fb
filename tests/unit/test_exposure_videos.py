"""Exposure-video offsets: parsed and normalised."""

from __future__ import annotations

import uuid

from services.core.exposure.service import parse_offset, segment_id


def test_offsets_parse_and_normalise() -> None:
    assert parse_offset("3:15") == ("03:15", 195)
    assert parse_offset("125:00") == ("125:00", 7500)
    assert parse_offset("1:02:03") == ("01:02:03", 3723)
    for bad in ("3:60", "1:60:00", "", "3", "-1:00", "1:2"):
        try:
            parse_offset(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    vid = uuid.uuid4()
    assert segment_id(vid, 0) == segment_id(vid, 0) != segment_id(vid, 1)
