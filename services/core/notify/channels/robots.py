"""What the DingTalk and WeCom robots share: one JSON POST, an answer of
`{"errcode": 0, "errmsg": "ok"}`, and error codes that say whether to wait or give up."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from .base import Attempt, clip

# Robots allow about 20 messages a minute; after a rate-limit answer, wait out the minute.
RATE_LIMIT_WAIT = timedelta(seconds=60)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    document: Mapping[str, Any],
    *,
    rate_limited: frozenset[int],
    permanent: Mapping[int, str],
) -> Attempt:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
    except httpx.TimeoutException as exc:
        return Attempt(ok=False, error=f"timeout ({type(exc).__name__})")
    except httpx.RequestError as exc:
        # The exception's text names the failure, not the URL (which holds the token).
        return Attempt(ok=False, error=f"{type(exc).__name__}")
    if response.status_code != 200:
        return Attempt(
            ok=False,
            error=f"HTTP {response.status_code}",
            status_code=response.status_code,
            provider_code=f"HTTP {response.status_code}",
            answer=clip(response.text),
        )
    try:
        answer = response.json()
        code = int(answer.get("errcode", -1))
        words = str(answer.get("errmsg", ""))
    except (ValueError, AttributeError, TypeError):
        return Attempt(ok=False, error="not a JSON answer", answer=clip(response.text))
    if code == 0:
        # The robot posted it into the group: that is delivery.
        return Attempt(
            ok=True, status_code=200, provider_code="0", answer=clip(words), delivered=True
        )
    error = f"errcode {code}: {words}"
    if code in rate_limited:
        return Attempt(
            ok=False,
            error=clip(error),
            provider_code=str(code),
            answer=clip(words),
            retry_after=RATE_LIMIT_WAIT,
        )
    if code in permanent:
        return Attempt(
            ok=False,
            error=clip(f"{error} ({permanent[code]})"),
            permanent=True,
            provider_code=str(code),
            answer=clip(words),
        )
    # Anything else (system busy, unknown codes) is retried with backoff up to the horizon.
    return Attempt(ok=False, error=clip(error), provider_code=str(code), answer=clip(words))
