"""`duban user add`, `duban token issue|revoke`, `duban migrate` and `duban seed-demo`, run
in-process against the test database, as an operator would use them."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from services.cli import migrations
from services.cli.main import main
from services.core.identity.security import hash_api_token
from services.core.models import ApiToken
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings
from tests.helpers import Servers


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for key in list(os.environ):
        if key.startswith("DUBAN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DUBAN_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("DUBAN_REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("DUBAN_DATA_DIR", str(settings.data_dir))


def duban(*argv: str, stdin: str = "") -> int:
    """Run the command line as a shell would (its own event loop, so in a thread)."""
    import sys

    sys.stdin = io.StringIO(stdin)
    try:
        return main(list(argv))
    finally:
        sys.stdin = sys.__stdin__


async def run(*argv: str, stdin: str = "") -> int:
    return await asyncio.to_thread(duban, *argv, stdin=stdin)


async def test_a_user_added_on_the_command_line_can_log_in(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run(
        "user", "add", "ops.li", "--role", "dispatcher", "--unit", "wenmingban",
        "--password-stdin", stdin="correct horse battery\n",
    )  # fmt: skip
    assert code == 0
    assert "ops.li" in capsys.readouterr().out
    r = await client.post(
        "/api/v1/auth/token", data={"username": "ops.li", "password": "correct horse battery"}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("argv", "password", "message"),
    [
        (["admin", "--role", "admin", "--unit", "qingdao"], "long enough pw", "already exists"),
        (["newbie", "--role", "boss", "--unit", "qingdao"], "long enough pw", "unknown role"),
        (["newbie", "--role", "inspector", "--unit", "atlantis"], "long enough pw", "no unit"),
        (["newbie", "--role", "inspector", "--unit", "shinan"], "short", "at least 8"),
        (["new bie", "--role", "inspector", "--unit", "shinan"], "long enough pw", "username"),
    ],
)
def test_user_add_refuses_bad_input_in_one_line(
    argv: list[str], password: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert duban("user", "add", *argv, "--password-stdin", stdin=password + "\n") == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_the_password_prompt_asks_twice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["first password", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))
    assert duban("user", "add", "newbie", "--role", "inspector", "--unit", "shinan") == 2
    assert "do not match" in capsys.readouterr().err


async def test_an_issued_token_works_until_revoked(
    client: AsyncClient, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("token", "issue", "inspector.shinan", "--name", "tablet 7") == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("dbn_")
    assert "shown only once" in err
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/findings", headers=headers)).status_code == 200

    engine = make_engine(database_url, pool_size=1)
    async with make_sessionmaker(engine)() as session:
        token = (await session.execute(select(ApiToken))).scalar_one()
    await engine.dispose()
    assert token.name == "tablet 7"
    assert token.token_hash == hash_api_token(secret)  # only the hash is stored

    assert await run("token", "revoke", str(token.id)) == 0
    assert "revoked" in capsys.readouterr().out
    assert (await client.get("/api/v1/findings", headers=headers)).status_code == 401
    assert await run("token", "revoke", str(token.id)) == 0
    assert "already revoked" in capsys.readouterr().out
    assert await run("token", "revoke", "999999") == 2
    assert await run("token", "issue", "nobody") == 2


def test_commands_say_in_one_line_that_nothing_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DUBAN_DATABASE_URL")
    monkeypatch.delenv("DUBAN_REDIS_URL")
    monkeypatch.setenv("DUBAN_DATA_DIR", str(tmp_path))
    for argv in (["migrate"], ["seed-demo"], ["token", "issue", "admin"], ["token", "revoke", "1"]):
        assert duban(*argv) == 2
        err = capsys.readouterr().err
        assert "make run" in err
        assert err.count("\n") == 1
    # A state file left by a killed `duban up` (its pid is gone) is not a running stack.
    (tmp_path / "stack.json").write_text(
        json.dumps(
            {"database_url": "postgresql://x:y@127.0.0.1:1/d", "redis_url": "redis://127.0.0.1:1",
             "supervisor_pid": 2**22 + 1}
        )
    )  # fmt: skip
    assert duban("migrate") == 2
    assert "not running" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli.embedded import free_port

    url = f"postgresql://duban:hunter2-secret@127.0.0.1:{free_port()}/duban"
    monkeypatch.setenv("DUBAN_DATABASE_URL", url)
    assert duban("token", "issue", "admin") == 1
    err = capsys.readouterr().err
    assert "cannot reach the database" in err
    assert "hunter2" not in err


def test_migrate_and_seed_demo_on_a_new_database(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = servers.pg.create_database("cli_fresh")
    monkeypatch.setenv("DUBAN_DATABASE_URL", url)
    assert duban("migrate") == 0
    assert migrations.head_revision() in capsys.readouterr().out
    assert duban("migrate") == 0  # already at head: nothing to do, no error

    assert duban("seed-demo") == 0
    first = capsys.readouterr().out
    saved = tmp_path / "demo-accounts.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    accounts = json.loads(saved.read_text())
    admin = next(a for a in accounts if a["username"] == "admin")
    assert admin["password"] in first
    assert len({a["password"] for a in accounts}) == len(accounts)  # random, not shared

    assert duban("seed-demo") == 0  # once only: the same accounts, printed again
    again = capsys.readouterr().out
    assert "already seeded" in again
    assert admin["password"] in again
    assert json.loads(saved.read_text()) == accounts

    assert duban("migrate", "--downgrade", "base") == 0
    assert duban("migrate") == 0
