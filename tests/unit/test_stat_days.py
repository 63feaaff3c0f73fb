"""Splitting a window of time into whole days and partial edges (the roll-ups' days)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from services.core.stats.days import BUCKET_ZONE, DaySplit, day_start, split


def test_split_whole_days_and_edges() -> None:
    d = date(2026, 6, 1)
    start = day_start(d)
    assert start == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)
    assert split(None, None) == DaySplit((None, None), ())
    # aligned on the city's days: no raw rows at all
    assert split(start, day_start(date(2026, 7, 1))) == DaySplit((d, date(2026, 7, 1)), ())
    # a UTC month: two partial days
    since, until = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    assert split(since, until) == DaySplit(
        (date(2026, 6, 2), date(2026, 7, 1)),
        ((since, day_start(date(2026, 6, 2))), (day_start(date(2026, 7, 1)), until)),
    )
    # within one day, or across one midnight without a whole day: one edge
    a = start + timedelta(hours=1)
    assert split(a, a + timedelta(hours=2)) == DaySplit(None, ((a, a + timedelta(hours=2)),))
    assert split(a, a + timedelta(hours=30)) == DaySplit(None, ((a, a + timedelta(hours=30)),))
    assert split(a, a) == DaySplit(None, ())
    assert split(None, a) == DaySplit((None, d), ((start, a),))
    assert split(a, None) == DaySplit((d + timedelta(days=1), None), ((a, start + timedelta(1)),))
    assert BUCKET_ZONE.utcoffset(None) == timedelta(hours=8)


@pytest.mark.parametrize("hours", [0, 7, 8, 16, 23])
def test_split_covers_the_window_exactly(hours: int) -> None:
    since = datetime(2026, 3, 4, hours, 17, tzinfo=UTC)
    until = since + timedelta(days=9, hours=hours)
    s = split(since, until)
    assert s.whole is not None
    first, end = s.whole
    assert first is not None
    assert end is not None
    spans = sorted([(day_start(first), day_start(end)), *s.edges])
    assert spans[0][0] == since
    assert spans[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
