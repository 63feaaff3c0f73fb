"""Day buckets of the closed-findings roll-up (`closed_finding_days`, migration 0008).

A bucket is a day at UTC+8, the city's day (China keeps one offset all year): the trigger
computes it without knowing any setting, and the city's weeks and months fall on its
boundaries. A window [since, until) is read as the whole days inside it, from the roll-up,
plus at most two partial days at its ends ("edges"), from the findings themselves; any
window is exact, an aligned one reads no raw rows at all. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

BUCKET_ZONE = timezone(timedelta(hours=8))


def bucket_day(at: datetime) -> date:
    return at.astimezone(BUCKET_ZONE).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BUCKET_ZONE)


@dataclass(frozen=True)
class DaySplit:
    """`whole`: the days [first, end) read from the roll-up (None bounds: unbounded), or None
    when the window holds no whole day; `edges`: the [start, end) spans read row by row."""

    whole: tuple[date | None, date | None] | None
    edges: tuple[tuple[datetime, datetime], ...]


def split(since: datetime | None, until: datetime | None) -> DaySplit:
    first = None if since is None else bucket_day(since)
    if since is not None and first is not None and day_start(first) < since:
        first += timedelta(days=1)
    end = None if until is None else bucket_day(until)
    if first is not None and end is not None and first >= end:
        # No whole day: the window is one edge.
        assert since is not None  # noqa: S101 - first comes from it
        assert until is not None  # noqa: S101 - end comes from it
        return DaySplit(None, ((since, until),) if since < until else ())
    edges = []
    if since is not None and first is not None and since < day_start(first):
        edges.append((since, day_start(first)))
    if until is not None and end is not None and day_start(end) < until:
        edges.append((day_start(end), until))
    return DaySplit((first, end), tuple(edges))
