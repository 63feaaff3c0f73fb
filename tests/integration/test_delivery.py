"""Webhook delivery to a real HTTP receiver on loopback: signature, idempotency key, retries
with backoff, giving up after the horizon (with a real worker process: tests/system). Core
functions are driven with an explicit `now`: nobody waits 24 hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Notification
from services.core.notify.delivery import Outcome, deliver
from services.core.platform.backoff import RetryPolicy
from services.core.platform.settings import Settings
from tests.helpers import Login, overdue_with_webhook, sweep
from tests.webhook_receiver import Receiver

SECRET = "whsec-test-0123456789abcdef"
TZ = ZoneInfo("Asia/Shanghai")
POLICY = RetryPolicy(
    base=timedelta(seconds=30), cap=timedelta(hours=1), horizon=timedelta(hours=24)
)


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
