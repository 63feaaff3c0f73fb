"""SMS through Aliyun (阿里云短信, dysmsapi 2017-05-25), RPC style.

Mainland SMS must use templates the vendor approved, so a message is a template code (one per
kind of notice, from settings) and its parameters, never free text. Every request is signed
as Aliyun documents for RPC APIs: the parameters (with AccessKeyId, SignatureMethod
HMAC-SHA1, SignatureVersion 1.0, a fresh SignatureNonce and an ISO 8601 UTC Timestamp) sorted
by name, each name and value percent-encoded per RFC 3986 (space as %20, `*` as %2A, `~`
kept), joined with `&`; the string to sign is `<METHOD>&%2F&<that, encoded again>`, and the
Signature is base64 of HMAC-SHA1 keyed with "<AccessKeySecret>&". `OutId` carries the
notification id. Whether a text reached the phone is asked later with QuerySendDetails
(`query_status`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from .base import Attempt, Destination, Message, clip

VERSION = "2017-05-25"
RATE_LIMITED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "Throttling"})
PERMANENT = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "InvalidAccessKeyId.NotFound",
        "SignatureDoesNotMatch",
        "isv.ACCOUNT_NOT_EXISTS",
    }
)
LIMIT_WAIT = timedelta(seconds=60)
BEIJING = timezone(timedelta(hours=8))


def encode(value: str) -> str:
    """RFC 3986 percent-encoding, as Aliyun's signature wants it."""
    return quote(value, safe="-_.~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{encode('/')}&{encode(canonical)}"


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    mac = hmac.new(
        f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(mac).decode()


@dataclass(frozen=True)
class SmsConfig:
    endpoint: str
    region: str
    key_id: str | None
    key_secret: str | None
    sign_name: str | None
    # template code per kind of notice (escalation, reminder, digest, undelivered)
    templates: Mapping[str, str | None]


@dataclass(frozen=True)
class SmsStatus:
    delivered: bool | None  # None: the carrier has not told yet
    at: datetime | None
    code: str


class AliyunSms:
    channel = "sms"
    idempotent = False

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: SmsConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.nonce = nonce

    def signed(
        self, action: str, params: Mapping[str, str], method: str = "POST"
    ) -> dict[str, str]:
        c = self.config
        assert c.key_id is not None  # noqa: S101 - send checks first
        assert c.key_secret is not None  # noqa: S101
        common = {
            "AccessKeyId": c.key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": c.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self.nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
        }
        every = {**common, **params}
        return {**every, "Signature": signature(c.key_secret, method, every)}

    async def _call(self, action: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        form = self.signed(action, params)
        response = await self.client.post(self.config.endpoint, data=form)
        try:
            answer = response.json()
        except ValueError:
            answer = {"Code": f"HTTP {response.status_code}", "Message": response.text}
        return response.status_code, answer if isinstance(answer, dict) else {}

    async def send(self, message: Message, to: Destination) -> Attempt:
        c = self.config
        template = c.templates.get(message.kind)
        if not (c.key_id and c.key_secret and c.sign_name):
            return Attempt(ok=False, error="SMS is not configured (DUBAN_SMS_*)")
        if not template:
            return Attempt(
                ok=False,
                error=f"no SMS template for {message.kind} notices (DUBAN_SMS_TEMPLATE_*)",
                permanent=True,
            )
        params = {
            "PhoneNumbers": to.target,
            "SignName": c.sign_name,
            "TemplateCode": template,
            "TemplateParam": json.dumps(dict(message.sms_params), ensure_ascii=False),
            "OutId": str(message.notification_id),
        }
        try:
            status, answer = await self._call("SendSms", params)
        except httpx.TimeoutException as exc:
            return Attempt(ok=False, error=f"timeout ({type(exc).__name__})")
        except httpx.RequestError as exc:
            return Attempt(ok=False, error=type(exc).__name__)
        code = str(answer.get("Code", f"HTTP {status}"))
        words = clip(str(answer.get("Message", "")))
        if code == "OK":
            return Attempt(
                ok=True, provider_code=code, answer=words, provider_ref=answer.get("BizId")
            )
        error = clip(f"{code}: {words}")
        if code in RATE_LIMITED:
            return Attempt(
                ok=False, error=error, provider_code=code, answer=words, retry_after=LIMIT_WAIT
            )
        return Attempt(
            ok=False, error=error, permanent=code in PERMANENT, provider_code=code, answer=words
        )

    async def query_status(self, phone: str, biz_id: str, sent_on: date) -> SmsStatus:
        """Whether the carrier delivered the text (QuerySendDetails)."""
        status, answer = await self._call(
            "QuerySendDetails",
            {
                "PhoneNumber": phone,
                "BizId": biz_id,
                "SendDate": sent_on.strftime("%Y%m%d"),
                "PageSize": "10",
                "CurrentPage": "1",
            },
        )
        code = str(answer.get("Code", f"HTTP {status}"))
        details = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        if code != "OK" or not details:
            return SmsStatus(None, None, code)
        first = details[0]
        state = int(first.get("SendStatus", 1))
        received = first.get("ReceiveDate")
        # Aliyun reports Beijing time, without an offset.
        at = (
            datetime.strptime(received, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
            if received
            else None
        )
        if state == 3:
            return SmsStatus(True, at, str(first.get("ErrCode", "DELIVERED")))
        if state == 2:
            return SmsStatus(False, at, str(first.get("ErrCode", "FAILED")))
        return SmsStatus(None, None, code)
