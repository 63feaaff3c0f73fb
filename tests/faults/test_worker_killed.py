"""Workers killed with SIGKILL, one in the middle of the sweep and one in the middle of the
webhook deliveries, under `duban up`'s supervisor, which starts each again: every escalation
fires exactly once and every notification is delivered (a receiver may see a delivery the
killed worker had in flight a second time, under the same Idempotency-Key: that is what the
key is for)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.faults.escalation_stack import (
    SECRET,
    all_delivered,
    assert_exactly_once,
    fault_worker_env,
    outbox,
    webhook_ids,
    webhooks_to,
)
from tests.helpers import Servers, insert_overdue, wait_for
from tests.webhook_receiver import Receiver
from tests.workers import SupervisedWorkers

FINDINGS = 1200
# Only the discipline commission (every finding's level 4) has a webhook: one per finding.
WEBHOOKS = FINDINGS
MAX_JOBS = 20  # services/worker/settings.py: what one killed worker can have in flight


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    yield r
    r.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_workers_killed_mid_sweep_and_mid_delivery_lose_and_duplicate_nothing(
    servers: Servers,
    database_url: str,
    tmp_path: Path,
    redis: Redis,
    db: asyncpg.Connection,
    receiver: Receiver,
) -> None:
    await webhooks_to(db, receiver.url, unit="jiwei")
    with SupervisedWorkers(fault_worker_env(servers, database_url, tmp_path)) as pool:
        a, b = pool.start("a", wait=False), pool.start("b", wait=False)
        a.wait_started()
        b.wait_started()
        await insert_overdue(db, database_url, FINDINGS)
        started = time.monotonic()

        # mid-sweep: part of the findings escalated, part not. Judged on the snapshot that
        # decided the kill: read after it, worker b may have finished the sweep meanwhile.
        at_first_kill, _ = await wait_for(
            lambda: outbox(db),
            lambda o: o["escalations"] > 0,
            within=30,
            interval=0.01,
        )
        a.kill()
        assert at_first_kill["pending"] > 0, "the sweep was over before the kill"
        await asyncio.to_thread(a.wait_restarted, 1)

        # mid-delivery: part of the webhooks sent, part not
        await wait_for(
            lambda: outbox(db), lambda o: o["webhooks_sent"] > 100, within=60, interval=0.02
        )
        b.kill()
        at_second_kill = await outbox(db)
        second_kill = time.monotonic()
        await asyncio.to_thread(b.wait_restarted, 1)
        b_back = time.monotonic() - second_kill

        final, _ = await wait_for(lambda: outbox(db), all_delivered(WEBHOOKS), within=90)
        recovered = time.monotonic() - second_kill
        took = time.monotonic() - started
        restarts = {name: w.restarts for name, w in pool.workers.items()}
        assert await asyncio.to_thread(pool.stop_all) == {"a": 0, "b": 0}

    assert_exactly_once(final, FINDINGS, WEBHOOKS)
    wanted = await webhook_ids(db)
    successes = Counter(h.key for h in receiver.hits if 200 <= h.status < 300)
    assert set(successes) == wanted
    assert all(h.signature_ok for h in receiver.hits)
    again = sum(n - 1 for n in successes.values())
    print(
        f"\n{FINDINGS} overdue findings, {WEBHOOKS} webhooks: worker a killed at "
        f"{at_first_kill['escalations']} escalations, worker b at "
        f"{at_second_kill['webhooks_sent']} webhooks sent, each restarted by the supervisor "
        f"{restarts} (b serving again {b_back:.1f}s after its kill); all delivered "
        f"{recovered:.1f}s after the second kill, {took:.1f}s after the insert; "
        f"{again} deliveries seen twice by the receiver (same key)"
    )
    # only what the killed workers had in flight may reach the receiver a second time
    assert again <= 2 * MAX_JOBS
    assert restarts == {"a": 1, "b": 1}
