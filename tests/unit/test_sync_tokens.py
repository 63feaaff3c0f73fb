"""Sync tokens (services/core/sync/rules.py): what a snapshot sees, and tokens that are not
ones a sync issued refused before they reach the database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.core.sync.rules import BadToken, Snapshot, Token, decode, parse_snapshot


def test_a_snapshot_sees_what_committed_before_it_and_not_what_was_in_progress() -> None:
    snap = parse_snapshot("100:110:103,107")
    assert snap == Snapshot(100, 110, (103, 107))
    assert snap.sees(99)
    assert snap.sees(104)
    assert not snap.sees(103)  # in progress when it was taken: sent by the next sync
    assert not snap.sees(110)
    assert str(snap) == "100:110:103,107"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1:2",
        "5:4:",
        "0:4:",
        "1:10:12",
        "1:10:5,3",
        "1:10:3,3",
        "a:b:",
        "1:99999999999999999999:",
    ],
)
def test_snapshots_postgresql_would_refuse_are_refused(text: str) -> None:
    with pytest.raises(BadToken):
        parse_snapshot(text)


def test_tokens_round_trip() -> None:
    since = Snapshot(5, 9, (6,))
    bound = Snapshot(8, 12, ())
    for token in (
        Token(since),
        Token(datetime(2026, 1, 1, tzinfo=UTC)),
        Token(since, bound, (0, 8, "0193b2c4-5f1e-7c3a-9a51-2d9b8f3e4a10")),
        Token(since, bound, (1, 11, "42")),
    ):
        assert decode(token.encode()) == token
    assert Token(since, bound).next_sync() == Token(bound)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00+08:00",  # a time is not a token
        "s1.",
        "s1.!!!",
        "s1.bnVsbA",  # null
        "s1.eyJzIjoiMjAyNi0wMS0wMVQwMDowMDowMCJ9",  # a time without an offset
        "s1.eyJzIjoiMToyOiIsImIiOiIxOjI6IiwiYSI6WzIsMSwieCJdfQ",  # phase 2
        "s1." + base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode(),  # too deep
    ],
)
def test_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(BadToken):
        decode(text)
