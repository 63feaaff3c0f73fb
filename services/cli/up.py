"""`duban up` (what `make run` runs): the embedded databases, migrations, the demo seed, and the
supervised API and worker, all stopped again by Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import structlog

from services.core.demo.service import DemoAccount
from services.core.platform.keys import jwt_secret
from services.core.platform.settings import Settings
from services.core.platform.stack import Endpoints, read_state, state_path, write_state

from . import demo_accounts, migrations, output
from .common import CliError, in_transaction
from .embedded import EmbeddedPostgres, EmbeddedRedis
from .supervisor import ChildSpec, Supervisor

log = structlog.get_logger("duban.up")

LOCK_FILE = "up.lock"
CHILD_STOP_SECONDS = 10.0


def display_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to a reachable address
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """One `duban up` per data dir. A kernel lock, so a killed run never leaves it stuck."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            state = read_state(Settings(data_dir=data_dir))
            where = f" (pid {state['supervisor_pid']}, API at {state['api_url']})" if state else ""
            raise CliError(
                f"already running from {data_dir}{where}. Stop it first "
                "(Ctrl-C in its terminal), or use another DUBAN_DATA_DIR."
            ) from None
        yield
    finally:
        os.close(fd)


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As uvicorn binds: a socket lingering in TIME_WAIT does not count as taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise CliError(
                f"cannot serve the API on {host}:{port}: {exc.strerror or exc}. Another program "
                f"is using that port; choose a free one, e.g. DUBAN_API_PORT={port + 1} make run"
            ) from None


def _mentions(proc: psutil.Process, needle: str) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(needle in arg for arg in proc.cmdline())
    return False


def _from_pidfile(path: Path, name: str) -> psutil.Process | None:
    try:
        proc = psutil.Process(int(path.read_text().split()[0]))
        return proc if name in proc.name() else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def leftovers(data_dir: Path) -> list[psutil.Process]:
    """PostgreSQL or Redis still running on this data dir."""
    found = [
        proc
        for proc in psutil.process_iter()
        if proc.pid != os.getpid() and _mentions(proc, str(data_dir / "pg"))
    ]
    redis = _from_pidfile(data_dir / "redis.pid", "redis-server")
    if redis is not None:
        found.append(redis)
    return found


def stop_leftovers(data_dir: Path) -> None:
    """Stop servers left running on this data dir by a `duban up` that was killed (kill -9
    skips its cleanup). We hold the data dir's lock, so no live `duban up` owns them."""
    found = leftovers(data_dir)
    for proc in found:
        log.warning("stopping a server left running by an earlier duban up", pid=proc.pid)
        with contextlib.suppress(psutil.Error):
            # SIGINT is PostgreSQL's fast shutdown; Redis treats it like SIGTERM.
            proc.send_signal(signal.SIGINT)
    _gone, alive = psutil.wait_procs(found, timeout=30)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def api_argv(settings: Settings) -> list[str]:
    """The API process `duban up` runs. `--no-proxy-headers`: uvicorn would otherwise believe
    X-Forwarded-For/-Proto from any loopback peer; the app reads them itself, from the proxies
    in DUBAN_TRUSTED_PROXIES only (services/api/proxies.py)."""
    return [sys.executable, "-m", "uvicorn", "services.api.app:create_app", "--factory",
            "--host", settings.api_host, "--port", str(settings.api_port), "--no-access-log",
            "--no-proxy-headers", "--log-level", settings.log_level.lower(),
            "--timeout-graceful-shutdown", "5"]  # fmt: skip


def api_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def banner(api: str, servers: list[str], accounts: list[DemoAccount] | None, data_dir: Path) -> str:
    lines = [
        "",
        "duban is running.",
        f"  API        {api}/api/v1",
        f"  API docs   {api}/docs",
        f"  readiness  {api}/readyz",
        *[f"  {s}" for s in servers],
        "",
    ]
    if accounts:
        lines += [
            f"Demo accounts (also in {demo_accounts.path(data_dir)}):",
            demo_accounts.table(accounts),
            "",
        ]
    else:
        lines += [
            "The database holds a city already (set up with `duban init`, or the demo seeded",
            "from another data dir): no demo accounts here. Add a user with:",
            "  duban user add NAME --role ROLE --unit CODE",
            "",
        ]
    lines.append("Ctrl-C stops everything; the data is kept for the next run.")
    return "\n".join(lines)


class Up:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.api_url = display_url(settings.api_host, settings.api_port)
        self.supervisor = Supervisor()
        self.pg: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.servers: list[str] = []
        self.urls: Endpoints | None = None

    def _save_state(self) -> None:
        if self.urls is None:
            return
        pids = self.supervisor.pids()
        if self.pg is not None and self.pg.proc is not None:
            pids["postgres"] = self.pg.proc.pid
        if self.redis is not None and self.redis.proc is not None:
            pids["redis"] = self.redis.proc.pid
        write_state(
            self.settings,
            {
                "database_url": self.urls.database_url,
                "redis_url": self.urls.redis_url,
                "supervisor_pid": os.getpid(),
                "api_url": self.api_url,
                "pids": pids,
            },
        )

    def _start_servers(self) -> Endpoints:
        database_url, redis_url = self.settings.database_url, self.settings.redis_url
        if database_url is None or redis_url is None:
            stop_leftovers(self.data_dir)
        if database_url is None:
            self.pg = EmbeddedPostgres(self.data_dir)
            database_url = self.pg.start(fsync=True)
            self.servers.append(
                f"PostgreSQL 127.0.0.1:{self.pg.port} (embedded, data in {self.pg.pgdata})"
            )
        else:
            self.servers.append("PostgreSQL from DUBAN_DATABASE_URL")
        if redis_url is None:
            self.redis = EmbeddedRedis(self.data_dir, persistent=True)
            redis_url = self.redis.start()
            self.servers.append(
                f"Redis      127.0.0.1:{self.redis.port} (embedded, data in {self.redis.dir})"
            )
        else:
            self.servers.append("Redis from DUBAN_REDIS_URL")
        return Endpoints(database_url=database_url, redis_url=redis_url)

    def _child_env(self, urls: Endpoints, log_format: str) -> dict[str, str]:
        return {
            **os.environ,
            "DUBAN_DATA_DIR": str(self.data_dir),
            "DUBAN_DATABASE_URL": urls.database_url,
            "DUBAN_REDIS_URL": urls.redis_url,
            # One key for every process, generated into the data dir if none is configured.
            "DUBAN_JWT_SECRET": jwt_secret(self.settings),
            "DUBAN_LOG_FORMAT": log_format,
        }

    def run(self, log_format: str) -> int:
        self.supervisor.install_signal_handlers()
        try:
            return self._run(log_format)
        finally:
            self._shutdown()

    def _run(self, log_format: str) -> int:
        log.info("starting duban", data_dir=str(self.data_dir))
        self.urls = urls = self._start_servers()
        self._save_state()
        if self.supervisor.stopping:
            return 0
        log.info("migrating the database", head=migrations.head_revision())
        migrations.upgrade(urls.database_url)
        if self.supervisor.stopping:
            return 0
        seed = asyncio.run(
            in_transaction(urls.database_url, lambda s: demo_accounts.seed_once(s, self.data_dir))
        )
        if seed.seeded_now:
            log.info("seeded the demo campaign")
        if self.supervisor.stopping:
            return 0
        env = self._child_env(urls, log_format)
        py = sys.executable
        self.supervisor.add(ChildSpec("api", api_argv(self.settings), env))
        self.supervisor.add(ChildSpec("worker", [py, "-m", "services.worker"], env))
        self.supervisor.start_all()
        self._save_state()
        return self._supervise(seed.accounts)

    def _supervise(self, accounts: list[DemoAccount] | None) -> int:
        announced = False
        next_probe = 0.0
        while not self.supervisor.stopping:
            if self.supervisor.poll():
                self._save_state()
            for name, server in (("PostgreSQL", self.pg), ("Redis", self.redis)):
                if (
                    server is not None
                    and server.proc is not None
                    and server.proc.poll() is not None
                ):
                    log.error(
                        f"{name} exited unexpectedly; stopping duban",
                        exit_code=server.proc.returncode,
                    )
                    return 1
            now = time.monotonic()
            if not announced and now >= next_probe:
                next_probe = now + 0.25
                if api_ready(self.api_url):
                    announced = True
                    print(banner(self.api_url, self.servers, accounts, self.data_dir), flush=True)
            time.sleep(0.1)
        return 0

    def _shutdown(self) -> None:
        # Ignore further Ctrl-C: the steps below have their own time limits.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.info("stopping duban")
        self.supervisor.stop_all(CHILD_STOP_SECONDS)
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()
        if read_state(self.settings).get("supervisor_pid") == os.getpid():
            state_path(self.settings).unlink(missing_ok=True)
        log.info("duban stopped")


def up_command(settings: Settings, _args: argparse.Namespace) -> int:
    return up(settings)


def up(settings: Settings) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    log_format = output.configure(settings)  # its children log in the same format
    with exclusive(data_dir):
        check_port_free(settings.api_host, settings.api_port)
        return Up(settings).run(log_format)
