"""Webhook delivery by a real worker process: swept, delivered, retried until the receiver is
back, and delivered still after Redis lost its jobs (the rescan)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Notification
from services.core.notify.store import DELIVER_JOB, delivery_job_id
from services.worker import queue
from tests.helpers import Login, Servers, overdue_with_webhook, post
from tests.webhook_receiver import Receiver
from tests.workers import WORKER, queue_client

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET)
    yield r
    r.stop()


def worker_env(servers: Servers, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": servers.redis.url,
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_LOG_LEVEL": "WARNING",
        "DUBAN_NOTIFY_HOURS": "always",  # tests run at any hour
        "DUBAN_WEBHOOK_SECRET": SECRET,
        "DUBAN_DELIVERY_BACKOFF_BASE_SECONDS": "0.3",
        "DUBAN_DELIVERY_BACKOFF_CAP_SECONDS": "1",
        "DUBAN_DELIVERY_RESCAN_SECONDS": "2",
    }
    return env


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", WORKER], env=self.env)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


@pytest.fixture
def worker(servers: Servers, database_url: str, tmp_path: Path, redis: Redis) -> Iterator[Worker]:
    w = Worker(worker_env(servers, database_url, tmp_path))
    yield w
    w.stop()


async def wait_for(
    factory: async_sessionmaker[AsyncSession],
    predicate: Callable[[list[Notification]], bool],
    within: float = 60,
) -> list[Notification]:
    deadline = time.monotonic() + within
    while True:
        async with factory() as session:
            rows = list(
                (
                    await session.execute(
                        select(Notification).where(Notification.channel == "webhook")
                    )
                ).scalars()
            )
        if predicate(rows):
            return rows
        assert time.monotonic() < deadline, [(n.status, n.attempts, n.last_error) for n in rows]
        await asyncio.sleep(0.1)


async def test_worker_sweeps_delivers_and_retries_until_the_receiver_is_back(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    worker: Worker,
) -> None:
    await overdue_with_webhook(client, login, factory, receiver.url)
    worker.start()
    # the worker's own sweep fires L1 and its delivery meets a closed port, twice
    await wait_for(factory, lambda rows: len(rows) == 1 and rows[0].attempts >= 2)
    receiver.script.extend([500, 500])
    receiver.start()
    (n,) = await wait_for(factory, lambda rows: len(rows) == 1 and rows[0].status == "sent")
    assert n.attempts >= 5
    assert [h.status for h in receiver.hits] == [500, 500, 200]
    assert len(receiver.successes(str(n.id))) == 1
    assert all(h.signature_ok for h in receiver.hits)
    # later jobs and rescans change nothing
    await asyncio.sleep(2.5)
    assert len(receiver.hits) == 3


async def test_after_flushall_the_rescan_still_delivers(
    servers: Servers,
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    redis: Redis,
    receiver: Receiver,
    worker: Worker,
) -> None:
    receiver.start()
    worker.start()
    f = await post(client, await login("inspector"))
    due_in = timedelta(seconds=3)
    async with factory() as session, session.begin():
        nid = await session.scalar(
            text(
                "INSERT INTO notifications (dedupe_key, kind, finding_id, channel, address, "
                "subject, payload, status, next_attempt_at) VALUES (:key, 'escalation', :fid, "
                "'webhook', :url, '【督办】测试', CAST('{}' AS jsonb), 'pending', "
                "now() + :due) RETURNING id"
            ),
            {
                "key": f"test:{uuid.uuid4()}",
                "fid": uuid.UUID(f["id"]),
                "url": receiver.url,
                "due": due_in,
            },
        )
    assert isinstance(nid, int)
    pool = await queue_client(servers.redis.url)
    try:
        job = await queue.enqueue(
            pool,
            DELIVER_JOB,
            nid,
            job_id=delivery_job_id(nid, 0),
            defer_until=datetime.now(UTC) + due_in,
        )
    finally:
        await pool.aclose()
    assert job is not None
    assert await redis.exists(f"arq:job:{delivery_job_id(nid, 0)}")
    await redis.flushall()
    (n,) = await wait_for(factory, lambda rows: rows[0].status == "sent", within=60)
    assert n.attempts == 1
    assert len(receiver.successes(str(nid))) == 1
