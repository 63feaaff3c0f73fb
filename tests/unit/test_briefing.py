"""The weekly briefing's weeks: ISO weeks and the last full week before a moment."""

from __future__ import annotations

from datetime import UTC, datetime

from services.core.stats.briefing import last_full_week, parse_week
from tests.helpers import TZ


def test_week_arithmetic() -> None:
    assert parse_week("2026-W53") == (2026, 53)  # 2026 has 53 ISO weeks
    # Monday 2026-11-30 07:59 in Qingdao is still Sunday 23:59 UTC: the week just ended is W48.
    assert last_full_week(datetime(2026, 11, 29, 23, 59, tzinfo=UTC), TZ) == (2026, 48)
    assert last_full_week(datetime(2026, 11, 29, 15, 59, tzinfo=UTC), TZ) == (2026, 47)
