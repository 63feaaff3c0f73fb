"""The intake's in-memory reference data is never older than the tables it mirrors.

Reports are routed and timed from a snapshot of units, categories, routing rules, escalation
policies and calendar overrides (services/core/reference/snapshot.py); a trigger bumps a revision on
every write to those tables and every request compares it. These tests change the tables —
through the admin API and behind its back, as a DBA would in psql — and check that the very
next report follows the change.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient

from tests.helpers import TZ, Login, body

API = "/api/v1"


async def report(client: AsyncClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/findings", json=body(**over), headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def sql(database_url: str, statement: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


def due_day(finding: dict[str, Any]) -> date:
    return datetime.fromisoformat(finding["due_at"]).astimezone(TZ).date()


async def test_a_category_change_applies_to_the_next_report(
    client: AsyncClient, login: Login
) -> None:
    inspector, admin = await login("inspector"), await login("admin")
    before = await report(client, inspector, category="exposed_garbage")
    r = await client.patch(
        f"{API}/categories/exposed_garbage",
        json={"time_limit": {"duration": "PT3H"}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    after = await report(client, inspector, category="exposed_garbage")
    due = datetime.fromisoformat(after["due_at"])
    reported = datetime.fromisoformat(after["reported_at"])
    assert due - reported == timedelta(hours=3)
    assert before["due_at"] != after["due_at"]

    # Switched off: the next report is refused, naming the field.
    r = await client.patch(
        f"{API}/categories/exposed_garbage", json={"active": False}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{API}/findings", json=body(category="exposed_garbage"), headers=inspector
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["category"]


async def test_a_routing_rule_added_by_the_api_routes_the_next_report(
    client: AsyncClient, login: Login
) -> None:
    inspector, admin = await login("inspector"), await login("admin")
    first = await report(client, inspector, category="exposed_garbage", unit="shinan.badaguan")
    assert first["responsible_unit"]["code"] == "shinan.badaguan"
    r = await client.post(
        f"{API}/routing-rules",
        json={
            "category": "exposed_garbage",
            "area_unit": "shinan.badaguan",
            "responsible_unit": "shinan.cgj",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    second = await report(client, inspector, category="exposed_garbage", unit="shinan.badaguan")
    assert second["responsible_unit"]["code"] == "shinan.cgj"


async def test_changes_made_behind_the_apis_back_are_seen_too(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    inspector = await login("inspector")
    await report(client, inspector)  # the snapshot is loaded and warm

    # A DBA renames the street in psql: the next report shows the new name.
    await sql(
        database_url, "UPDATE units SET name = '八大关街道（新）' WHERE code = 'shinan.badaguan'"
    )
    f = await report(client, inspector, unit="shinan.badaguan")
    assert f["responsible_unit"]["name"] == "八大关街道（新）"

    # ... and declares tomorrow's working day a holiday: the deadline moves past it.
    plain = await report(client, inspector, category="exposed_garbage")
    day = due_day(plain)
    await sql(
        database_url,
        "INSERT INTO calendar_overrides (day, kind, note) VALUES ($1, 'holiday', '临时调整')",
        day,
    )
    moved = await report(client, inspector, category="exposed_garbage")
    assert due_day(moved) > day


# What load_reference reads: migration 0007 puts the revision trigger on each of them.
REFERENCE_TABLES = (
    "units",
    "categories",
    "routing_rules",
    "escalation_policies",
    "calendar_overrides",
)


@pytest.mark.parametrize("table", REFERENCE_TABLES)
async def test_every_write_to_a_table_the_snapshot_reads_bumps_the_revision(
    database_url: str, table: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        revisions = [await conn.fetchval("SELECT revision FROM config_revision")]
        # Statements that change no row still count: the trigger fires per statement.
        for statement in (
            f"UPDATE {table} SET created_at = created_at WHERE false",  # noqa: S608
            f"DELETE FROM {table} WHERE false",  # noqa: S608
        ):
            await conn.execute(statement.replace("created_at", await _a_column(conn, table)))
            revisions.append(await conn.fetchval("SELECT revision FROM config_revision"))
    finally:
        await conn.close()
    assert revisions == sorted(set(revisions)), revisions


async def _a_column(conn: asyncpg.Connection, table: str) -> str:
    name: str = await conn.fetchval(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " ORDER BY ordinal_position LIMIT 1",
        table,
    )
    return f'"{name}"'
