"""Webhook signatures: how duban signs what it POSTs and how a receiver checks it.

Every webhook carries

    Idempotency-Key: <notification id>         (the same on every retry)
    X-Duban-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

A receiver recomputes the HMAC over the raw bytes it received (before parsing the JSON),
compares in constant time, and rejects a timestamp further than a few minutes from its own
clock, so a captured request cannot be replayed later. It then drops any Idempotency-Key it
has already processed: delivery is at least once. `verify_signature` below is that check;
integrators may copy it as is.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

SIGNATURE_HEADER = "X-Duban-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = timedelta(minutes=5)


class InvalidSignature(ValueError):
    """The request did not come from duban, was altered, or is a replay."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Duban-Signature value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Raise InvalidSignature unless `header` signs exactly `body` with `secret` at a time
    within `tolerance` of `now`. Several v1 entries are accepted (one per valid key while a
    secret is being rotated)."""
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("malformed timestamp") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("the header needs t= and v1=")
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise InvalidSignature("timestamp outside the tolerance (replay?)")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignature("signature mismatch")
