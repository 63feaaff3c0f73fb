"""Webhook delivery to a real HTTP receiver on loopback: signature, idempotency key, retries
with backoff, giving up after the horizon, and (with a real arq worker) recovery from a
flushed Redis. Core functions are driven with an explicit `now`: nobody waits 24 hours."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Notification
from services.core.notify.delivery import Outcome, deliver
from services.core.notify.store import DELIVER_JOB, delivery_job_id
from services.core.notify.webhooks import InvalidSignature, sign, verify_signature
from services.core.platform.backoff import RetryPolicy, next_attempt, retry_delay
from services.core.platform.settings import Settings
from services.worker import queue
from tests.conftest import Login, Servers
from tests.helpers import make_overdue, post, sweep
from tests.webhook_receiver import Receiver

SECRET = "whsec-test-0123456789abcdef"
TZ = ZoneInfo("Asia/Shanghai")
POLICY = RetryPolicy(
    base=timedelta(seconds=30), cap=timedelta(hours=1), horizon=timedelta(hours=24)
)
WORKER = "services.worker"  # the worker entrypoint, as production runs it


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The receiver answers from a thread of this busy process: a generous limit, so that only
    # a receiver that hangs on purpose times out.
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET)
    yield r
    r.stop()


async def set_unit_webhook(
    factory: async_sessionmaker[AsyncSession], unit: str, url: str | None
) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE units SET webhook_url = :url WHERE code = :code"),
            {"url": url, "code": unit},
        )


async def overdue_with_webhook(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    url: str,
) -> str:
    """A finding of 八大关街道 whose deadline has just passed, the street's webhook set."""
    await set_unit_webhook(factory, "shinan.badaguan", url)
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], datetime.now(UTC) - timedelta(minutes=1))
    fid: str = f["id"]
    return fid


async def webhook_notification(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    url: str,
    now: datetime,
) -> int:
    """Fire L1 with the sweep; the one pending webhook row it writes."""
    await overdue_with_webhook(client, login, factory, url)
    result = await sweep(factory, settings, now)
    assert result.escalations == 1
    (nid,) = result.deliveries
    return int(nid)


async def attempt(
    factory: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    nid: int,
    now: datetime,
    rand: Callable[[], float] = lambda: 0.0,
) -> Outcome | None:
    async with factory() as session, session.begin():
        return await deliver(
            session, nid, client=http, secret=SECRET, policy=POLICY, tz=TZ, now=now, rand=rand
        )


async def row(factory: async_sessionmaker[AsyncSession], nid: int) -> Notification:
    async with factory() as session:
        n = await session.get(Notification, nid)
    assert n is not None
    return n


# --- pure rules -------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter_only_shortening() -> None:
    delays = [retry_delay(POLICY, k, 0.0).total_seconds() for k in range(1, 11)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(POLICY, 3, 0.999).total_seconds() == pytest.approx(120 * 0.8, rel=1e-3)
    assert retry_delay(POLICY, 10_000, 0.5) == timedelta(seconds=3600 * 0.9)


def test_giving_up_happens_once_the_first_attempt_is_older_than_the_horizon() -> None:
    first = datetime(2026, 11, 26, tzinfo=UTC)
    just_before = first + timedelta(hours=24) - timedelta(seconds=1)
    assert next_attempt(POLICY, first, 30, just_before, 0.0) == just_before + POLICY.cap
    assert next_attempt(POLICY, first, 31, first + timedelta(hours=24), 0.0) is None


def test_a_receiver_accepts_only_fresh_untampered_requests_signed_with_the_secret() -> None:
    body = '{"id":1,"subject":"【督办】"}'.encode()
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    header = sign(SECRET, body, int(now.timestamp()))
    verify_signature(SECRET, header, body, now)
    verify_signature(SECRET, header, body, now + timedelta(minutes=4))
    rotated = f"{header},v1={'0' * 64}"
    verify_signature(SECRET, rotated, body, now)
    for secret, hdr, raw, at in [
        ("another-secret", header, body, now),
        (SECRET, header, body + b" ", now),
        (SECRET, header, body, now + timedelta(minutes=6)),  # a replay
        (SECRET, header, body, now - timedelta(minutes=6)),
        (SECRET, None, body, now),
        (SECRET, "v1=abc", body, now),
        (SECRET, "t=soon,v1=abc", body, now),
    ]:
        with pytest.raises(InvalidSignature):
            verify_signature(secret, hdr, raw, at)


# --- core delivery against a real receiver ------------------------------------------------


async def test_a_webhook_arrives_signed_with_the_notification_id_as_idempotency_key(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    receiver.start()
    now = datetime.now(UTC)
    nid = await webhook_notification(client, login, factory, settings, receiver.url, now)
    outcome = await attempt(factory, http, nid, now)
    assert outcome == Outcome(nid, "sent", 1, None)
    (hit,) = receiver.hits
    assert hit.signature_ok
    assert hit.key == str(nid)
    assert hit.headers["Content-Type"].startswith("application/json")
    assert hit.body["id"] == nid
    assert hit.body["kind"] == "escalation"
    assert hit.body["subject"].startswith("【督办·第1级】八大关街道")
    assert hit.body["payload"]["level"] == 1
    assert hit.body["payload"]["target_unit"] == "shinan.badaguan"
    assert datetime.fromisoformat(hit.body["created_at"]).utcoffset() == timedelta(hours=8)
    assert "八大关街道".encode() in hit.raw  # UTF-8 as is, not \\u escapes
    n = await row(factory, nid)
    assert (n.status, n.attempts, n.sent_at, n.next_attempt_at) == ("sent", 1, now, None)
    # sent is final: another job for the same notification does nothing
    assert await attempt(factory, http, nid, now + timedelta(hours=1)) is None
    assert len(receiver.hits) == 1


async def test_a_receiver_down_for_a_while_gets_the_message_once_after_backoff(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    t0 = datetime.now(UTC)
    nid = await webhook_notification(client, login, factory, settings, receiver.url, t0)
    schedule: list[float] = []
    now = t0
    # two attempts meet a closed port, then the receiver answers 500 twice, then 200
    for step in range(5):
        if step == 2:
            receiver.script.extend([500, 500])
            receiver.start()
        # not due yet: nothing happens (and nothing reaches the receiver)
        assert await attempt(factory, http, nid, now - timedelta(seconds=1)) is None
        outcome = await attempt(factory, http, nid, now)
        assert outcome is not None
        if outcome.next_attempt_at is not None:
            schedule.append((outcome.next_attempt_at - now).total_seconds())
            now = outcome.next_attempt_at
    assert outcome is not None
    assert outcome.status == "sent"
    assert schedule == [30, 60, 120, 240]
    n = await row(factory, nid)
    assert (n.status, n.attempts, n.first_attempt_at, n.sent_at) == ("sent", 5, t0, now)
    assert n.last_error == "HTTP 500 Internal Server Error"
    assert [h.status for h in receiver.for_key(str(nid))] == [500, 500, 200]
    assert len(receiver.successes(str(nid))) == 1
    assert all(h.signature_ok for h in receiver.hits)
    # the body is byte-identical on every retry, so the receiver can compare or hash it
    assert len({h.raw for h in receiver.hits}) == 1


async def test_a_receiver_that_never_recovers_ends_failed_after_the_horizon(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    receiver.default_status = 503
    receiver.start()
    t0 = datetime.now(UTC)
    nid = await webhook_notification(client, login, factory, settings, receiver.url, t0)
    now, gaps = t0, []
    while True:
        outcome = await attempt(factory, http, nid, now)
        assert outcome is not None
        if outcome.status == "failed":
            break
        assert outcome.next_attempt_at is not None
        gaps.append(outcome.next_attempt_at - now)
        now = outcome.next_attempt_at
    n = await row(factory, nid)
    assert n.status == "failed"
    assert n.next_attempt_at is None
    assert n.last_error == "HTTP 503 Service Unavailable"
    assert now - t0 >= timedelta(hours=24)
    assert now - t0 - gaps[-1] < timedelta(hours=24)  # the one before was still inside
    assert max(gaps) == timedelta(hours=1)
    assert n.attempts == len(gaps) + 1 == 31
    assert len(receiver.hits) == n.attempts
    assert not receiver.successes(str(nid))
    # failed is final for the worker; only an admin's retry reopens it
    assert await attempt(factory, http, nid, now + timedelta(days=1)) is None


async def test_a_timeout_counts_as_a_failed_attempt(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    receiver: Receiver,
) -> None:
    receiver.delay = 60.0  # far past the sender's limit however slow the machine (a daemon
    receiver.start()  # thread: stopping the receiver does not wait for it)
    now = datetime.now(UTC)
    nid = await webhook_notification(client, login, factory, settings, receiver.url, now)
    async with httpx.AsyncClient(timeout=0.5) as impatient:
        outcome = await attempt(factory, impatient, nid, now)
    assert outcome is not None
    assert outcome.status == "pending"
    assert (await row(factory, nid)).last_error == "timeout (ReadTimeout)"


async def test_two_jobs_for_one_notification_at_once_send_it_once(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    receiver.delay = 0.5  # the first job holds the row lock while it waits for the answer
    receiver.start()
    now = datetime.now(UTC)
    nid = await webhook_notification(client, login, factory, settings, receiver.url, now)
    outcomes = await asyncio.gather(*(attempt(factory, http, nid, now) for _ in range(3)))
    assert sorted(o.status if o else "skipped" for o in outcomes) == [
        "sent",
        "skipped",
        "skipped",
    ]
    assert len(receiver.hits) == 1


async def test_an_address_that_is_not_http_fails_at_once_and_nothing_leaks(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    now = datetime.now(UTC)
    nid = await webhook_notification(
        client, login, factory, settings, "ftp://files.example/drop?token=abc", now
    )
    outcome = await attempt(factory, http, nid, now)
    assert outcome is not None
    assert outcome.status == "failed"
    n = await row(factory, nid)
    assert n.last_error == "the address is not an http(s) URL"


# --- a real worker process ----------------------------------------------------------------


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
    pool = await queue.connect(servers.redis.url)
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
