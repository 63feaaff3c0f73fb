"""Exactly once per (notification, channel) across worker kills, with real worker processes
against the fake DingTalk and Aliyun SMS: both workers are SIGKILLed while the robot holds a
request they sent, again and again. The message that was in flight is never sent again on
that channel (it is `in_doubt`), the recipient's next channel (SMS) takes over, and nothing
is lost: every recipient ends with exactly one message that was recorded as sent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fake_providers import FakeAliyunSms, FakeDingTalk, notice_id, texts_of
from tests.helpers import (
    Login,
    Servers,
    add_contact_point,
    clone_findings,
    make_overdue,
    person_of,
    post,
    sql_rows,
)
from tests.workers import WorkerPool, worker_env

FINDINGS = 20
KILLS = 3
SMS = ("LTAI-kill-test", "kill-secret", "青岛督办")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeDingTalk, FakeAliyunSms]]:
    dingtalk = FakeDingTalk()
    dingtalk.PER_MINUTE = 100_000
    dingtalk.delay = 0.3  # long enough for a kill to land while a request is held
    sms = FakeAliyunSms(*SMS)
    sms.templates = {"SMS_ESC": {"level", "unit", "what", "days", "code"}}
    dingtalk.start()
    sms.start()
    yield dingtalk, sms
    dingtalk.stop()
    sms.stop()


async def until(
    probe: Callable[[], Awaitable[bool]], within: float, what: str, pool: WorkerPool
) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            logs = "\n".join(w.log_text()[-3000:] for w in pool.workers.values())
            raise AssertionError(f"{what}\n{logs}")
        await asyncio.sleep(0.05)


@pytest.mark.slow(seconds=65)
async def test_workers_killed_mid_send_never_send_a_message_twice_on_one_channel(
    servers: Servers,
    database_url: str,
    tmp_path: Path,
    redis: Redis,
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    fakes: tuple[FakeDingTalk, FakeAliyunSms],
) -> None:
    dingtalk, sms = fakes
    admin = await login("admin")
    # The district head and the city leader in charge of 市南区: a robot each, then SMS.
    for role, phone in (("head", "13800000001"), ("city_leader", "13800000002")):
        person = await person_of(factory, "shinan", role)
        robot = dingtalk.robot(secret=f"SEC-{role}")
        await add_contact_point(
            client,
            admin,
            person_id=person,
            kind="dingtalk",
            url=dingtalk.url(robot),
            secret=robot.secret,
        )
        await add_contact_point(
            client, admin, person_id=person, kind="sms", phone=phone, position=1
        )
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], datetime.now(UTC) - timedelta(days=40))
    await clone_findings(factory, f["id"], FINDINGS - 1)

    env = worker_env(servers, database_url, tmp_path, sweep_seconds=1)
    env |= {
        "DUBAN_NOTIFY_HOURS": "always",
        "DUBAN_DIGEST_THRESHOLD": "10000",  # every message on its own, to count them
        "DUBAN_RATE_DINGTALK_PER_MINUTE": "10000",
        "DUBAN_RATE_SMS_PER_MINUTE": "10000",
        "DUBAN_DELIVERY_RESCAN_SECONDS": "1",
        "DUBAN_DELIVERY_BACKOFF_BASE_SECONDS": "0.3",
        "DUBAN_DELIVERY_BACKOFF_CAP_SECONDS": "1",
        "DUBAN_SMS_ENDPOINT": sms.endpoint,
        "DUBAN_SMS_ACCESS_KEY_ID": SMS[0],
        "DUBAN_SMS_ACCESS_KEY_SECRET": SMS[1],
        "DUBAN_SMS_SIGN_NAME": SMS[2],
        "DUBAN_SMS_TEMPLATE_ESCALATION": "SMS_ESC",
    }

    async def in_flight() -> bool:
        return dingtalk.in_flight > 0

    async def settled() -> bool:
        rows = await sql_rows(
            factory,
            "SELECT count(*) AS n FROM notifications WHERE channel IN ('dingtalk', 'sms') "
            "AND status IN ('pending', 'digested')",
        )
        total = await sql_rows(
            factory, "SELECT count(*) AS n FROM notifications WHERE channel = 'dingtalk'"
        )
        return bool(total[0].n == 2 * FINDINGS and rows[0].n == 0)

    with WorkerPool(env) as pool:
        names = ("a", "b")
        for name in names:
            pool.start(name, wait=False)
        for _ in range(KILLS):
            await until(in_flight, 120, "no delivery reached the robot", pool)
            for name in names:
                pool.workers[name].kill()  # SIGKILL while the robot holds a request
            for name in names:
                pool.start(name, wait=False)
        await until(settled, 180, "deliveries did not settle", pool)

    rows = await sql_rows(
        factory,
        "SELECT id, channel, status, chain, escalation_id FROM notifications "
        "WHERE channel IN ('dingtalk', 'sms') ORDER BY id",
    )
    robot_got = Counter(
        notice_id(t) for r in dingtalk.robots.values() for t in texts_of(r.messages)
    )
    phone_got = Counter(int(t.out_id) for t in sms.texts)
    by_chain: dict[str, list[object]] = {}
    for r in rows:
        got = robot_got[r.id] if r.channel == "dingtalk" else phone_got[r.id]
        assert got <= 1, f"notification {r.id} went out {got} times on {r.channel}"
        if r.status == "sent":
            assert got == 1, f"notification {r.id} recorded as sent but never arrived"
        by_chain.setdefault(r.chain, []).append(r)
    in_doubt = [r for r in rows if r.status == "in_doubt"]
    assert len(in_doubt) >= 1, "no kill landed mid-send"
    # every recipient of every escalation got exactly one message recorded as sent
    assert len(by_chain) == 2 * FINDINGS
    for chain, found in by_chain.items():
        statuses = [r.status for r in found]  # type: ignore[attr-defined]
        assert statuses.count("sent") == 1, (chain, statuses)
        assert set(statuses) <= {"sent", "in_doubt", "skipped", "failed"}, (chain, statuses)
    # a message in doubt was taken over by SMS
    for r in in_doubt:
        sms_rows = [x for x in by_chain[r.chain] if x.channel == "sms"]  # type: ignore[attr-defined]
        assert [x.status for x in sms_rows] == ["sent"]  # type: ignore[attr-defined]
    unfinished = await sql_rows(
        factory, "SELECT count(*) AS n FROM notification_attempts WHERE finished_at IS NULL"
    )
    assert unfinished[0].n == 0
    assert uuid.UUID(f["id"])
