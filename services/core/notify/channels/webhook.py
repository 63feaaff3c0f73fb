"""The signed webhook (services/core/notify/webhooks.py): a JSON POST carrying the
notification id as Idempotency-Key, so a receiver drops a second copy. Any 2xx is success;
any other status, a redirect, a timeout or a connection error is retried."""

from __future__ import annotations

import time

import httpx
import structlog

from ..webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from .base import Attempt, Destination, Message, clip

log = structlog.get_logger("duban.delivery")
USER_AGENT = "duban-webhook/1"


class Webhook:
    channel = "webhook"
    # Receivers deduplicate on Idempotency-Key: after a crash mid-send, sending again is safe.
    idempotent = True

    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self.client = client
        self.secret = secret

    async def send(self, message: Message, to: Destination) -> Attempt:
        return await post(
            self.client,
            to.secrets.get("url", ""),
            message.body,
            message.notification_id,
            self.secret,
        )


async def post(
    client: httpx.AsyncClient, address: str, body: bytes, notification_id: int, secret: str
) -> Attempt:
    """One POST. The signature carries the real sending time (receivers compare it with their
    clock), whatever `now` the caller schedules with."""
    try:
        scheme = httpx.URL(address).scheme
    except httpx.InvalidURL:
        scheme = ""
    if scheme not in ("http", "https"):
        return Attempt(ok=False, error="the address is not an http(s) URL", permanent=True)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: str(notification_id),
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
    }
    try:
        response = await client.post(address, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return Attempt(ok=False, error=f"timeout ({type(exc).__name__})")
    except httpx.InvalidURL:
        return Attempt(ok=False, error="the address is not a valid URL", permanent=True)
    except httpx.RequestError as exc:
        # The message names the failure (refused, DNS, TLS), not the URL.
        return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        # Whatever else went wrong is retried with backoff, never in a tight loop.
        log.exception("webhook_post_crashed", notification=notification_id)
        return Attempt(ok=False, error=f"unexpected error: {type(exc).__name__}")
    code = f"HTTP {response.status_code}"
    if 200 <= response.status_code < 300:
        return Attempt(ok=True, status_code=response.status_code, provider_code=code)
    return Attempt(
        ok=False,
        error=f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        status_code=response.status_code,
        provider_code=code,
        answer=clip(response.reason_phrase or ""),
    )
