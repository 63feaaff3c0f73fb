"""Schema changes only through Alembic: upgrade, downgrade, upgrade again, and no drift."""

from __future__ import annotations

import asyncpg
import pytest
from alembic import command

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
