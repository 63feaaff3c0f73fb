"""Fake DingTalk, WeCom and Aliyun SMS services and a real SMTP server, for the channel tests:
each a real server on a free loopback port that checks what the real service checks and can
answer with the provider's own error codes.

- DingTalk custom robot: the access_token, the signed mode (timestamp within an hour, sign =
  base64 HMAC-SHA256 of "<timestamp>\\n<secret>"), the message's shape (markdown needs a
  title and text, an actionCard a button), 20 messages a minute (errcode 130101).
- WeCom group robot: the key, markdown of at most 4096 bytes, 20 a minute (errcode 45009).
- Aliyun SMS (RPC): every common parameter, the HMAC-SHA1 signature over the canonicalized
  query, a timestamp within 15 minutes, a nonce used once, the sign name, the template code
  and exactly the parameters that template was approved with (each at most 35 characters);
  QuerySendDetails reports the texts as delivered.
- SMTP: aiosmtpd with STARTTLS on a self-signed certificate and AUTH, keeping every message.

Scripts (a deque of error codes) make a service answer with an error on the next requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.core.notify.channels.sms_aliyun import string_to_sign
from tests.webhook_receiver import free_port, serve, shut

# aiosmtpd's own authenticator plumbing still reads a deprecated attribute of its session.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")

NOTICE_ID = re.compile(r"通知编号 (\d+)")


def notice_id(text: str) -> int | None:
    """The notification id a message carries in its text (every template ends with it)."""
    found = NOTICE_ID.search(text)
    return int(found.group(1)) if found else None


class _Server:
    """A ThreadingHTTPServer on a free loopback port whose handler calls `self.answer`."""

    def __init__(self) -> None:
        self.port = free_port()
        # re-entrant: an answer that refuses records the refusal under the same lock
        self.lock = threading.RLock()
        self.script: deque[Any] = deque()
        self.delay = 0.0
        # requests whose body has arrived and whose answer has not been sent yet
        self.in_flight = 0
        self._server: ThreadingHTTPServer | None = None

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        raise NotImplementedError

    def start(self) -> _Server:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request: nothing arrived
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with fake.lock:
                    fake.in_flight += 1
                try:
                    if fake.delay:
                        time.sleep(fake.delay)
                    # the request has arrived: it counts even if the sender is gone by now
                    answer = fake.answer(method, parts.path, query, body)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                raw = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve(self.port, Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            shut(self._server)
            self._server = None

    def scripted(self) -> Any:
        with self.lock:
            return self.script.popleft() if self.script else None


@dataclass
class Robot:
    token: str
    secret: str | None = None
    # the messages it posted into the group
    messages: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)


class FakeDingTalk(_Server):
    """oapi.dingtalk.com/robot/send for the robots it knows."""

    PER_MINUTE = 20

    def __init__(self) -> None:
        super().__init__()
        self.robots: dict[str, Robot] = {}
        self.refused: list[tuple[int, str]] = []

    def robot(self, secret: str | None = None) -> Robot:
        r = Robot(token=uuid.uuid4().hex, secret=secret)
        self.robots[r.token] = r
        return r

    def url(self, robot: Robot) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token={robot.token}"

    def _refuse(self, code: int, words: str) -> dict[str, Any]:
        with self.lock:
            self.refused.append((code, words))
        return {"errcode": code, "errmsg": words}

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        robot = self.robots.get(query.get("access_token", ""))
        if method != "POST" or path != "/robot/send" or robot is None:
            return self._refuse(300001, "token is not exist")
        if robot.secret is not None:
            stamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3_600_000:
                return self._refuse(310000, "invalid timestamp")
            mac = hmac.new(
                robot.secret.encode(), f"{stamp}\n{robot.secret}".encode(), hashlib.sha256
            ).digest()
            # parse_qs has decoded the URL-encoding once already
            if not hmac.compare_digest(base64.b64encode(mac).decode(), sign):
                return self._refuse(310000, "sign not match")
        try:
            message = json.loads(body)
        except ValueError:
            return self._refuse(40035, "invalid json")
        kind = message.get("msgtype")
        card = message.get(kind) if isinstance(kind, str) else None
        if kind == "markdown" and not (card and card.get("title") and card.get("text")):
            return self._refuse(40035, "markdown needs title and text")
        if kind == "actionCard" and not (
            card and card.get("title") and card.get("text") and card.get("singleURL")
        ):
            return self._refuse(40035, "actionCard needs title, text and a button")
        if kind not in ("markdown", "actionCard", "text", "link"):
            return self._refuse(40035, "unknown msgtype")
        scripted = self.scripted()
        if scripted is not None:
            return self._refuse(int(scripted), "scripted error")
        now = time.time()
        with self.lock:
            recent = [t for t in robot.sent_at if now - t < 60]
            if len(recent) >= self.PER_MINUTE:
                return self._refuse(130101, "send too fast, exceed 20 times per minute")
            robot.sent_at.append(now)
            robot.messages.append(message)
        return {"errcode": 0, "errmsg": "ok"}


@dataclass
class Group:
    key: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)


class FakeWeCom(_Server):
    """qyapi.weixin.qq.com/cgi-bin/webhook/send for the group robots it knows."""

    PER_MINUTE = 20

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, Group] = {}

    def group(self) -> Group:
        g = Group(key=str(uuid.uuid4()))
        self.groups[g.key] = g
        return g

    def url(self, group: Group) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key={group.key}"

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        group = self.groups.get(query.get("key", ""))
        if method != "POST" or path != "/cgi-bin/webhook/send" or group is None:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        try:
            message = json.loads(body)
        except ValueError:
            return {"errcode": 40001, "errmsg": "invalid json"}
        if message.get("msgtype") != "markdown":
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = (message.get("markdown") or {}).get("content", "")
        if not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode()) > 4096:
            return {"errcode": 40058, "errmsg": "content exceed max length 4096"}
        scripted = self.scripted()
        if scripted is not None:
            return {"errcode": int(scripted), "errmsg": "scripted error"}
        now = time.time()
        with self.lock:
            if len([t for t in group.sent_at if now - t < 60]) >= self.PER_MINUTE:
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            group.sent_at.append(now)
            group.messages.append(message)
        return {"errcode": 0, "errmsg": "ok"}


@dataclass
class Text:
    phone: str
    template: str
    params: dict[str, str]
    out_id: str
    biz_id: str


class FakeAliyunSms(_Server):
    """dysmsapi.aliyuncs.com: SendSms and QuerySendDetails, RPC-signed."""

    def __init__(self, key_id: str, key_secret: str, sign_name: str) -> None:
        super().__init__()
        self.key_id, self.key_secret, self.sign_name = key_id, key_secret, sign_name
        # template code -> the parameter names it was approved with
        self.templates: dict[str, set[str]] = {}
        self.texts: list[Text] = []
        self.nonces: set[str] = set()
        self.refused: list[str] = []
        self.undeliverable: set[str] = set()  # phone numbers the carrier cannot reach

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _refuse(self, code: str, words: str) -> dict[str, Any]:
        with self.lock:
            self.refused.append(code)
        return {"Code": code, "Message": words, "RequestId": uuid.uuid4().hex}

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        params = dict(query)
        if method == "POST":
            params |= {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        signature = params.pop("Signature", "")
        for name in ("AccessKeyId", "Action", "SignatureMethod", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                return self._refuse("MissingParameter", f"{name} is mandatory")
        if params["AccessKeyId"] != self.key_id:
            return self._refuse("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._refuse("InvalidParameter", "SignatureMethod")
        expected = base64.b64encode(
            hmac.new(
                f"{self.key_secret}&".encode(),
                string_to_sign(method, params).encode(),
                hashlib.sha1,
            ).digest()
        ).decode()
        if not hmac.compare_digest(expected, signature):
            return self._refuse("SignatureDoesNotMatch", "Specified signature is not matched.")
        try:
            stamp = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self._refuse("InvalidTimeStamp.Format", "Timestamp")
        skew = abs((dt.datetime.now(dt.UTC).replace(tzinfo=None) - stamp).total_seconds())
        if skew > 900:
            return self._refuse("InvalidTimeStamp.Expired", "Timestamp expired")
        with self.lock:
            if params["SignatureNonce"] in self.nonces:
                return self._refuse("SignatureNonceUsed", "nonce used")
            self.nonces.add(params["SignatureNonce"])
        if params["Action"] == "SendSms":
            return self._send(params)
        if params["Action"] == "QuerySendDetails":
            return self._query(params)
        return self._refuse("InvalidAction.NotFound", params["Action"])

    def _send(self, p: dict[str, str]) -> dict[str, Any]:
        if not re.fullmatch(r"(\+?86)?1\d{10}", p.get("PhoneNumbers", "")):
            return self._refuse("isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number")
        if p.get("SignName") != self.sign_name:
            return self._refuse("isv.SMS_SIGNATURE_ILLEGAL", "signature not approved")
        names = self.templates.get(p.get("TemplateCode", ""))
        if names is None:
            return self._refuse("isv.SMS_TEMPLATE_ILLEGAL", "template not approved")
        try:
            values = json.loads(p.get("TemplateParam", "{}"))
        except ValueError:
            return self._refuse("isv.INVALID_JSON_PARAM", "TemplateParam")
        if set(values) != names:
            return self._refuse("isv.TEMPLATE_MISSING_PARAMETERS", "template parameters")
        if any(len(str(v)) > 35 for v in values.values()):
            return self._refuse("isv.PARAM_LENGTH_LIMIT", "parameter over 35 characters")
        scripted = self.scripted()
        if scripted is not None:
            return self._refuse(str(scripted), "scripted error")
        text = Text(
            p["PhoneNumbers"], p["TemplateCode"], values, p.get("OutId", ""), uuid.uuid4().hex
        )
        with self.lock:
            self.texts.append(text)
        return {"Code": "OK", "Message": "OK", "BizId": text.biz_id, "RequestId": uuid.uuid4().hex}

    def _query(self, p: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            found = [t for t in self.texts if t.biz_id == p.get("BizId")]
        if not found:
            return {"Code": "OK", "TotalCount": 0, "SmsSendDetailDTOs": {"SmsSendDetailDTO": []}}
        t = found[0]
        failed = t.phone in self.undeliverable
        received = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
        detail = {
            "PhoneNum": t.phone,
            "SendStatus": 2 if failed else 3,
            "ErrCode": "MOBILE_NOT_ON_SERVICE" if failed else "DELIVERED",
            "ReceiveDate": received,
            "OutId": t.out_id,
            "TemplateCode": t.template,
        }
        return {"Code": "OK", "TotalCount": 1, "SmsSendDetailDTOs": {"SmsSendDetailDTO": [detail]}}


# ---- SMTP ----


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files: the test's own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Keeper:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 queued"


class FakeSmtp:
    """aiosmtpd on loopback: STARTTLS with the test's certificate, AUTH required."""

    def __init__(self, directory: Path, username: str, password: str) -> None:
        self.cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.keeper = _Keeper()
        self.port = free_port()
        self.logins: list[str] = []

        def authenticate(
            server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == username
                and data.password.decode() == password
            )
            if ok:
                self.logins.append(username)
            return AuthResult(success=ok)

        self.controller = Controller(
            self.keeper,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=authenticate,
        )

    @property
    def mails(self) -> list[Mail]:
        return self.keeper.mails

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def texts_of(messages: list[dict[str, Any]]) -> Iterator[str]:
    for m in messages:
        card = m.get(m.get("msgtype", ""), {})
        yield str(card.get("text") or card.get("content") or "")


def decoded(value: str) -> str:
    return unquote_plus(value)
