"""Real worker processes for tests: started as production starts them, against the test
database and Redis, each logging to its own file, and always stopped, even when a test fails.

    with WorkerPool(worker_env(servers, database_url, tmp_path)) as pool:
        a = pool.start("a")
        ...

`SupervisedWorkers` keeps them running as `duban up` does, under its supervisor
(services/cli/supervisor.py): a worker that exits or is killed is started again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import asyncpg
import psutil
from arq import create_pool
from arq.connections import ArqRedis

from services.cli.supervisor import Child, ChildSpec, Supervisor
from services.core.platform.settings import Settings
from services.worker import queue
from tests.helpers import Servers

# The worker entrypoint (`python -m services.worker`), as `duban up` and compose run it.
WORKER = "services.worker"
# The worker logs this (services.worker.settings.startup) once its database pool is ready.
STARTED = "worker started"


async def queue_client(url: str) -> ArqRedis:
    """A client of the job queue that rides out a Redis restart as a worker does (the
    default DUBAN_REDIS_OUTAGE_SECONDS)."""
    default = Settings.model_fields["redis_outage_seconds"].default
    return await create_pool(queue.redis_settings(url, default))


def worker_env(
    servers: Servers,
    database_url: str,
    data_dir: Path,
    *,
    sweep_seconds: int | None = None,
    log_level: str = "INFO",
) -> dict[str, str]:
    """The environment of a worker on the test servers; nothing from the caller's DUBAN_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": servers.redis.url,
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_LOG_LEVEL": log_level,
        "DUBAN_NOTIFY_HOURS": "always",  # tests run at any hour
        "DUBAN_LOG_FORMAT": "json",
    }
    if sweep_seconds is not None:
        env["DUBAN_ESCALATION_SWEEP_SECONDS"] = str(sweep_seconds)
    return env


def health_check(env: dict[str, str]) -> int:
    """`--check`: 0 while a worker is alive on this Redis."""
    return subprocess.run(
        [sys.executable, "-m", WORKER, "--check"],
        env=env,
        capture_output=True,
        timeout=120,  # a liveness bound: starting Python took over 30 s at a load average of 10
        check=False,
    ).returncode


class _WorkerLog:
    """What a worker has logged to its file (all its processes', if it was restarted)."""

    name: str
    log_path: Path
    # A supervised worker that died is started again: waiting for it is no failure.
    restarted_when_dead = False

    def alive(self) -> bool:
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The structured (JSON) log lines, optionally only those of one event."""
        found = []
        for line in self.log_text().splitlines():
            if not line.startswith("{"):
                continue  # arq's own plain-text lines
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if event is None or record.get("event") == event:
                found.append(record)
        return found

    def wait_started(self, timeout: float = 60, *, times: int = 1) -> None:
        """Until the worker has connected to Redis and the database (needs INFO logs), `times`
        times over (a restarted worker logs it again)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive() and not self.restarted_when_dead:
                raise AssertionError(f"worker {self.name} died:\n{self.log_text()[-4000:]}")
            if len(self.events(STARTED)) >= times:
                return
            time.sleep(0.05)
        raise AssertionError(f"worker {self.name} did not start:\n{self.log_text()[-4000:]}")


class WorkerProcess(_WorkerLog):
    """One `python -m services.worker` process."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", WORKER],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def local_ports(self) -> set[int]:
        """Local TCP ports of this process's connections: matched against
        pg_stat_activity.client_port they tell which database sessions are this worker's."""
        if not self.alive():
            return set()
        try:
            conns = psutil.Process(self.pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            return set()
        return {c.laddr.port for c in conns if c.laddr}

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM (the worker cancels running jobs and exits 0); SIGKILL if it hangs."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a test may have left it stopped
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when the machine or the OOM killer takes it."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


class WorkerPool:
    """Starts named workers; on exit stops every one of them, whatever happened."""

    def __init__(self, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.env = env
        self.log_dir = log_dir or Path(env["DUBAN_DATA_DIR"])
        self.workers: dict[str, WorkerProcess] = {}

    def start(self, name: str, *, wait: bool = True) -> WorkerProcess:
        assert name not in self.workers or not self.workers[name].alive()
        worker = WorkerProcess(name, self.env, self.log_dir / f"worker-{name}.log")
        self.workers[name] = worker
        if wait:
            worker.wait_started()
        return worker

    def stop_all(self) -> None:
        for worker in self.workers.values():
            if worker.alive():
                worker.proc.send_signal(signal.SIGCONT)
                worker.proc.send_signal(signal.SIGTERM)
        for worker in self.workers.values():
            worker.terminate()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


class SupervisedWorker(_WorkerLog):
    """A worker under the supervisor: its process changes when it is restarted."""

    restarted_when_dead = True

    def __init__(self, child: Child, lock: threading.Lock) -> None:
        assert child.spec.log_path is not None
        self.name = child.name
        self.log_path = child.spec.log_path
        self._child = child
        self._lock = lock

    def alive(self) -> bool:
        with self._lock:
            proc = self._child.proc
            return proc is not None and proc.poll() is None

    @property
    def restarts(self) -> int:
        """How often the supervisor has started it again."""
        return self._child.restarts

    def kill(self) -> None:
        """SIGKILL its current process (the supervisor will notice and restart it)."""
        with self._lock:
            proc = self._child.proc
            assert proc is not None, f"worker {self.name} is not running"
            assert proc.poll() is None, f"worker {self.name} has exited"
            proc.kill()
            proc.wait(10)

    def wait_restarted(self, restarts: int, timeout: float = 90) -> None:
        """Until the supervisor has restarted it `restarts` times and it is serving again."""
        self.wait_started(timeout, times=restarts + 1)
        assert self.restarts >= restarts


class SupervisedWorkers:
    """Workers kept running by the supervisor `duban up` runs them under: one that exits, on
    losing Redis or killed, is started again after the supervisor's backoff, as compose or
    Kubernetes would start its container again. Polled in a thread of its own."""

    def __init__(self, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.env = env
        self.log_dir = log_dir or Path(env["DUBAN_DATA_DIR"])
        self.supervisor = Supervisor()
        self.workers: dict[str, SupervisedWorker] = {}
        self.exit_codes: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                if not self._stopped.is_set():
                    self.supervisor.poll()
            time.sleep(0.05)

    def start(self, name: str, *, wait: bool = True) -> SupervisedWorker:
        assert name not in self.workers
        spec = ChildSpec(
            name, [sys.executable, "-m", WORKER], self.env, self.log_dir / f"worker-{name}.log"
        )
        with self._lock:
            child = self.supervisor.add(spec)
            child.start(time.monotonic())
        worker = self.workers[name] = SupervisedWorker(child, self._lock)
        if wait:
            worker.wait_started()
        return worker

    def stop_all(self, timeout: float = 30) -> dict[str, int | None]:
        """SIGTERM to every worker (SIGKILL past `timeout`), no more restarts: each running
        process's exit code."""
        with self._lock:
            if not self._stopped.is_set():
                running = {c.name: c.proc for c in self.supervisor.children if c.proc is not None}
                self.supervisor.stop_all(timeout)
                self.exit_codes = {name: proc.returncode for name, proc in running.items()}
                # Only now may the thread end: a child it restarted gets SIGTERM when the
                # thread that started it ends (services/cli/supervisor._die_with_parent_hook).
                self._stopped.set()
        self._thread.join(10)
        return self.exit_codes

    def __enter__(self) -> SupervisedWorkers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


# ---- a worker caught holding a claimed batch (the kill tests of the sweeps) ----


# The tables a sweep claims rows of.
Swept = Literal["findings", "commitments"]

# The sessions whose transaction holds claimed rows of a table locked (FOR UPDATE took a
# row-share lock on it and a transaction id).
_HOLDING_A_BATCH = """
    SELECT a.client_port, a.backend_xid::text AS xid
    FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
    WHERE l.locktype = 'relation' AND l.relation = $1::regclass
      AND l.mode = 'RowShareLock' AND a.backend_xid IS NOT NULL
"""
# Rows still due for the sweep that no transaction holds (locked for an instant, autocommit).
_UNLOCKED_PENDING: dict[Swept, str] = {
    "findings": "SELECT count(*) FROM (SELECT id FROM findings"
    " WHERE next_escalation_at IS NOT NULL FOR UPDATE SKIP LOCKED) AS free",
    "commitments": "SELECT count(*) FROM (SELECT id FROM commitments"
    " WHERE next_escalation_at IS NOT NULL FOR UPDATE SKIP LOCKED) AS free",
}


async def xact_status(db: asyncpg.Connection, xid: str) -> str:
    return str(await db.fetchval("SELECT pg_xact_status($1::text::xid8)", xid))


async def batches_held(db: asyncpg.Connection, ports: set[int], table: Swept) -> list[str]:
    """Transactions of the sessions on these client ports that hold claimed rows of `table`."""
    rows = await db.fetch(_HOLDING_A_BATCH, table)
    return [str(row["xid"]) for row in rows if row["client_port"] in ports]


async def freeze_holding_a_batch(
    db: asyncpg.Connection, worker: WorkerProcess, table: Swept, *, within: float
) -> set[int]:
    """Stop `worker` (SIGSTOP) at a moment it holds claimed rows of `table`; its ports."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ports = worker.local_ports()
        if await batches_held(db, ports, table):
            os.kill(worker.pid, signal.SIGSTOP)
            held = await batches_held(db, ports, table)
            if held and all([await xact_status(db, xid) == "in progress" for xid in held]):
                return ports
            os.kill(worker.pid, signal.SIGCONT)  # it committed meanwhile: try again
        await asyncio.sleep(0.005)
    raise AssertionError(f"worker {worker.name} never held a batch")


async def unlocked_pending(db: asyncpg.Connection, table: Swept) -> int:
    return int(await db.fetchval(_UNLOCKED_PENDING[table]))
