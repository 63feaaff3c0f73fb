"""The processes under test: embedded PostgreSQL (fsync on) and Redis, the API, the yardstick
and arq workers, each a child process in a temporary directory, all stopped on exit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import psutil
from alembic import command
from alembic.config import Config

from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from services.core.demo.service import seed_demo
from services.core.platform.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parent.parent


def demo_password(username: str) -> str:
    return f"pw-{username}"


class Child:
    """One server process logging to its own file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class PeakRss:
    """Samples the resident set size of named processes in a thread; keeps the peak."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name, pid in list(self.pids.items()):
                # A uvicorn with several workers: the largest of its processes counts.
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(pid)
                    for proc in (root, *root.children(recursive=True)):
                        rss = proc.memory_info().rss
                        self.peak[name] = max(self.peak.get(name, 0), rss)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# Liveness bounds, not timings: on a machine at a load average of 12, the API's two workers
# took over a minute to answer.
START_WITHIN = 180.0


def _wait_http(port: int, child: Child, timeout: float = START_WITHIN) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} died:\n{child.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
            if r.status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer:\n{child.log_tail()}")


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg = EmbeddedPostgres(root)
        self.redis = EmbeddedRedis(root, persistent=False)
        self.children: list[Child] = []
        self.jwt_secret = secrets.token_urlsafe(48)

    @property
    def database_url(self) -> str:
        # Co-located, every contender reaches PostgreSQL through its Unix socket, as a
        # deployment on one host would (README, "Production").
        return self.pg.socket_url

    def start_servers(self, pg_options: Mapping[str, str] | None = None) -> None:
        # fsync on, as in production: every commit reaches the disk.
        self.pg.start(fsync=True, socket_dir=self.root / "pgsock", options=pg_options)
        self.redis.start()

    def migrate_and_seed(self) -> None:
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("sqlalchemy.url", self.database_url.replace("%", "%%"))
        command.upgrade(cfg, "head")

        async def seed() -> None:
            engine = make_engine(self.database_url, pool_size=1)
            async with make_sessionmaker(engine)() as session, session.begin():
                await seed_demo(session, password=demo_password)
            await engine.dispose()

        asyncio.run(seed())

    def env(self, log_level: str = "WARNING") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
        return env | {
            "DUBAN_DATABASE_URL": self.database_url,
            "DUBAN_REDIS_URL": self.redis.url,
            "DUBAN_DATA_DIR": str(self.root / "data"),
            "DUBAN_JWT_SECRET": self.jwt_secret,
            "DUBAN_LOG_LEVEL": log_level,
            "DUBAN_LOG_FORMAT": "json",
            "BENCH_DATABASE_URL": self.database_url,
        }

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(name, args, env, self.root / f"{name}.log")
        self.children.append(child)
        return child

    def start_uvicorn(self, name: str, app: list[str], workers: int = 1) -> tuple[Child, int]:
        """A uvicorn with `workers` worker processes behind one port."""
        port = free_port()
        args = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning",
                "--workers", str(workers)]  # fmt: skip
        child = self._start(name, args, self.env())
        _wait_http(port, child)
        return child, port

    def start_profiled(self, name: str, app: list[str], stats: Path) -> tuple[Child, int]:
        """One uvicorn process under cProfile (bench/profiled.py); the profile is written to
        `stats` when the child is stopped."""
        port = free_port()
        args = [sys.executable, "-m", "bench.profiled", str(stats), str(port), *app]
        child = self._start(name, args, self.env())
        _wait_http(port, child)
        return child, port

    def start_worker(self, name: str) -> Child:
        args = [sys.executable, "-m", "services.worker"]
        return self._start(name, args, self.env("INFO"))

    def wait_worker(self, child: Child, timeout: float = START_WITHIN) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} died:\n{child.log_tail()}")
            for line in child.log_path.read_text(errors="replace").splitlines():
                if line.startswith("{") and '"worker started"' in line:
                    with contextlib.suppress(ValueError):
                        if json.loads(line).get("event") == "worker started":
                            return
            time.sleep(0.1)
        raise RuntimeError(f"{child.name} did not start:\n{child.log_tail()}")

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for child in reversed(self.children):
            child.stop()
        self.redis.stop()
        self.pg.stop()
