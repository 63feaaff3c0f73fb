"""The sweep's set-based batch: many findings per statement, shared timetables, idempotent
writes, delivery jobs queued in bulk, batches that grow with the backlog."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.escalation import store as sweep_store
from services.core.notify.store import delivery_job_id
from services.core.platform.settings import Settings
from services.worker import escalations
from tests.helpers import Login, Servers, make_overdue, post, sweep
from tests.workers import queue_client

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday 11:00 in Qingdao
# 12+ working days before NOW: L1–L4 all due.
LONG_AGO = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
# Friday 17:30 local: L1 at due, L2 on Tuesday 24th, L3 on Friday 27th (after NOW).
LAST_FRIDAY = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
L3_OF_LAST_FRIDAY = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


async def rows(factory: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> list[Any]:
    async with factory() as session:
        return list(await session.execute(text(sql), params))


async def test_one_batch_of_findings_sharing_deadlines_fires_each_level_once_with_its_facts(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    inspector = await login("inspector")
    old = [await post(client, inspector) for _ in range(4)]
    recent = [await post(client, inspector) for _ in range(2)]
    for f in old:
        await make_overdue(factory, f["id"], LONG_AGO)
    for f in recent:
        await make_overdue(factory, f["id"], LAST_FRIDAY)

    result = await sweep(factory, settings, NOW)
    assert (result.claimed, result.escalations) == (6, 4 * 4 + 2 * 2)

    fired = await rows(
        factory,
        "SELECT id, finding_id, level, due_for FROM escalations ORDER BY finding_id, level",
    )
    by_finding: dict[str, list[Any]] = {}
    for row in fired:
        by_finding.setdefault(str(row.finding_id), []).append(row)
    assert {fid: [r.level for r in rs] for fid, rs in by_finding.items()} == {
        **{f["id"]: [1, 2, 3, 4] for f in old},
        **{f["id"]: [1, 2] for f in recent},
    }
    for rs in by_finding.values():
        assert [r.id for r in rs] == sorted(r.id for r in rs), "L1 gets the smaller id"
    assert {r.due_for for r in by_finding[recent[0]["id"]]} == {
        LAST_FRIDAY,
        datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
    }

    # every notification belongs to its own finding and escalation
    notes = await rows(
        factory,
        "SELECT n.finding_id, n.escalation_id, n.payload, e.finding_id AS e_finding, e.level"
        " FROM notifications n JOIN escalations e ON e.id = n.escalation_id",
    )
    assert len(notes) == 20
    for n in notes:
        payload = n.payload if isinstance(n.payload, dict) else json.loads(n.payload)
        assert n.finding_id == n.e_finding
        assert payload["finding_id"] == str(n.finding_id)
        assert (payload["escalation_id"], payload["level"]) == (n.escalation_id, n.level)
        assert payload["category"] == "exposed_garbage"

    schedule = {
        str(r.id): r.next_escalation_at
        for r in await rows(factory, "SELECT id, next_escalation_at FROM findings")
    }
    assert all(schedule[f["id"]] is None for f in old)
    assert all(schedule[f["id"]] == L3_OF_LAST_FRIDAY for f in recent)
    assert (await sweep(factory, settings, NOW)).claimed == 0


async def test_a_paused_finding_with_a_stale_schedule_is_unscheduled_and_fires_nothing(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], LONG_AGO)
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET status = 'submitted' WHERE id = :id"),
            {"id": uuid.UUID(f["id"])},
        )
    result = await sweep(factory, settings, NOW)
    assert (result.claimed, result.escalations) == (1, 0)
    (row,) = await rows(
        factory, "SELECT next_escalation_at FROM findings WHERE id = :id", id=uuid.UUID(f["id"])
    )
    assert row.next_escalation_at is None


async def test_the_set_based_inserts_write_a_level_and_a_message_once(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    f = await post(client, await login("inspector"))
    fid = uuid.UUID(f["id"])
    (unit,) = await rows(factory, "SELECT id, name FROM units WHERE code = 'shinan.badaguan'")
    escalation: tuple[Any, ...] = (fid, 1, "unit_head", LONG_AGO, "overdue", None, None, None)
    escalation += (unit.id, unit.name, unit.id, unit.id, "inspection")
    async with factory() as session, session.begin():
        first = await sweep_store.insert_escalations(session, [escalation], NOW)
        # a second sweep that somehow saw the same finding: nothing, and so no message
        assert await sweep_store.insert_escalations(session, [escalation], NOW) == {}
        eid = first[(fid, 1)]
        note: tuple[Any, ...] = (f"test:{fid}", "escalation", eid, fid, None, unit.id)
        note += ("webhook", "http://127.0.0.1:9/hook", "subject", '{"type": "escalation"}')
        note += ("pending", None, NOW)
        pending = await sweep_store.insert_notifications(session, [note], NOW)
        assert len(pending) == 1
        assert await sweep_store.insert_notifications(session, [note], NOW) == []


async def test_webhook_deliveries_are_reported_and_queued_once_each(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    servers: Servers,
    redis: Redis,
) -> None:
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], LONG_AGO)
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE units SET webhook_url = 'http://127.0.0.1:9/hook' WHERE kind = 'district'")
        )
    result = await sweep(factory, settings, NOW)
    # L2 and L3 address the district: one webhook each, besides every level's inbox message
    assert len(result.deliveries) == 2
    statuses = await rows(
        factory,
        "SELECT status, next_attempt_at FROM notifications WHERE id = ANY(:ids)",
        ids=result.deliveries,
    )
    assert {(s.status, s.next_attempt_at) for s in statuses} == {("pending", NOW)}

    pool = await queue_client(servers.redis.url)
    try:
        many = [*result.deliveries, *range(10**9, 10**9 + 150)]
        await escalations.enqueue_deliveries(pool, many)
        await escalations.enqueue_deliveries(pool, many)  # the same ids collapse
    finally:
        await pool.aclose()
    assert await redis.zcard("arq:queue") == len(many)
    assert all([await redis.exists(f"arq:job:{delivery_job_id(n, 0)}") for n in many])
