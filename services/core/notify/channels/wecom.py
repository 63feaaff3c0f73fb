"""WeCom group robot (企业微信群机器人): `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?
key=…`, markdown messages of at most 4096 bytes."""

from __future__ import annotations

import httpx

from .base import Attempt, Destination, Message, is_http_url
from .robots import post_json

MAX_BYTES = 4096
RATE_LIMITED = frozenset({45009, 45033})
PERMANENT = {
    93000: "the webhook key is wrong or the robot was removed: configure it again",
    93008: "the robot is not in the group any more",
    40008: "invalid message type",
    40058: "the message is too long",
    44004: "the message is empty",
}


def fit(text: str, limit: int = MAX_BYTES) -> str:
    """At most `limit` bytes of UTF-8, cut between characters."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


class WeCom:
    channel = "wecom"
    idempotent = False

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Message, to: Destination) -> Attempt:
        url = to.secrets.get("url", "")
        if not is_http_url(url):
            return Attempt(ok=False, error="the robot URL is not an http(s) URL", permanent=True)
        document = {"msgtype": "markdown", "markdown": {"content": fit(message.markdown)}}
        return await post_json(
            self.client, url, document, rate_limited=RATE_LIMITED, permanent=PERMANENT
        )
