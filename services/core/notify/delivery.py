"""Deliver one outbox notification over its channel (today: the webhook) and record the
outcome: one attempt in the caller's transaction (claim the row with SKIP LOCKED, POST,
record sent, retry later or failed); the worker's rescan finds a scheduled retry anyway.

The body is `webhook_body`, signed as webhooks.py describes, with the notification id as
`Idempotency-Key`. Any 2xx is success; any other status, a redirect, a timeout or a
connection error is retried. The secret, the payload and the address (it may hold a token)
are never logged.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Notification
from services.core.notify.store import claim, record_failure, record_sent
from services.core.notify.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from services.core.platform.backoff import RetryPolicy

log = structlog.get_logger("duban.delivery")

USER_AGENT = "duban-webhook/1"


@dataclass(frozen=True)
class Attempt:
    ok: bool
    error: str | None = None
    # Waiting will not help (e.g. the address is not an http(s) URL): fail at once.
    permanent: bool = False
    status_code: int | None = None


@dataclass(frozen=True)
class Outcome:
    notification_id: int
    status: str  # sent | pending (retry at next_attempt_at) | failed
    attempts: int
    next_attempt_at: datetime | None


def webhook_body(n: Notification, tz: ZoneInfo) -> bytes:
    """The exact bytes POSTed (and signed); the same on every retry."""
    document = {
        "id": n.id,
        "kind": n.kind,
        "subject": n.subject,
        "payload": n.payload,
        "created_at": n.created_at.astimezone(tz).isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def host_of(address: str | None) -> str | None:
    """For logs: where it went, without path or query (tokens live there)."""
    try:
        return urlsplit(address or "").hostname
    except ValueError:
        return None


def redacted_address(address: str | None) -> str | None:
    """For people reading the outbox: scheme and host only. Webhook URLs often carry their
    access token in the path or the query."""
    if not address:
        return None
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "…"
    if not host:
        return "…"
    port_part = f":{port}" if port else ""
    return f"{parts.scheme}://{host}{port_part}/…"


async def post_webhook(
    client: httpx.AsyncClient, n: Notification, secret: str, tz: ZoneInfo
) -> Attempt:
    """One POST. The signature carries the real sending time (receivers compare it with
    their clock), whatever `now` the caller schedules with."""
    address = n.address or ""
    if urlsplit(address).scheme not in ("http", "https"):
        return Attempt(ok=False, error="the address is not an http(s) URL", permanent=True)
    body = webhook_body(n, tz)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: str(n.id),
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
        log.exception("webhook_post_crashed", notification=n.id)
        return Attempt(ok=False, error=f"unexpected error: {type(exc).__name__}")
    if 200 <= response.status_code < 300:
        return Attempt(ok=True, status_code=response.status_code)
    return Attempt(
        ok=False,
        error=f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        status_code=response.status_code,
    )


async def deliver(
    session: AsyncSession,
    notification_id: int,
    *,
    client: httpx.AsyncClient,
    secret: str,
    policy: RetryPolicy,
    tz: ZoneInfo,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Outcome | None:
    """One delivery attempt if the notification is pending, due at `now` and not being
    delivered by someone else; None otherwise (nothing to do — every caller may just stop).
    Flushes; the caller commits."""
    n = await claim(session, notification_id, now)
    if n is None:
        return None
    attempt = await post_webhook(client, n, secret, tz)
    fields = {"notification": n.id, "host": host_of(n.address), "attempt": n.attempts + 1}
    if attempt.ok:
        record_sent(n, now)
        log.info("webhook_delivered", status_code=attempt.status_code, **fields)
    else:
        record_failure(
            n, attempt.error or "failed", now, policy, rand(), permanent=attempt.permanent
        )
        if n.status == "failed":
            log.error("webhook_failed_for_good", error=n.last_error, **fields)
        else:
            log.warning(
                "webhook_attempt_failed",
                error=n.last_error,
                retry_at=n.next_attempt_at.isoformat() if n.next_attempt_at else None,
                **fields,
            )
    await session.flush()
    return Outcome(n.id, n.status, n.attempts, n.next_attempt_at)
