"""When a failed delivery is tried again, and when duban gives up. Pure: `now` and the random
draw are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.core.platform.settings import Settings

# Each delay is shortened by up to this fraction, so receivers that came back after an
# outage are not hit by every queued retry in the same second.
JITTER = 0.2
# 2**40 × any sane base is far beyond any cap; it only keeps the float finite.
_MAX_EXPONENT = 40


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta
    cap: timedelta
    horizon: timedelta
    jitter: float = JITTER

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base=timedelta(seconds=settings.delivery_backoff_base_seconds),
            cap=timedelta(seconds=settings.delivery_backoff_cap_seconds),
            horizon=timedelta(hours=settings.delivery_retry_hours),
        )


def retry_delay(policy: RetryPolicy, failures: int, rand: float) -> timedelta:
    """The wait after the `failures`-th failed attempt (1-based): base, 2×base, 4×base, …
    capped, then shortened by `rand` (0 ≤ rand < 1) × jitter."""
    exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
    seconds = min(policy.cap.total_seconds(), policy.base.total_seconds() * 2**exponent)
    return timedelta(seconds=seconds * (1 - policy.jitter * rand))


def next_attempt(
    policy: RetryPolicy, first_attempt_at: datetime, failures: int, now: datetime, rand: float
) -> datetime | None:
    """When to try again after a failure at `now`, or None to give up: once the first attempt
    is older than the horizon, the delivery has been retried long enough."""
    if now - first_attempt_at >= policy.horizon:
        return None
    return now + retry_delay(policy, failures, rand)
