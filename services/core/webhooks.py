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
import os
import secrets
from datetime import datetime, timedelta

from services.core.settings import Settings

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


def webhook_secret(settings: Settings) -> str:
    """The configured key, else one generated once into the data dir (0600) and reused, so
    receivers configured with it keep working across restarts."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    path = settings.data_dir / "webhook-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # Written aside and linked into place, so a concurrent reader never sees a half file.
    scratch = path.with_name(f".webhook-secret.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    try:
        os.link(scratch, path)
    except FileExistsError:  # another worker won the race: use its key
        value = path.read_text().strip()
    finally:
        scratch.unlink()
    return value
