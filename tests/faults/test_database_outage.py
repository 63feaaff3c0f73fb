"""PostgreSQL stopped for ten seconds while inspectors post findings to a real API process:
the API answers 503 problem+json at once (no hang, no 500), recovers by itself when the
database is back, and the clients, retrying with the same ids, end with every finding stored
exactly once."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic import command

from services.cli.embedded import EmbeddedPostgres
from tests.faults.processes import ApiProcess, api_env, bearer
from tests.helpers import Servers, alembic_config, body, seed_demo_database, wait_for

CLIENTS = 8
PER_CLIENT = 60
OUTAGE_SECONDS = 10
# However the database fails, an answer within this (the driver's connect timeout is 5 s).
MAX_ANSWER_SECONDS = 6.0


@pytest.fixture
def own_pg(server_tmp: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test alone, migrated and seeded: stopping it harms nobody else."""
    pg = EmbeddedPostgres(server_tmp / "own")
    pg.start(fsync=False)
    try:
        command.upgrade(alembic_config(pg.url), "head")
        asyncio.run(seed_demo_database(pg.url))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(server_tmp / "own", ignore_errors=True)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    unreadable: list[str] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    slowest_503: float = 0.0
    stored: dict[str, int] = field(default_factory=dict)
    successes_at: list[float] = field(default_factory=list)


async def _count(t: Tally) -> int:
    return len(t.stored)


async def inspector_client(
    http: httpx.AsyncClient, headers: dict[str, str], bodies: list[dict[str, object]], t: Tally
) -> None:
    """Posts each finding until it is stored (201) or replayed (200), as a field app would."""
    for b in bodies:
        while True:
            started = time.monotonic()
            try:
                r = await http.post("/api/v1/findings", json=b, headers=headers)
            except httpx.HTTPError as exc:
                t.transport_errors[type(exc).__name__] += 1
                await asyncio.sleep(0.2)
                continue
            took = time.monotonic() - started
            t.slowest = max(t.slowest, took)
            t.statuses[r.status_code] += 1
            if r.status_code in (200, 201):
                t.stored[str(b["id"])] = r.status_code
                t.successes_at.append(time.monotonic())
                break
            if r.status_code == 503:
                t.slowest_503 = max(t.slowest_503, took)
                problem = r.json()
                if (
                    r.headers["content-type"] != "application/problem+json"
                    or problem.get("status") != 503
                    or "Traceback" in r.text
                ):
                    t.unreadable.append(r.text[:300])
                await asyncio.sleep(0.2)
                continue
            t.unreadable.append(f"{r.status_code}: {r.text[:300]}")
            await asyncio.sleep(0.2)


async def test_postgres_down_for_ten_seconds_during_ingest(
    own_pg: EmbeddedPostgres, servers: Servers, tmp_path: Path
) -> None:
    api = ApiProcess(api_env(own_pg.url, servers.redis.url, tmp_path), tmp_path / "api.log")
    try:
        api.start()
        async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
            headers = await bearer(http, "inspector")
            batches = [[body() for _ in range(PER_CLIENT)] for _ in range(CLIENTS)]
            tally = Tally()
            clients = asyncio.gather(*[inspector_client(http, headers, b, tally) for b in batches])
            task = asyncio.ensure_future(clients)
            await wait_for(
                lambda: _count(tally), lambda n: n >= CLIENTS * PER_CLIENT // 5, within=30
            )
            stored_before = len(tally.stored)
            port = own_pg.port
            await asyncio.to_thread(own_pg.stop)
            down_at = time.monotonic()
            await asyncio.sleep(OUTAGE_SECONDS)
            during = dict(tally.statuses)
            await asyncio.to_thread(own_pg.start, fsync=False, port=port)
            up_at = time.monotonic()
            await asyncio.wait_for(task, timeout=60)
            ready = (await http.get("/readyz")).status_code
    finally:
        api.stop()

    first_after = min(t for t in tally.successes_at if t > up_at) - up_at
    print(
        f"\nPostgreSQL down {up_at - down_at:.1f}s after {stored_before} findings: "
        f"statuses {dict(tally.statuses)} (during the outage {during}), "
        f"transport errors {dict(tally.transport_errors)}, slowest answer {tally.slowest:.2f}s, "
        f"slowest 503 {tally.slowest_503:.2f}s, first finding stored {first_after:.2f}s after "
        f"PostgreSQL was back"
    )
    assert not tally.unreadable, tally.unreadable[:5]
    assert set(tally.statuses) <= {200, 201, 503}, tally.statuses
    assert tally.statuses[503] > 0, "the outage was never noticed"
    assert not tally.transport_errors, tally.transport_errors
    assert tally.slowest <= MAX_ANSWER_SECONDS
    assert ready == 200
    assert first_after < 10

    wanted = {str(b["id"]) for batch in batches for b in batch}
    assert set(tally.stored) == wanted
    conn = await asyncpg.connect(own_pg.url)
    try:
        rows = await conn.fetch("SELECT id FROM findings")
    finally:
        await conn.close()
    ids = [str(r["id"]) for r in rows]
    assert len(ids) == len(set(ids)) == len(wanted)
    assert set(ids) == wanted
    assert uuid.UUID(ids[0])
