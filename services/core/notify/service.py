"""The notify use cases the worker and the tools call: the channels as configured, and the
SMS vendor's delivery receipts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ContactPoint, Notification
from services.core.notify.channels.dingtalk import DingTalk
from services.core.notify.channels.email import Email, SmtpConfig
from services.core.notify.channels.sms_aliyun import AliyunSms, SmsConfig
from services.core.notify.channels.webhook import Webhook
from services.core.notify.channels.wecom import WeCom
from services.core.notify.delivery import Channels, gave_up
from services.core.notify.messages import LinkSettings
from services.core.platform.keys import channel_key, link_secret, webhook_secret
from services.core.platform.settings import Settings


def _secret(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=_secret(settings.smtp_password),
        sender=settings.smtp_from,
        list_id=settings.smtp_list_id,
        timeout=settings.smtp_timeout_seconds,
        ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
    )


def sms_config(settings: Settings) -> SmsConfig:
    return SmsConfig(
        endpoint=settings.sms_endpoint,
        region=settings.sms_region,
        key_id=settings.sms_access_key_id,
        key_secret=_secret(settings.sms_access_key_secret),
        sign_name=settings.sms_sign_name,
        templates={
            "escalation": settings.sms_template_escalation,
            "reminder": settings.sms_template_reminder,
            "digest": settings.sms_template_digest,
            "undelivered": settings.sms_template_undelivered,
        },
    )


def link_settings(settings: Settings) -> LinkSettings:
    return LinkSettings(
        settings.public_url, link_secret(settings), timedelta(hours=settings.link_ttl_hours)
    )


def channels_from_settings(settings: Settings, client: httpx.AsyncClient) -> Channels:
    """Every adapter, over one HTTP connection pool, with the installation's keys."""
    return Channels(
        senders={
            "webhook": Webhook(client, webhook_secret(settings)),
            "dingtalk": DingTalk(client),
            "wecom": WeCom(client),
            "email": Email(smtp_config(settings)),
            "sms": AliyunSms(client, sms_config(settings)),
        },
        channel_key=channel_key(settings),
        links=link_settings(settings),
        rate_per_minute={
            "dingtalk": settings.rate_dingtalk_per_minute,
            "wecom": settings.rate_wecom_per_minute,
            "email": settings.rate_email_per_minute,
            "sms": settings.rate_sms_per_minute,
            "webhook": settings.rate_webhook_per_minute,
        },
        fallback_after=settings.fallback_after_attempts,
    )


async def poll_sms_receipts(
    session: AsyncSession,
    sms: AliyunSms,
    now: datetime,
    within: timedelta,
    tz: ZoneInfo,
    limit: int = 200,
) -> tuple[int, tuple[int, ...]]:
    """Ask the vendor about texts sent in the last `within` that have no answer yet: a
    delivered one gets `delivered_at`; one the carrier could not deliver fails, and its
    recipient's next channel takes over. (How many were answered, rows to deliver.)"""
    rows = (
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.channel == "sms",
                    Notification.status == "sent",
                    Notification.delivered_at.is_(None),
                    Notification.provider_ref.is_not(None),
                    Notification.sent_at > now - within,
                )
                .order_by(Notification.sent_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    answered, wake = 0, tuple[int, ...]()
    for n in rows:
        phone = await _phone(session, n)
        assert n.sent_at is not None  # noqa: S101 - selected so
        assert n.provider_ref is not None  # noqa: S101
        status = await sms.query_status(phone, n.provider_ref, n.sent_at.astimezone(tz).date())
        if status.delivered is None:
            continue
        answered += 1
        if status.delivered:
            n.delivered_at = status.at or now
        else:
            n.status, n.last_error = "failed", f"the carrier did not deliver it: {status.code}"
            wake += await gave_up(session, n, now)
    await session.flush()
    return answered, wake


async def _phone(session: AsyncSession, n: Notification) -> str:
    target = await session.scalar(
        select(ContactPoint.target).where(ContactPoint.id == n.contact_point_id)
    )
    return target or ""
