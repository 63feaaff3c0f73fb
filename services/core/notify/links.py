"""The signed link in every message: `<public_url>/n/<token>`.

The token is 24 bytes, base64url (32 characters, short enough for an SMS template
parameter): the notification id (8 bytes), the expiry in unix seconds (4 bytes) and the first
12 bytes of HMAC-SHA256 over both under the link secret. It names one outbox row, so opening
it records *who* opened *which* message; it expires (DUBAN_LINK_TTL_HOURS), and the server
alone decides what it may do beyond showing the escalation (acknowledging: once, while fresh,
and only from a message addressed to the escalation's own target).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from datetime import UTC, datetime

_LAYOUT = struct.Struct(">QI")
_MAC = 12
TOKEN_LENGTH = 32


class InvalidLink(ValueError):
    """Not a link duban made (altered, truncated or signed with another key)."""


class ExpiredLink(ValueError):
    def __init__(self, notification_id: int, expired_at: datetime) -> None:
        super().__init__(f"the link expired at {expired_at.isoformat()}")
        self.notification_id = notification_id
        self.expired_at = expired_at


def _mac(secret: str, head: bytes) -> bytes:
    return hmac.new(secret.encode(), b"duban.link." + head, hashlib.sha256).digest()[:_MAC]


def make_token(secret: str, notification_id: int, expires_at: datetime) -> str:
    head = _LAYOUT.pack(notification_id, int(expires_at.timestamp()))
    return base64.urlsafe_b64encode(head + _mac(secret, head)).decode()


def read_token(secret: str, token: str, now: datetime) -> int:
    """The notification id of a valid, unexpired token; InvalidLink or ExpiredLink."""
    if len(token) != TOKEN_LENGTH:
        raise InvalidLink("wrong length")
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError) as exc:
        raise InvalidLink("not base64url") from exc
    head, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if not hmac.compare_digest(mac, _mac(secret, head)):
        raise InvalidLink("signature mismatch")
    notification_id, expires = _LAYOUT.unpack(head)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise ExpiredLink(notification_id, expires_at)
    return int(notification_id)


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/n/{token}"
