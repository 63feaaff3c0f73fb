"""The API process killed (SIGKILL) while it stores a batch of 500 findings: the client, which
saw its connection drop, sends the same batch to the restarted API and every item ends
created or replayed, each id stored once."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

from tests.faults.processes import ApiProcess, api_env, bearer
from tests.helpers import Servers, body, wait_for

BATCH = 500
SENT_BEFORE = 200  # of the batch, already stored by an earlier upload that completed

WRITING = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
"""


async def test_api_killed_during_a_batch_upload_the_retry_stores_each_item_once(
    servers: Servers, database_url: str, tmp_path: Path, redis: Redis
) -> None:
    env = api_env(database_url, servers.redis.url, tmp_path)
    api = ApiProcess(env, tmp_path / "api.log")
    db = await asyncpg.connect(database_url)
    try:
        api.start()
        items = [body(location={"lat": 36.05 + i * 1e-4, "lon": 120.34}) for i in range(BATCH)]
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
            headers = await bearer(http, "inspector")
            first = await http.post(
                "/api/v1/findings/batch", json={"findings": items[:SENT_BEFORE]}, headers=headers
            )
            assert first.status_code == 200, first.text

            upload = asyncio.ensure_future(
                http.post("/api/v1/findings/batch", json={"findings": items}, headers=headers)
            )
            # Kill it once its transaction has begun writing the batch, not before.
            await wait_for(lambda: db.fetchval(WRITING), lambda n: n > 0, within=30, interval=0.01)
            await asyncio.sleep(0.2)
            assert not upload.done(), "the batch was stored before the API could be killed"
            api.kill()
            killed = time.monotonic()
            try:
                await upload
                raise AssertionError("the upload was answered by a killed API")
            except httpx.TransportError as exc:
                seen = type(exc).__name__
            stored_at_kill = await db.fetchval("SELECT count(*) FROM findings")

            api.start()
            restarted = time.monotonic() - killed
            retry = await http.post(
                "/api/v1/findings/batch", json={"findings": items}, headers=headers
            )
        assert retry.status_code == 200, retry.text
        results = retry.json()["results"]
    finally:
        api.stop()
        rows = await db.fetch("SELECT id FROM findings")
        await db.close()

    outcomes = [r["outcome"] for r in results]
    print(
        f"\nAPI killed mid-batch (client saw {seen}); {stored_at_kill} findings stored at the "
        f"kill; API back in {restarted:.1f}s; retry: {outcomes.count('created')} created, "
        f"{outcomes.count('replayed')} replayed"
    )
    # the killed transaction stored nothing of the big batch: only the earlier upload
    assert stored_at_kill == SENT_BEFORE
    assert [r["id"] for r in results] == [b["id"] for b in items]
    assert outcomes == ["replayed"] * SENT_BEFORE + ["created"] * (BATCH - SENT_BEFORE)
    ids = [str(r["id"]) for r in rows]
    assert len(ids) == len(set(ids)) == BATCH
    assert set(ids) == {str(b["id"]) for b in items}
    assert all(uuid.UUID(i) for i in ids)
