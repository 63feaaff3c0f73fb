"""`duban backup DIR` and `duban restore DIR`, run as the operator runs them: a stack with
findings, their trail and their photos is backed up, restored into a second, fresh stack (its
own PostgreSQL server and photo directory), and every finding, event and photo is there, the
photos byte for byte, served again by the API. A restore refuses to overwrite data unless told
to, and refuses a damaged backup before it touches anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from services.api.app import create_app
from services.cli.embedded import EmbeddedPostgres
from services.core.platform.settings import Settings
from tests.helpers import Login, Servers, act, make_pdf, post
from tests.photos import make_jpeg, upload

DUBAN = str(Path(sys.executable).parent / "duban")
TABLES = (
    "findings",
    "events",
    "evidence",
    "attachments",
    "escalations",
    "notifications",
    "users",
)


def duban(
    *argv: str, database_url: str, redis_url: str, media: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_DATA_DIR": str(media.parent),
        "DUBAN_MEDIA_DIR": str(media),
        "DUBAN_LOG_FORMAT": "console",
    }
    return subprocess.run(
        [DUBAN, *argv], env=env, capture_output=True, text=True, timeout=300, check=False,
        cwd=media.parent,
    )  # fmt: skip


async def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]  # noqa: S608
            for table in TABLES
        }
    finally:
        await conn.close()


@pytest.fixture
def second_stack(server_tmp: Path) -> Iterator[str]:
    """A fresh PostgreSQL server of its own, as on another machine: its URL."""
    pg = EmbeddedPostgres(server_tmp / "second")
    try:
        yield pg.start(fsync=False)
    finally:
        pg.stop()


async def arrange(client: AsyncClient, login: Login) -> list[str]:
    """Three findings: one with a before-photo, one accepted (its acceptance carrying a PDF)
    with an after-photo, one bare."""
    inspector = await login("inspector")
    street = await login("handler.shinan.badaguan")
    first = await post(client, inspector, description="居庸关路垃圾堆放未清运")
    r = await upload(client, inspector, str(first["id"]), make_jpeg(200, 120), kind="before")
    assert r.status_code == 201, r.text
    second = await post(client, inspector, description="山海关路路面破损")
    r = await client.post(
        f"/api/v1/findings/{second['id']}/attachments",
        files={"file": ("签收说明.pdf", make_pdf(), "application/pdf")},
        headers=street,
    )
    assert r.status_code == 201, r.text
    accept = await act(client, street, str(second["id"]), "accept", attachments=[r.json()["id"]])
    assert accept.status_code == 200, accept.text
    r = await upload(client, street, str(second["id"]), make_jpeg(180, 100), kind="after")
    assert r.status_code == 201, r.text
    third = await post(client, inspector, description="路边乱堆物料")
    return [str(f["id"]) for f in (first, second, third)]


async def photo_bytes(url: str, media: Path) -> dict[str, bytes]:
    conn = await asyncpg.connect(url)
    try:
        keys = [
            r["object_key"]
            for r in await conn.fetch(
                "SELECT object_key FROM evidence UNION ALL SELECT object_key FROM attachments"
            )
        ]
    finally:
        await conn.close()
    return {key: (media / key).read_bytes() for key in keys}


@asynccontextmanager
async def api_on(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://duban.test") as client:
            yield client


@pytest.mark.slow(seconds=20)
async def test_a_backup_restores_into_a_fresh_stack_with_every_finding_event_and_photo(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    database_url: str,
    servers: Servers,
    second_stack: str,
    tmp_path: Path,
) -> None:
    ids = await arrange(client, login)
    source_media = settings.media_path
    backup_dir = tmp_path / "backups" / "2026-12-01"
    made = duban("backup", str(backup_dir), database_url=database_url,
                 redis_url=servers.redis.url, media=source_media)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "3 findings" in made.stdout
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert len(manifest["media"]) == 3  # two photos and the acceptance's PDF
    assert oct((backup_dir).stat().st_mode)[-3:] == "700"

    target_media = tmp_path / "second" / "media"
    target_media.parent.mkdir()
    done = duban("restore", str(backup_dir), database_url=second_stack,
                 redis_url=servers.redis.url, media=target_media)  # fmt: skip
    assert done.returncode == 0, done.stderr

    before, after = await rows(database_url), await rows(second_stack)
    for table in TABLES:
        assert after[table] == before[table], table
    assert {str(r["id"]) for r in after["findings"]} >= set(ids)
    assert len(after["events"]) >= 5  # reports, the acceptance, the photos' trail
    photos = await photo_bytes(database_url, source_media)
    assert len(photos) == 3
    assert await photo_bytes(second_stack, target_media) == photos

    # the restored stack serves them: the same accounts log in, the photos come back
    restored = settings.model_copy(
        update={"database_url": second_stack, "media_dir": target_media,
                "data_dir": target_media.parent, "jwt_secret": SecretStr("r" * 40)}
    )  # fmt: skip
    async with api_on(restored) as api:
        headers = await Login(api)("inspector")
        r = await api.get(f"/api/v1/findings/{ids[0]}", headers=headers)
        assert r.status_code == 200
        assert r.json()["description"] == "居庸关路垃圾堆放未清运"
        verification = await api.get(
            f"/api/v1/findings/{ids[1]}/events", headers=await Login(api)("supervisor")
        )
        assert verification.status_code == 200
        conn = await asyncpg.connect(second_stack)
        evidence = await conn.fetch("SELECT id, object_key FROM evidence")
        await conn.close()
        for row in evidence:
            image = await api.get(f"/api/v1/evidence/{row['id']}", headers=headers)
            assert image.status_code == 200
            assert image.content == photos[row["object_key"]]
        conn = await asyncpg.connect(second_stack)
        attached = await conn.fetch("SELECT id, object_key FROM attachments")
        await conn.close()
        assert len(attached) == 1
        for row in attached:
            served = await api.get(f"/api/v1/attachments/{row['id']}", headers=headers)
            assert served.status_code == 200
            assert served.content == photos[row["object_key"]]


@pytest.mark.slow(seconds=50)
async def test_a_restore_keeps_data_it_was_not_told_to_replace_and_refuses_damage(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    database_url: str,
    servers: Servers,
    tmp_path: Path,
) -> None:
    await arrange(client, login)
    backup_dir = tmp_path / "backup"
    made = duban("backup", str(backup_dir), database_url=database_url,
                 redis_url=servers.redis.url, media=settings.media_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    # A backup never goes into a directory that holds something.
    again = duban("backup", str(backup_dir), database_url=database_url,
                  redis_url=servers.redis.url, media=settings.media_path)  # fmt: skip
    assert again.returncode == 2
    assert "not an empty directory" in again.stderr

    # Over a database with findings and accounts (this one): refused, nothing changed.
    before = await rows(database_url)
    refused = duban("restore", str(backup_dir), database_url=database_url,
                    redis_url=servers.redis.url, media=settings.media_path)  # fmt: skip
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert await rows(database_url) == before

    # A damaged photo: refused before anything is touched, even with --force.
    [photo] = [p for p in (backup_dir / "media").rglob("*") if p.is_file()][:1]
    photo.write_bytes(photo.read_bytes()[:-10])
    damaged = duban("restore", str(backup_dir), "--force", database_url=database_url,
                    redis_url=servers.redis.url, media=settings.media_path)  # fmt: skip
    assert damaged.returncode == 2
    assert "does not match" in damaged.stderr
    assert await rows(database_url) == before
