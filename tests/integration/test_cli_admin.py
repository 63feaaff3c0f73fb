"""Operating duban from the command line: `duban init` (idempotent, refusing another city's
database), `duban import` and its templates, and user and token administration, each change
recorded with the operator; a disabled user's sessions and tokens stop at once."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from httpx import AsyncClient

from services.core.identity.security import verify_password
from services.core.platform.settings import Settings
from tests.helpers import (
    Login,
    Servers,
    alembic_config,
    bearer,
    csv_file,
    demo_password,
    duban,
    post,
)

INIT = ("init", "--city", "qingdao", "--name", "青岛市", "--admin", "ops-admin",
        "--password-stdin")  # fmt: skip
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("DUBAN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DUBAN_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("DUBAN_REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("DUBAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.chdir(tmp_path)


async def run(*argv: str, stdin: str = "") -> int:
    return await asyncio.to_thread(duban, *argv, stdin=stdin)


async def last_change(conn: asyncpg.Connection) -> Any:
    return await conn.fetchrow(
        "SELECT actor, actor_id, action, target, payload::text AS payload FROM admin_events"
        " ORDER BY id DESC LIMIT 1"
    )


def by_the_operator(change: Any, action: str, target: str) -> None:
    assert (change["action"], change["target"]) == (action, target)
    assert change["actor"].startswith("cli:")  # the OS account and host that ran it
    assert change["actor_id"] is None


@pytest.fixture
def fresh(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new database, migrated and nothing else, as compose leaves it."""
    url = servers.pg.create_database(f"fresh_{uuid.uuid4().hex[:12]}")
    command.upgrade(alembic_config(url), "head")
    monkeypatch.setenv("DUBAN_DATABASE_URL", url)
    return url


# ---- init ----


async def test_init_creates_the_city_office_commission_and_admin_once(
    fresh: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(*INIT, stdin=PASSWORD + "\n") == 0
    out = capsys.readouterr().out
    assert "created  city qingdao (青岛市)" in out
    conn = await asyncpg.connect(fresh)
    try:
        units = await conn.fetch("SELECT code, kind, parent_id FROM units ORDER BY id")
        assert [(u["code"], u["kind"]) for u in units] == [
            ("qingdao", "city"),
            ("wenmingban", "campaign_office"),
            ("jiwei", "discipline_commission"),
        ]
        city_id = await conn.fetchval("SELECT id FROM units WHERE code = 'qingdao'")
        assert [u["parent_id"] for u in units] == [None, city_id, city_id]
        admin = await conn.fetchrow("SELECT role, password_hash FROM users")
        assert admin["role"] == "admin"
        assert verify_password(admin["password_hash"], PASSWORD)
        # Nothing else: no demo, no catalogue, no people.
        for table in ("people", "posts", "categories", "routing_rules", "unit_boundaries"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
        by_the_operator(await last_change(conn), "init", "qingdao")

        # Again: nothing to do, and no password asked for (stdin is empty).
        changes = await conn.fetchval("SELECT count(*) FROM admin_events")
        assert await run(*INIT) == 0
        assert "already initialised: nothing changed" in capsys.readouterr().out
        assert await conn.fetchval("SELECT count(*) FROM units") == 3
        assert await conn.fetchval("SELECT count(*) FROM users") == 1
        assert await conn.fetchval("SELECT count(*) FROM admin_events") == changes
    finally:
        await conn.close()


async def test_init_refuses_a_database_that_holds_another_city(
    server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test database holds the demo's 青岛市.
    argv = ["init", "--city", "shanghai", "--name", "上海市", "--admin", "sh-admin",
            "--password-stdin"]  # fmt: skip
    assert await run(*argv, stdin=PASSWORD + "\n") == 2
    err = capsys.readouterr().err
    assert "belongs to the city 'qingdao' (青岛市), not 'shanghai'" in err
    assert err.count("\n") == 1
    assert await server_side.fetchval("SELECT count(*) FROM units WHERE code = 'shanghai'") == 0
    assert await server_side.fetchval("SELECT count(*) FROM users WHERE username = 'sh-admin'") == 0


async def test_init_on_its_own_city_adds_only_what_is_missing(
    server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    units = await server_side.fetchval("SELECT count(*) FROM units")
    assert await run(*INIT, stdin=PASSWORD + "\n") == 0
    out = capsys.readouterr().out
    assert "kept     city qingdao" in out
    assert "kept     unit wenmingban" in out
    assert "created  admin ops-admin" in out
    assert await server_side.fetchval("SELECT count(*) FROM units") == units
    # An existing user of another role is not made an admin behind anyone's back.
    taken = ["init", "--city", "qingdao", "--name", "青岛市", "--admin", "inspector"]
    assert await run(*taken) == 2
    assert "is a inspector, not an admin" in capsys.readouterr().err


async def test_init_on_an_empty_database_says_to_migrate_first(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DUBAN_DATABASE_URL", servers.pg.create_database(f"empty_{uuid.uuid4().hex[:12]}")
    )
    assert await run(*INIT, stdin=PASSWORD + "\n") == 2
    assert "run `duban migrate` first" in capsys.readouterr().err


# ---- import ----

PEOPLE = [["人员编码 code", "姓名 name", "职务 title"], ["p.cli1", "命令行甲", "科员"],
          ["p.cli2", "命令行乙", ""]]  # fmt: skip


async def test_import_from_the_command_line(
    tmp_path: Path, server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "people.csv"
    good.write_bytes(csv_file(PEOPLE))
    assert await run("import", "people", str(good), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would create 2" in out
    assert "dry run: nothing was written" in out
    assert await server_side.fetchval("SELECT count(*) FROM people WHERE code LIKE 'p.cli%'") == 0

    assert await run("import", "people", str(good)) == 0
    assert "people.csv: 2 rows; created 2, updated 0, unchanged 0" in capsys.readouterr().out
    by_the_operator(await last_change(server_side), "import.people", "people.csv")
    assert await run("import", "people", str(good)) == 0
    assert "created 0, updated 0, unchanged 2" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file([*PEOPLE[:2], ["p.cli3", "", ""], ["p cli4", "某人", ""]]))
    assert await run("import", "people", str(bad)) == 2
    err = capsys.readouterr().err.splitlines()
    assert "第 3 行，姓名（name）：必填 / line 3, name: required" in err
    assert any(line.startswith("第 4 行，人员编码（code）") and "line 4, code:" in line
               for line in err)  # fmt: skip
    assert "nothing was imported" in err[-1]
    assert await server_side.fetchval("SELECT count(*) FROM people WHERE code = 'p.cli3'") == 0


@pytest.mark.parametrize("name", ["units.csv", "units.xlsx", "boundaries.geojson"])
async def test_a_template_written_by_the_command_line_imports(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kind = name.split(".", maxsplit=1)[0]
    target = tmp_path / name
    assert await run("import", kind, str(target), "--template") == 0
    assert target.exists()
    assert await run("import", kind, str(target)) == 0, capsys.readouterr().err
    assert "1 rows" in capsys.readouterr().out
    assert await run("import", kind, str(target), "--template") == 2  # never overwritten
    assert "exists already" in capsys.readouterr().err


# ---- users and tokens ----


async def issue(username: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert await run("token", "issue", username, "--name", "tablet") == 0
    return {"Authorization": f"Bearer {capsys.readouterr().out.strip()}"}


async def test_disable_ends_sessions_and_tokens_at_once_and_enable_lets_them_in_again(
    client: AsyncClient, server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    session = await bearer(client, "inspector.shinan")
    device = await issue("inspector.shinan", capsys)
    for headers in (session, device):
        assert (await client.get(URL_FINDINGS, headers=headers)).status_code == 200

    assert await run("user", "disable", "inspector.shinan") == 0
    assert "disabled" in capsys.readouterr().out
    for headers in (session, device):
        assert (await client.get(URL_FINDINGS, headers=headers)).status_code == 401
    login = {"username": "inspector.shinan", "password": demo_password("inspector.shinan")}
    assert (await client.post(TOKEN, data=login)).status_code == 401
    change = await last_change(server_side)
    by_the_operator(change, "user.disable", "inspector.shinan")
    assert '"api_tokens_revoked": 1' in change["payload"]

    assert await run("user", "list") == 0
    listed = capsys.readouterr().out
    assert (
        next(line for line in listed.splitlines() if "inspector.shinan" in line).split()[3]
        == "DISABLED"
    )

    assert await run("user", "enable", "inspector.shinan") == 0
    by_the_operator(await last_change(server_side), "user.enable", "inspector.shinan")
    assert (await client.post(TOKEN, data=login)).status_code == 200
    # Enabling brings no old session or token back.
    for headers in (session, device):
        assert (await client.get(URL_FINDINGS, headers=headers)).status_code == 401
    assert await run("user", "disable", "nobody") == 2
    assert "no user 'nobody'" in capsys.readouterr().err


URL_FINDINGS = "/api/v1/findings"
TOKEN = "/api/v1/auth/token"


async def test_reset_password(
    client: AsyncClient, server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    old = await bearer(client, "dispatcher")
    new_password = "a brand new password"
    assert await run("user", "reset-password", "dispatcher", "--password-stdin",
                     stdin=new_password + "\n") == 0  # fmt: skip
    assert (await client.get(URL_FINDINGS, headers=old)).status_code == 401
    form = {"username": "dispatcher", "password": demo_password("dispatcher")}
    assert (await client.post(TOKEN, data=form)).status_code == 401
    assert (await bearer(client, "dispatcher", new_password))["Authorization"]
    change = await last_change(server_side)
    by_the_operator(change, "user.reset_password", "dispatcher")
    assert new_password not in change["payload"]

    capsys.readouterr()
    assert await run("user", "reset-password", "dispatcher", "--generate") == 0
    generated = capsys.readouterr().out.strip()
    assert len(generated) >= 12
    assert (await bearer(client, "dispatcher", generated))["Authorization"]
    assert await run("user", "reset-password", "dispatcher", "--password-stdin",
                     stdin="short\n") == 2  # fmt: skip
    assert "at least 8" in capsys.readouterr().err


async def test_set_role_and_set_unit_take_effect_on_the_next_request(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    headers = await bearer(client, "inspector.shinan")
    assert (await client.get("/api/v1/stats/units", headers=headers)).status_code == 403
    assert await run("user", "set-role", "inspector.shinan", "supervisor") == 0
    assert (await client.get("/api/v1/stats/units", headers=headers)).status_code == 200
    change = await last_change(server_side)
    by_the_operator(change, "user.set_role", "inspector.shinan")
    assert '"from": "inspector"' in change["payload"]
    assert await run("user", "set-role", "inspector.shinan", "boss") == 2
    assert "unknown role" in capsys.readouterr().err

    f = await post(client, await login("inspector"), unit="shinan.badaguan")
    handler = await bearer(client, "handler.shinan.badaguan")
    assert (await client.get(f"{URL_FINDINGS}/{f['id']}", headers=handler)).status_code == 200
    assert await run("user", "set-unit", "handler.shinan.badaguan", "licang.xiaocun") == 0
    assert (await client.get(f"{URL_FINDINGS}/{f['id']}", headers=handler)).status_code == 404
    change = await last_change(server_side)
    by_the_operator(change, "user.set_unit", "handler.shinan.badaguan")
    assert '"to": "licang.xiaocun"' in change["payload"]
    assert await run("user", "set-unit", "handler.shinan.badaguan", "atlantis") == 2


async def test_token_list_and_revoke(
    client: AsyncClient, server_side: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    device = await issue("verifier", capsys)
    by_the_operator(await last_change(server_side), "token.issue", "verifier")
    token_id = await server_side.fetchval("SELECT max(id) FROM api_tokens")
    assert (await client.get(URL_FINDINGS, headers=device)).status_code == 200

    assert await run("token", "list", "verifier") == 0
    row = next(line for line in capsys.readouterr().out.splitlines()[1:])
    assert row.split()[:3] == [str(token_id), "verifier", "tablet"]
    assert row.split()[-1] == "active"

    assert await run("token", "revoke", str(token_id)) == 0
    by_the_operator(await last_change(server_side), "token.revoke", "verifier")
    assert (await client.get(URL_FINDINGS, headers=device)).status_code == 401
    capsys.readouterr()
    assert await run("token", "list") == 0
    listed = capsys.readouterr().out
    assert "active" not in next(
        line for line in listed.splitlines() if line.startswith(str(token_id))
    )


async def test_the_demo_never_goes_into_a_city_of_its_own(
    fresh: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `duban up` seeds the demo into an empty database only: not into one `duban init` set up.
    shanghai = ["init", "--city", "shanghai", "--name", "上海市", "--admin", "sh-admin",
                "--password-stdin"]  # fmt: skip
    assert await run(*shanghai, stdin=PASSWORD + "\n") == 0
    assert await run("seed-demo") == 0
    assert "already seeded" in capsys.readouterr().out
    conn = await asyncpg.connect(fresh)
    try:
        assert await conn.fetchval("SELECT count(*) FROM units") == 3
        assert await conn.fetchval("SELECT count(*) FROM users") == 1
    finally:
        await conn.close()
