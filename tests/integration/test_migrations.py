"""Schema changes only through Alembic: upgrade, downgrade, upgrade again, and no drift."""

from __future__ import annotations

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from tests.helpers import Servers, alembic_config


def test_upgrade_downgrade_upgrade_and_no_drift(servers: Servers) -> None:
    url = servers.pg.create_database("migrations_roundtrip")
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    assert (
        servers.pg._psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'",
            database="migrations_roundtrip",
        )
        == "0"
    )
    command.upgrade(cfg, "head")
    # `alembic check` raises when the models and the migrated schema disagree
    command.check(cfg)


# A unit, a reporter and a category, then findings dispatched Monday 09:00 and due Wednesday
# 17:30 (+08): one whose plan reminds at 75 %, one whose plan has no reminder, one queued.
_LIGHT_ROWS = """
INSERT INTO units (id, code, name, kind, path) VALUES (1, 'city', '市', 'city', '/1/');
INSERT INTO users (id, username, role, unit_id) VALUES (1, 'inspector', 'inspector', 1);
INSERT INTO categories (id, code, name, "group", kind, clock, time_limit) VALUES
    (1, 'garbage', '垃圾', 'city_appearance', 'event', 'working_days', '{"working_days": 2}');
INSERT INTO findings (id, source, category_id, severity, description, lat, lon, observed_at,
    reported_at, reporter_id, status, request_hash, responsible_unit_id, dispatched_at, due_at,
    escalation_plan)
SELECT id::uuid, 'inspection', 1, 'normal', 'x', 36, 120, now(), now(), 1, status, 'h', unit,
       dispatched::timestamptz, due::timestamptz, plan::jsonb
FROM (VALUES
    ('00000000-0000-4000-8000-000000000001', 'assigned', 1, '2026-11-23 09:00+08',
     '2026-11-25 17:30+08', '{"policy": "default", "reminder_at": 0.75, "levels": []}'),
    ('00000000-0000-4000-8000-000000000002', 'accepted', 1, '2026-11-23 09:00+08',
     '2026-11-25 17:30+08', '{"policy": "quiet", "reminder_at": null, "levels": []}'),
    ('00000000-0000-4000-8000-000000000003', 'reported', NULL, NULL, NULL, NULL)
) AS v(id, status, unit, dispatched, due, plan);
"""


def test_the_traffic_light_revision_backfills_and_reverts(servers: Servers) -> None:
    """Upgrading computes `yellow_at` for the findings already stored (the plan's fraction,
    80 % without one, none without a deadline); downgrading removes it and its function."""
    name = "migrations_light"
    url = servers.pg.create_database(name)
    cfg = alembic_config(url)
    before = ScriptDirectory.from_config(cfg).get_revision("0019").down_revision
    assert isinstance(before, str)
    command.upgrade(cfg, before)
    servers.pg._psql(_LIGHT_ROWS, database=name)
    command.upgrade(cfg, "0019")
    yellow = servers.pg._psql(
        "SELECT string_agg(coalesce(to_char(yellow_at AT TIME ZONE 'Asia/Shanghai', "
        "'MM-DD HH24:MI'), '-'), ',' ORDER BY id) FROM findings",
        database=name,
    )
    # 56.5 hours given: 75 % is 42.375 h after dispatch, 80 % 45.2 h.
    assert yellow == "11-25 03:22,11-25 06:12,-"
    command.downgrade(cfg, before)
    assert servers.pg._psql(
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'yellow_at'"
        " UNION ALL SELECT count(*) FROM pg_proc WHERE proname = 'finding_yellow_at'",
        database=name,
    ).split() == ["0", "0"]
    command.upgrade(cfg, "head")


async def test_audit_trail_is_append_only(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        user_id = await conn.fetchval("SELECT id FROM users WHERE username = 'inspector'")
        cat = await conn.fetchval("SELECT id FROM categories WHERE code = 'exposed_garbage'")
        fid = await conn.fetchval(
            "INSERT INTO findings (id, source, category_id, severity, description, lat, lon, "
            "observed_at, reported_at, reporter_id, status, request_hash) VALUES "
            "(gen_random_uuid(), 'inspection', $1, 'normal', 'x', 36, 120, now(), now(), $2, "
            "'reported', 'h') RETURNING id",
            cat,
            user_id,
        )
        await conn.execute("INSERT INTO events (finding_id, action) VALUES ($1, 'report')", fid)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE events SET action = 'forged'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM events")
        assert await conn.fetchval("SELECT action FROM events WHERE finding_id = $1", fid) == (
            "report"
        )
    finally:
        await conn.close()
