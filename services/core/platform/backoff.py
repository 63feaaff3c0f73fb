"""How long duban waits before trying again, in one rule for the whole code base: a failed
webhook delivery, a crashed child of `duban up` (services/cli/supervisor.py) and a Redis
command on a lost connection (services/worker/queue.py) all wait base, 2×base, 4×base …,
capped. Pure: `now` and the random draw are passed in."""

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


def exponential(failures: int, base: float, cap: float) -> float:
    """The wait in seconds after the `failures`-th failure in a row (1-based): base, 2×base,
    4×base, … never more than cap."""
    exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
    return float(min(cap, base * 2.0**exponent))


def retry_delay(policy: RetryPolicy, failures: int, rand: float) -> timedelta:
    """The wait after the `failures`-th failed delivery attempt, shortened by `rand`
    (0 ≤ rand < 1) × jitter."""
    seconds = exponential(failures, policy.base.total_seconds(), policy.cap.total_seconds())
    return timedelta(seconds=seconds * (1 - policy.jitter * rand))


def next_attempt(
    policy: RetryPolicy, first_attempt_at: datetime, failures: int, now: datetime, rand: float
) -> datetime | None:
    """When to try again after a failure at `now`, or None to give up: once the first attempt
    is older than the horizon, the delivery has been retried long enough."""
    if now - first_attempt_at >= policy.horizon:
        return None
    return now + retry_delay(policy, failures, rand)
