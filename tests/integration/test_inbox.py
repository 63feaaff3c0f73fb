"""The in-app inbox and the supervisors' outbox view through the real API: escalations fired
by the sweep land in the right person's inbox only; failed webhooks are listed for
supervisors and retried by admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.notify.delivery import deliver
from services.core.notify.store import delivery_job_id
from services.core.platform.backoff import RetryPolicy
from services.core.platform.settings import Settings
from tests.helpers import Login, make_overdue, post, sweep
from tests.webhook_receiver import Receiver, free_port

INBOX = "/api/v1/inbox"
OUTBOX = "/api/v1/notifications"
SECRET = "whsec-inbox-test"
# Late enough for every level of the default ladder (due + 10 working days).
DUE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SWEPT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


async def escalate(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> str:
    """A finding of 八大关街道 twelve working days late, swept: L1–L4 fired."""
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], DUE)
    assert (await sweep(factory, settings, SWEPT)).escalations == 4
    fid: str = f["id"]
    return fid


async def inbox(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    r = await client.get(INBOX, headers=headers, params=params)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def test_an_escalation_reaches_the_inbox_of_its_target_only(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid = await escalate(client, login, factory, settings)
    leader = await login("leader.shinan")
    page = await inbox(client, leader)
    assert page["next_cursor"] is None
    (item,) = page["items"]
    assert item["kind"] == "escalation"
    assert item["payload"]["level"] == 2
    assert item["payload"]["target"] == "district_head"
    assert item["finding_id"] == fid
    assert item["subject"].startswith("【督办·第2级】")
    assert item["read"] is False
    assert item["read_at"] is None
    assert datetime.fromisoformat(item["created_at"]).utcoffset() == timedelta(hours=8)
    assert item["links"]["finding"] == f"/api/v1/findings/{fid}"
    city = (await inbox(client, await login("leader.city")))["items"]
    assert [i["payload"]["level"] for i in city] == [3]
    # not addressed to them: a street handler elsewhere, and accounts without a person
    for username in ("handler.licang.xiaocun", "supervisor", "admin"):
        assert (await inbox(client, await login(username)))["items"] == [], username


async def test_marking_read_is_for_the_recipient_only(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await escalate(client, login, factory, settings)
    leader = await login("leader.shinan")
    (item,) = (await inbox(client, leader))["items"]
    stranger = await login("handler.licang.xiaocun")
    r = await client.post(f"{INBOX}/{item['id']}/read", headers=stranger)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    nobody = await login("supervisor")
    assert (await client.post(f"{INBOX}/{item['id']}/read", headers=nobody)).status_code == 404
    assert (await client.post(f"{INBOX}/999999/read", headers=leader)).status_code == 404
    assert (await client.post(f"{INBOX}/0/read", headers=leader)).status_code == 422
    assert (await inbox(client, leader, unread="true"))["items"] == [item]
    r = await client.post(f"{INBOX}/{item['id']}/read", headers=leader)
    assert r.status_code == 200, r.text
    read = r.json()
    assert read["read"] is True
    assert datetime.fromisoformat(read["read_at"]).utcoffset() == timedelta(hours=8)
    # reading again keeps the first time
    again = (await client.post(f"{INBOX}/{item['id']}/read", headers=leader)).json()
    assert again["read_at"] == read["read_at"]
    assert (await inbox(client, leader, unread="true"))["items"] == []
    assert (await inbox(client, leader))["items"] == [read]


async def test_the_inbox_pages_newest_first(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fids = [await escalate(client, login, factory, settings) for _ in range(3)]
    leader = await login("leader.shinan")
    first = await inbox(client, leader, limit=2)
    assert first["next_cursor"]
    second = await inbox(client, leader, limit=2, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    items = first["items"] + second["items"]
    assert [i["finding_id"] for i in items] == fids[::-1]
    r = await client.get(INBOX, headers=leader, params={"cursor": "not-a-cursor"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cursor"
    assert (await client.get(INBOX)).status_code == 401


async def failed_webhook(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    url: str,
) -> int:
    """A webhook to a closed port that has been retried past the horizon."""
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE units SET webhook_url = :url WHERE code = 'shinan.badaguan'"),
            {"url": url},
        )
    f = await post(client, await login("inspector"))
    now = datetime.now(UTC)
    await make_overdue(factory, f["id"], now - timedelta(minutes=1))
    (nid,) = (await sweep(factory, settings, now)).deliveries
    policy = RetryPolicy.from_settings(settings)
    async with httpx.AsyncClient(timeout=30) as http:
        for at in (now, now + timedelta(hours=25)):
            async with factory() as session, session.begin():
                await deliver(
                    session,
                    nid,
                    client=http,
                    secret=SECRET,
                    policy=policy,
                    tz=ZoneInfo("UTC"),
                    now=at,
                )
    return int(nid)


async def test_failed_deliveries_are_listed_for_supervisors_and_retried_by_admins(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    redis: Redis,
) -> None:
    receiver = Receiver(SECRET)
    port = free_port()
    nid = await failed_webhook(
        client, login, factory, settings, f"http://127.0.0.1:{port}/hook?access_token=s3cr3t"
    )
    supervisor, admin = await login("supervisor"), await login("admin")
    r = await client.get(OUTBOX, headers=supervisor, params={"status": "failed"})
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["id"] == nid
    assert item["channel"] == "webhook"
    assert item["status"] == "failed"
    assert item["attempts"] == 2
    assert item["last_error"].startswith("ConnectError")
    assert item["recipient"]["unit"] == "shinan.badaguan"
    assert item["recipient"]["person"].startswith("示例·")
    assert item["address"] == f"http://127.0.0.1:{port}/…"
    assert "s3cr3t" not in r.text
    pending = await client.get(
        OUTBOX, headers=admin, params={"status": "pending", "channel": "webhook"}
    )
    assert pending.json()["items"] == []
    inbox_rows = await client.get(OUTBOX, headers=admin, params={"channel": "inbox"})
    assert {i["status"] for i in inbox_rows.json()["items"]} == {"sent"}
    for username in ("handler.shinan", "leader.shinan", "dispatcher"):
        r = await client.get(OUTBOX, headers=await login(username))
        assert r.status_code == 403, username
    r = await client.get(OUTBOX, headers=supervisor, params={"status": "lost"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "status"

    # only an admin retries, and only a failed notification
    assert (await client.post(f"{OUTBOX}/{nid}/retry", headers=supervisor)).status_code == 403
    r = await client.post(f"{OUTBOX}/{nid}/retry", headers=admin)
    assert r.status_code == 200, r.text
    retried = r.json()
    assert (retried["status"], retried["attempts"], retried["first_attempt_at"]) == (
        "pending",
        0,
        None,
    )
    assert datetime.fromisoformat(retried["next_attempt_at"]) <= datetime.now(UTC)
    assert await redis.exists(f"arq:job:{delivery_job_id(nid, 0)}")
    r = await client.post(f"{OUTBOX}/{nid}/retry", headers=admin)
    assert r.status_code == 409
    assert "pending" in r.json()["detail"]
    assert (await client.post(f"{OUTBOX}/987654/retry", headers=admin)).status_code == 404
    sent_inbox_row = inbox_rows.json()["items"][0]["id"]
    r = await client.post(f"{OUTBOX}/{sent_inbox_row}/retry", headers=admin)
    assert r.status_code == 409

    # the receiver is back: the retried notification is delivered with a fresh horizon
    receiver.port = port
    receiver.start()
    try:
        async with httpx.AsyncClient(timeout=30) as http, factory() as session, session.begin():
            outcome = await deliver(
                session,
                nid,
                client=http,
                secret=SECRET,
                policy=RetryPolicy.from_settings(settings),
                tz=ZoneInfo("UTC"),
                now=datetime.now(UTC),
            )
    finally:
        receiver.stop()
    assert outcome is not None
    assert outcome.status == "sent"
    assert len(receiver.successes(str(nid))) == 1
