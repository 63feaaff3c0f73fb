"""Overdue commitments swept by real arq worker processes on the real database and Redis:
each level of a commitment's own ladder fired and told exactly once, also when a worker is
killed (SIGKILL) while it holds a claimed batch. Polls with generous deadlines rather than
sleeping, so a slow machine makes it slower, not red."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from services.core.commitments.rules import DEFAULT_LADDER
from tests.helpers import Servers, wait_for
from tests.workers import (
    WorkerPool,
    batches_held,
    freeze_holding_a_batch,
    unlocked_pending,
    worker_env,
    xact_status,
)

LEVELS = len(DEFAULT_LADDER.levels)
MANY = 1_000
# arq retries a tick's job cut off by a killed worker only after the job's timeout: the
# recovery is the next tick's doing, well within it.
SWEEP_JOB_TIMEOUT_SECONDS = 300


@pytest.fixture
def pool(servers: Servers, database_url: str, tmp_path: Path, redis: Redis) -> Iterator[WorkerPool]:
    # `redis` flushed the shared test Redis: no job or cron key of an earlier test is left.
    env = worker_env(servers, database_url, tmp_path, sweep_seconds=1)
    with WorkerPool(env) as workers:
        yield workers


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def insert_overdue_commitments(db: asyncpg.Connection, n: int) -> None:
    """`n` commitments of 市南区, due 30 days ago: both levels of the ladder are due."""
    meeting = await db.fetchval(
        "INSERT INTO meetings (held_on, title, kind) VALUES (current_date, '故障测试', 'briefing')"
        " RETURNING id"
    )
    await db.execute(
        """
        INSERT INTO commitments (meeting_id, unit_id, district_id, status_quo, problems,
                                 targets, measures, deadline, due_at, escalation_plan,
                                 next_escalation_at, created_at)
        SELECT $1, u.id, u.id, '现状', '问题', '目标 ' || i, '措施', '{"working_days": 5}',
               now() - interval '30 days', $2::jsonb, now() - interval '30 days',
               now() - interval '60 days'
        FROM units u, generate_series(1, $3) AS i WHERE u.code = 'shinan'
        """,
        meeting,
        json.dumps(DEFAULT_LADDER.to_json()),
        n,
    )


async def pending(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval("SELECT count(*) FROM commitments WHERE next_escalation_at IS NOT NULL")
    )


@pytest.mark.slow(seconds=20)
async def test_a_worker_killed_holding_overdue_commitments_fires_each_level_once(
    pool: WorkerPool, db: asyncpg.Connection
) -> None:
    # The sweep runs on one worker per tick and drains 1,000 commitments within a tick or
    # two, so a second worker running from the start could take every tick and leave the
    # victim nothing to hold: the survivor starts once the victim is caught with a batch.
    victim = pool.start("victim")
    await insert_overdue_commitments(db, MANY)
    ports = await freeze_holding_a_batch(db, victim, "commitments", within=120)
    xids = await batches_held(db, ports, "commitments")
    survivor = pool.start("survivor")

    async def survivor_done() -> bool:
        return await unlocked_pending(db, "commitments") == 0 and not await batches_held(
            db, survivor.local_ports(), "commitments"
        )

    await wait_for(survivor_done, bool, within=240)
    held = await pending(db)
    assert held > 0
    victim.kill()
    killed = time.monotonic()

    async def statuses() -> set[str]:
        return {await xact_status(db, xid) for xid in xids}

    await wait_for(statuses, lambda found: found == {"aborted"}, within=60)
    await wait_for(lambda: pending(db), lambda n: n == 0, within=SWEEP_JOB_TIMEOUT_SECONDS / 3)
    print(
        f"\nworker killed holding {held} commitments; all swept "
        f"{time.monotonic() - killed:.1f}s later"
    )
    final = await db.fetchrow(
        """
        SELECT (SELECT count(*) FROM commitment_escalations) AS levels,
               (SELECT count(DISTINCT (commitment_id, level)) FROM commitment_escalations)
                 AS distinct_levels,
               (SELECT count(*) FROM notifications WHERE kind = 'commitment') AS notices,
               (SELECT count(DISTINCT (commitment_id, level, recipient_person_id))
                  FROM notifications WHERE kind = 'commitment' AND channel = 'inbox')
                 AS distinct_notices,
               (SELECT count(*) FROM notifications
                 WHERE kind = 'commitment' AND commitment_id IS NULL) AS unnamed
        """
    )
    assert final is not None
    # every level once; its addressee (the demo's posts are all held) told once, in the inbox
    assert final["levels"] == final["distinct_levels"] == MANY * LEVELS, dict(final)
    assert final["notices"] == final["distinct_notices"] == MANY * LEVELS, dict(final)
    assert final["unnamed"] == 0, dict(final)
