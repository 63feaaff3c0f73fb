"""Notification delivery as worker jobs.

`deliver_notification(id)` makes one attempt (services/core/notify/delivery.py) in its own
transaction and, when the attempt failed, queues the next one for its time. Redis is only a
shortcut: `outbox_rescan` re-reads the outbox every `DUBAN_DELIVERY_RESCAN_SECONDS` and
queues every pending delivery that is due, under the same job id as any copy already queued,
so after a FLUSHALL, a Redis restart or a killed worker every notification is still
delivered, and duplicates collapse. Both jobs are idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import structlog

from services.core.notify.channels.sms_aliyun import AliyunSms
from services.core.notify.delivery import USER_AGENT, Channels, deliver
from services.core.notify.service import channels_from_settings, poll_sms_receipts
from services.core.notify.store import (
    DELIVER_JOB,
    delivery_job_id,
    due_for_delivery,
    form_digest,
    release_inbox,
    spare_job_id,
    stale,
)
from services.core.platform.backoff import RetryPolicy
from services.core.platform.db import unit_of_work
from services.core.platform.keys import webhook_secret
from services.core.platform.settings import Settings

from . import queue
from .context import JobContext

log = structlog.get_logger("duban.worker.delivery")

# Enough for any tick; what is left is found by the next one.
RESCAN_LIMIT = 2000


def http_client(settings: Settings) -> httpx.AsyncClient:
    """One HTTP connection pool for all of this process's deliveries (in the job context)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def read_webhook_secret(settings: Settings) -> str | None:
    """The signing key, read once at startup; None if it cannot be read now."""
    if settings.webhook_secret is None:
        log.info("webhook_secret_from_data_dir", path=str(settings.data_dir / "webhook-secret"))
    try:
        return webhook_secret(settings)
    except OSError as exc:
        # Escalations must go on even if webhooks cannot be signed: deliveries retry.
        log.error("webhook_secret_unavailable", error=str(exc))
        return None


def _secret(ctx: JobContext) -> str:
    if "webhook_secret" not in ctx:
        ctx["webhook_secret"] = webhook_secret(ctx["settings"])
    return ctx["webhook_secret"]


def _channels(ctx: JobContext) -> Channels:
    if "channels" not in ctx:
        ctx["channels"] = channels_from_settings(ctx["settings"], ctx["http"])
    return ctx["channels"]


async def deliver_notification(ctx: JobContext, notification_id: int) -> str:
    """One delivery attempt; "skipped" when there was nothing to do (already sent or failed,
    not due yet, or another job is delivering it right now). When many notices are due for
    the same destination and level, they are first folded into one digest (committed), which
    is then delivered instead."""
    settings = ctx["settings"]
    async with unit_of_work(ctx["sessionmaker"]) as session:
        digest = await form_digest(
            session,
            notification_id,
            datetime.now(UTC),
            settings.digest_threshold,
            settings.digest_max_items,
        )
    async with unit_of_work(ctx["sessionmaker"]) as session:
        outcome = await deliver(
            session,
            digest or notification_id,
            client=ctx["http"],
            secret=_secret(ctx),
            policy=RetryPolicy.from_settings(settings),
            tz=ZoneInfo(settings.timezone),
            # read again: the attempt's time is what rate limits count, as close to the send
            # as it can be
            now=datetime.now(UTC),
            channels=_channels(ctx),
        )
    if outcome is None:
        return "skipped"
    # Only after the commit: the next channel of a recipient, the office's notice.
    for nid in outcome.wake:
        await queue.enqueue(ctx["redis"], DELIVER_JOB, nid, job_id=delivery_job_id(nid, 0))
    if outcome.status == "pending" and outcome.next_attempt_at is not None:
        # A deferral (busy destination, rate limit) keeps the attempt count: the time in the
        # id keeps it apart from this very job.
        at = int(outcome.next_attempt_at.timestamp())
        await queue.enqueue(
            ctx["redis"],
            DELIVER_JOB,
            outcome.notification_id,
            job_id=f"{delivery_job_id(outcome.notification_id, outcome.attempts)}:t{at}",
            defer_until=outcome.next_attempt_at,
        )
    return outcome.status


async def sms_receipts(ctx: JobContext) -> int:
    """Ask the SMS vendor whether recent texts arrived (QuerySendDetails)."""
    settings = ctx["settings"]
    sms = _channels(ctx).senders.get("sms")
    if not isinstance(sms, AliyunSms) or not settings.sms_access_key_id:
        return 0
    async with unit_of_work(ctx["sessionmaker"]) as session:
        answered, wake = await poll_sms_receipts(
            session,
            sms,
            datetime.now(UTC),
            timedelta(hours=settings.sms_receipt_hours),
            ZoneInfo(settings.timezone),
        )
    for nid in wake:
        await queue.enqueue(ctx["redis"], DELIVER_JOB, nid, job_id=delivery_job_id(nid, 0))
    return answered


async def outbox_rescan(ctx: JobContext) -> int:
    """Release the inbox notices whose working hours have come, and queue every other due
    pending delivery (the database decides, not the queue)."""
    async with unit_of_work(ctx["sessionmaker"]) as session:
        now = datetime.now(UTC)
        await release_inbox(session, now)
        due = await due_for_delivery(session, now, RESCAN_LIMIT)
    job_ids = {nid: delivery_job_id(nid, attempts) for nid, attempts, _ in due}
    late = [(nid, attempts, at) for nid, attempts, at in due if stale(at, now)]
    # Only the late ones are asked about: a backlog queued in time is left alone.
    held = await queue.blocked(ctx["redis"], [job_ids[nid] for nid, _, _ in late])
    for (nid, attempts, at), dead in zip(late, held, strict=True):
        if dead:
            job_ids[nid] = spare_job_id(nid, attempts, at, now)
    for nid, job_id in job_ids.items():
        await queue.enqueue(ctx["redis"], DELIVER_JOB, nid, job_id=job_id)
    return len(due)


def rescan_seconds(settings: Settings) -> set[int]:
    """The seconds of each minute at which the rescan runs."""
    step = max(1, min(60, settings.delivery_rescan_seconds))
    return set(range(0, 60, step))
