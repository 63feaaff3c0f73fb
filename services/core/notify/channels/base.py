"""What every channel adapter takes and answers. One small adapter per channel behind this
interface: DingTalk and WeCom group robots, email over SMTP, SMS through Aliyun, the signed
webhook; the in-app inbox needs none (its rows are the inbox).

An adapter sends one rendered `Message` to one `Destination` and reports the provider's answer
as an `Attempt`: sent (and whether the provider says it reached the person), or failed, and
then whether waiting can help (`permanent`: a wrong token, an unknown number, a template the
vendor refused) and how long the provider asked us to wait (rate limits). Adapters never log
addresses or secrets and never raise for a provider's failure: the caller records what they
answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

ANSWER_MAX = 500


@dataclass(frozen=True)
class Message:
    notification_id: int
    kind: str  # escalation | reminder | digest | undelivered
    subject: str
    markdown: str  # robots
    text: str  # email's plain part
    html: str  # email's HTML part
    link: str  # the signed link
    # SMS: which template (by kind) and its parameters, as the approved template names them.
    sms_params: Mapping[str, str] = field(default_factory=dict)
    # The webhook's JSON body, byte-identical on every retry.
    body: bytes = b""


@dataclass(frozen=True)
class Destination:
    kind: str
    target: str  # a mailbox, a phone number, or what may be shown of a URL
    secrets: Mapping[str, str] = field(default_factory=dict)  # url, secret


@dataclass(frozen=True)
class Attempt:
    ok: bool
    error: str | None = None
    # Waiting will not help (e.g. the address is not an http(s) URL): fail at once.
    permanent: bool = False
    status_code: int | None = None
    provider_code: str | None = None
    answer: str | None = None
    # The provider says the message reached the person (a robot posted it in the group).
    delivered: bool = False
    provider_ref: str | None = None
    # The provider asked us to slow down: try again no sooner than this.
    retry_after: timedelta | None = None


class Sender(Protocol):
    channel: str
    # A second copy after a crash mid-send is harmless: the receiver drops it by its key.
    idempotent: bool

    async def send(self, message: Message, to: Destination) -> Attempt: ...


def is_http_url(address: str) -> bool:
    try:
        parts = urlsplit(address)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def shown_url(address: str) -> str:
    """What may be shown of a URL: scheme, host and port. Robot URLs carry their token."""
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "…"
    if not host:
        return "…"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"


def clip(text: str, limit: int = ANSWER_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
