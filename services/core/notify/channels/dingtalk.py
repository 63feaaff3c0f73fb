"""DingTalk custom robot (自定义机器人) of a group: `https://oapi.dingtalk.com/robot/send?
access_token=…`, optionally in signed mode (加签): the URL also carries `timestamp` (ms) and
`sign` = URL-encoded base64 of HMAC-SHA256 over "<timestamp>\\n<secret>" keyed with the
secret; DingTalk refuses a timestamp more than an hour off. Escalations go as an actionCard
with one button (the signed link), digests, reminders and office notices as markdown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote_plus

import httpx

from .base import Attempt, Destination, Message, is_http_url
from .robots import post_json

# errcodes (open.dingtalk.com, custom robot): wait and retry, or give up.
RATE_LIMITED = frozenset({130101, 130102, 410100})
PERMANENT = {
    300001: "the access_token is wrong: configure the robot again",
    300005: "the robot does not exist",
    310000: "keyword, signature or IP address check failed: see the robot's security settings",
    400101: "the robot is disabled",
    400102: "the robot is disabled",
    430101: "the content was refused",
    430102: "the content was refused",
    430103: "the content was refused",
    430104: "the content was refused",
}
BUTTON = "查看并批示"


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` query value for `timestamp_ms` (already URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


class DingTalk:
    channel = "dingtalk"
    idempotent = False

    def __init__(self, client: httpx.AsyncClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    async def send(self, message: Message, to: Destination) -> Attempt:
        url = to.secrets.get("url", "")
        if not is_http_url(url):
            return Attempt(ok=False, error="the robot URL is not an http(s) URL", permanent=True)
        secret = to.secrets.get("secret")
        if secret:
            timestamp = int(self.clock() * 1000)
            glue = "&" if "?" in url else "?"
            url = f"{url}{glue}timestamp={timestamp}&sign={sign(secret, timestamp)}"
        return await post_json(
            self.client, url, document(message), rate_limited=RATE_LIMITED, permanent=PERMANENT
        )


def document(message: Message) -> dict[str, object]:
    if message.kind == "escalation":
        return {
            "msgtype": "actionCard",
            "actionCard": {
                "title": message.subject,
                "text": message.markdown,
                "btnOrientation": "0",
                "singleTitle": BUTTON,
                "singleURL": message.link,
            },
        }
    return {"msgtype": "markdown", "markdown": {"title": message.subject, "text": message.markdown}}
