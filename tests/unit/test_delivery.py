"""Webhook delivery's rules: the retry schedule, when to give up, and the signature a
receiver checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.notify.webhooks import InvalidSignature, sign, verify_signature
from services.core.platform.backoff import RetryPolicy, next_attempt, retry_delay

SECRET = "whsec-test-0123456789abcdef"
POLICY = RetryPolicy(
    base=timedelta(seconds=30), cap=timedelta(hours=1), horizon=timedelta(hours=24)
)


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter_only_shortening() -> None:
    delays = [retry_delay(POLICY, k, 0.0).total_seconds() for k in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(POLICY, 3, 0.999).total_seconds() == pytest.approx(120 * 0.8, rel=1e-3)
    assert retry_delay(POLICY, 10_000, 0.5) == timedelta(seconds=3600 * 0.9)


def test_giving_up_happens_once_the_first_attempt_is_older_than_the_horizon() -> None:
    first = datetime(2026, 11, 26, tzinfo=UTC)
    just_before = first + timedelta(hours=24) - timedelta(seconds=1)
    assert next_attempt(POLICY, first, 30, just_before, 0.0) == just_before + POLICY.cap
    assert next_attempt(POLICY, first, 31, first + timedelta(hours=24), 0.0) is None


def test_a_receiver_accepts_only_fresh_untampered_requests_signed_with_the_secret() -> None:
    body = '{"id":1,"subject":"【督办】"}'.encode()
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    header = sign(SECRET, body, int(now.timestamp()))
    verify_signature(SECRET, header, body, now)
    verify_signature(SECRET, header, body, now + timedelta(minutes=4))
    rotated = f"{header},v1={'0' * 64}"
    verify_signature(SECRET, rotated, body, now)
    for secret, hdr, raw, at in [
        ("another-secret", header, body, now),
        (SECRET, header, body + b" ", now),
        (SECRET, header, body, now + timedelta(minutes=6)),  # a replay
        (SECRET, header, body, now - timedelta(minutes=6)),
        (SECRET, None, body, now),
        (SECRET, "v1=abc", body, now),
        (SECRET, "t=soon,v1=abc", body, now),
    ]:
        with pytest.raises(InvalidSignature):
            verify_signature(secret, hdr, raw, at)
