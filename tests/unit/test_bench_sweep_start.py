"""The bench times the sweep from the workers' first tick after the arming; that tick has to
be one the worker's cron really runs at, or the figure would start too early or too late."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.runner import SWEEP_SECONDS, cron_seconds, first_tick
from services.core.platform.settings import Settings
from services.worker.escalations import sweep_seconds

ARMED = [
    datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC).timestamp(),
    datetime(2026, 12, 5, 9, 0, 0, 1, tzinfo=UTC).timestamp(),
    datetime(2026, 12, 5, 9, 0, 4, 999_000, tzinfo=UTC).timestamp(),
    datetime(2026, 12, 5, 9, 59, 57, 300_000, tzinfo=UTC).timestamp(),
    datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC).timestamp(),
]


@pytest.mark.parametrize("armed", ARMED)
def test_the_sweep_is_timed_from_a_tick_the_workers_run_at(armed: float) -> None:
    tick = first_tick(armed, cron_seconds())
    assert armed <= tick < armed + SWEEP_SECONDS
    at = datetime.fromtimestamp(tick, UTC)
    assert at.second in sweep_seconds(Settings(escalation_sweep_seconds=SWEEP_SECONDS))
    assert at.microsecond == 0


def test_an_interval_that_does_not_divide_a_minute_waits_for_the_next_minute() -> None:
    """Every 7 s runs at 0, 7, …, 56: after 56 the next tick is 0 of the next minute, 4 s
    later, not 63."""
    seconds = sweep_seconds(Settings(escalation_sweep_seconds=7))
    armed = datetime(2026, 12, 5, 9, 0, 57, tzinfo=UTC).timestamp()
    assert first_tick(armed, seconds) == datetime(2026, 12, 5, 9, 1, 0, tzinfo=UTC).timestamp()
    armed = datetime(2026, 12, 5, 9, 0, 50, tzinfo=UTC).timestamp()
    assert first_tick(armed, seconds) == datetime(2026, 12, 5, 9, 0, 56, tzinfo=UTC).timestamp()
