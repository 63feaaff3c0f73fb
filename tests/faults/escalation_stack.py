"""What the worker scenarios share: workers on short settings, every unit's webhook pointing at a
receiver on loopback, a few thousand overdue findings, and the exactly-once checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.helpers import Servers
from tests.workers import worker_env

SECRET = "whsec-fault-suite-0123456789abcdef"
LEVELS = 4  # the default ladder, every level to inbox and webhook


def fault_worker_env(servers: Servers, database_url: str, data_dir: Path) -> dict[str, str]:
    return worker_env(servers, database_url, data_dir, sweep_seconds=1) | {
        "DUBAN_DELIVERY_RESCAN_SECONDS": "1",
        "DUBAN_DELIVERY_BACKOFF_BASE_SECONDS": "1",
        "DUBAN_DELIVERY_BACKOFF_CAP_SECONDS": "2",
        "DUBAN_WEBHOOK_TIMEOUT_SECONDS": "1",
        "DUBAN_WEBHOOK_SECRET": SECRET,
    }


async def webhooks_to(db: asyncpg.Connection, url: str, unit: str | None = None) -> None:
    """Every unit's webhook (or only `unit`'s) set to `url`."""
    await db.execute(
        "UPDATE units SET webhook_url = $1 WHERE $2::text IS NULL OR code = $2", url, unit
    )


async def outbox(db: asyncpg.Connection) -> dict[str, int]:
    row = await db.fetchrow(
        """
        SELECT (SELECT count(*) FROM findings WHERE next_escalation_at IS NOT NULL) AS pending,
               (SELECT count(*) FROM escalations) AS escalations,
               (SELECT count(DISTINCT (finding_id, level)) FROM escalations) AS distinct_levels,
               -- the escalations' own messages; the campaign office's notices about
               -- leaders no channel reaches (kind 'undelivered') are counted apart
               (SELECT count(*) FROM notifications
                 WHERE channel = 'inbox' AND kind = 'escalation') AS inbox,
               (SELECT count(*) FROM notifications
                 WHERE channel = 'webhook' AND kind = 'escalation') AS webhooks,
               (SELECT count(DISTINCT dedupe_key) FROM notifications
                 WHERE kind = 'escalation') AS distinct_keys,
               (SELECT count(*) FROM notifications WHERE kind = 'escalation') AS notifications,
               (SELECT count(*) FROM notifications) AS all_notifications,
               (SELECT count(DISTINCT dedupe_key) FROM notifications) AS all_distinct_keys,
               (SELECT count(*) FROM notifications
                 WHERE channel = 'webhook' AND kind = 'escalation' AND status = 'sent')
                 AS webhooks_sent,
               (SELECT count(*) FROM notifications
                 WHERE channel = 'webhook' AND kind = 'escalation' AND status = 'failed')
                 AS webhooks_failed,
               (SELECT count(*) FROM notifications
                 WHERE channel = 'webhook' AND kind = 'escalation' AND attempts > 0)
                 AS webhooks_attempted
        """
    )
    assert row is not None
    return dict(row)


def all_delivered(webhooks: int) -> Callable[[dict[str, int]], bool]:
    def done(o: dict[str, int]) -> bool:
        return o["pending"] == 0 and o["webhooks_sent"] == webhooks

    return done


def assert_exactly_once(o: dict[str, int], findings: int, webhooks: int) -> None:
    """Each level of each finding fired once, with one inbox message and (where a webhook is
    set) one webhook, all delivered."""
    assert o["escalations"] == o["distinct_levels"] == findings * LEVELS, o
    assert o["inbox"] == findings * LEVELS, o
    assert o["webhooks"] == webhooks, o
    assert o["notifications"] == o["distinct_keys"] == findings * LEVELS + webhooks, o
    assert o["all_notifications"] == o["all_distinct_keys"], o
    assert o["webhooks_sent"] == webhooks, o
    assert o["webhooks_failed"] == 0, o


async def webhook_ids(db: asyncpg.Connection) -> set[str]:
    return {
        str(r["id"])
        for r in await db.fetch("SELECT id FROM notifications WHERE channel = 'webhook'")
    }
