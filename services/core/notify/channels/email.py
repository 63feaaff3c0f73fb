"""Email over SMTP (STARTTLS, TLS from the start, or none for a relay on the local network;
with or without authentication), a plain-text and an HTML part, a `Message-ID` per
notification (the same on every retry, so mail clients fold a copy into the first) and a
`List-Id` that mail filters can sort on. A 250 answer to the message means the server took
it, not that it reached the mailbox: email rows get `sent_at`, never `delivered_at`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from .base import Attempt, Destination, Message, clip


@dataclass(frozen=True)
class SmtpConfig:
    host: str | None
    port: int
    security: str  # starttls | tls | none
    username: str | None
    password: str | None
    sender: str
    list_id: str
    timeout: float
    ca_file: str | None = None


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "duban.localhost"


def build(message: Message, to: Destination, config: SmtpConfig) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = config.sender
    mail["To"] = to.target
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<notice.{message.notification_id}@{_domain(config.sender)}>"
    mail["List-Id"] = f"督办通知 <{config.list_id}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Duban-Notification"] = str(message.notification_id)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class Email:
    channel = "email"
    idempotent = False

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _tls(self) -> ssl.SSLContext | None:
        if self.config.ca_file is None:
            return None
        return ssl.create_default_context(cafile=self.config.ca_file)

    async def send(self, message: Message, to: Destination) -> Attempt:
        c = self.config
        if not c.host:
            return Attempt(ok=False, error="no SMTP server configured (DUBAN_SMTP_HOST)")
        if "@" not in to.target:
            return Attempt(ok=False, error="not an email address", permanent=True)
        mail = build(message, to, c)
        try:
            responses, _ = await aiosmtplib.send(
                mail,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                timeout=c.timeout,
                tls_context=self._tls(),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else 550
            return Attempt(
                ok=False,
                error=clip(f"SMTP {code}: recipient refused"),
                permanent=code >= 500,
                provider_code=str(code),
                answer=clip(refused.message if refused is not None else ""),
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # A wrong password does not heal by itself, but an admin may fix it within the
            # retry horizon: retried, with the reason in last_error.
            return Attempt(
                ok=False,
                error=f"SMTP {exc.code}: authentication failed",
                provider_code=str(exc.code),
                answer=clip(exc.message),
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Attempt(
                ok=False,
                error=clip(f"SMTP {exc.code}: {exc.message}"),
                permanent=500 <= exc.code < 600,
                provider_code=str(exc.code),
                answer=clip(exc.message),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt(ok=False, error=clip(f"{type(exc).__name__}: {exc}"))
        answer = next(iter(responses.values()), None)
        return Attempt(
            ok=True,
            provider_code="250",
            answer=clip(answer.message if answer is not None else "accepted"),
            provider_ref=str(mail["Message-ID"]),
        )
