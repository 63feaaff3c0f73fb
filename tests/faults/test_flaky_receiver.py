"""A receiver that first hangs past DUBAN_WEBHOOK_TIMEOUT_SECONDS (1 s here), then answers 500,
then recovers: every notification is delivered, the receiver sees exactly one successful
request per notification id, and the outbox records it as sent after three attempts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.faults.escalation_stack import (
    LEVELS,
    SECRET,
    all_delivered,
    assert_exactly_once,
    fault_worker_env,
    outbox,
    webhooks_to,
)
from tests.faults.flaky_receiver import HUNG, FlakyReceiver
from tests.helpers import Servers, insert_overdue, wait_for
from tests.workers import WorkerPool

FINDINGS = 25
WEBHOOKS = FINDINGS * LEVELS  # every unit has the webhook
HANG_SECONDS = 2.5


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    r = FlakyReceiver(SECRET, HANG_SECONDS).start()
    yield r
    r.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_a_receiver_that_times_out_then_fails_then_recovers_gets_each_once(
    servers: Servers,
    database_url: str,
    tmp_path: Path,
    redis: Redis,
    db: asyncpg.Connection,
    receiver: FlakyReceiver,
) -> None:
    await webhooks_to(db, receiver.url)
    with WorkerPool(fault_worker_env(servers, database_url, tmp_path)) as pool:
        a, b = pool.start("a", wait=False), pool.start("b", wait=False)
        a.wait_started()
        b.wait_started()
        await insert_overdue(db, database_url, FINDINGS)
        started = time.monotonic()
        final, took = await wait_for(lambda: outbox(db), all_delivered(WEBHOOKS), within=60)

    assert_exactly_once(final, FINDINGS, WEBHOOKS)
    rows = await db.fetch(
        "SELECT id, status, attempts, last_error, sent_at, first_attempt_at "
        "FROM notifications WHERE channel = 'webhook'"
    )
    assert {r["status"] for r in rows} == {"sent"}
    answers = {
        r["notification_id"]: r["answers"]
        for r in await db.fetch(
            "SELECT notification_id, array_agg(answer ORDER BY id) AS answers "
            "FROM notification_attempts GROUP BY notification_id"
        )
    }
    odd = [(r["id"], answers.get(r["id"]), receiver.seen.get(str(r["id"]))) for r in rows]
    odd = [o for o in odd if o[1] is None or len(o[1]) != 3]
    assert {r["attempts"] for r in rows} == {3}, odd
    assert {r["last_error"] for r in rows} == {"HTTP 500 Internal Server Error"}
    # every notification: one hung request, one 500, one success, and nothing after it
    assert set(receiver.seen) == {str(r["id"]) for r in rows}
    assert all(seen == [HUNG, 500, 200] for seen in receiver.seen.values()), receiver.seen
    spans = sorted((r["sent_at"] - r["first_attempt_at"]).total_seconds() for r in rows)
    print(
        f"\n{WEBHOOKS} webhooks to a receiver that hangs {HANG_SECONDS}s (timeout 1s), then "
        f"answers 500, then 200: all sent after 3 attempts, {took:.1f}s after the insert "
        f"(first attempt to sent: median {spans[len(spans) // 2]:.1f}s, max {spans[-1]:.1f}s)"
    )
    assert time.monotonic() - started < 60
