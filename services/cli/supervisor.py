"""Keeps child processes running: a child that exits is restarted with exponential backoff and
the exit is logged; on request every child is stopped (SIGTERM, then SIGKILL).

This is what restarts a dead API or worker under `duban up` (in production the orchestrator
does: compose's `restart: unless-stopped`, Kubernetes' restart policy). Nothing else in duban
restarts them: a worker that loses Redis exits and comes back here (services/worker)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog

from services.core.platform.backoff import exponential

log = structlog.get_logger("duban.supervisor")

# A crashed child comes back after 1 s, 2 s, 4 s … 30 s at most.
RESTART_BASE_SECONDS = 1.0
RESTART_CAP_SECONDS = 30.0
# A child that stayed up this long is healthy again: its next crash restarts it after 1 s.
STABLE_AFTER_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


def _exit_description(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _die_with_parent_hook() -> Callable[[], None] | None:
    """Linux only: if the supervisor itself is killed (kill -9), its children get SIGTERM
    instead of running on unsupervised."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    # Where the child's output goes, appended to across restarts; None: the supervisor's own
    # stdout and stderr (what `duban up` does).
    log_path: Path | None = None


@dataclass
class Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, now: float) -> None:
        # Its own session: a Ctrl-C at the terminal reaches only the supervisor, which then
        # stops the children in order (API and worker before the databases).
        output = self.spec.log_path.open("ab") if self.spec.log_path is not None else None
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - argv built by duban, no shell
                self.spec.argv,
                env=self.spec.env,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509 - only calls prctl
            )
        finally:
            if output is not None:
                output.close()  # the child has its own copy
        self.started_at = now
        self.restart_at = None

    def poll(self, now: float) -> bool:
        """Notice a crash and restart when its backoff has passed. True if a new process
        was started (its pid changed)."""
        if self.proc is not None:
            code = self.proc.poll()
            uptime = now - self.started_at
            if code is None:
                if uptime >= STABLE_AFTER_SECONDS:
                    self.crashes = 0
                return False
            self.crashes = self.crashes + 1 if uptime < STABLE_AFTER_SECONDS else 1
            delay = exponential(self.crashes, RESTART_BASE_SECONDS, RESTART_CAP_SECONDS)
            log.error(
                f"{self.name} exited unexpectedly ({_exit_description(code)}); "
                f"restarting in {delay:.0f}s",
                child=self.name,
                pid=self.proc.pid,
                exit_code=code,
                uptime_seconds=round(uptime, 1),
                consecutive_crashes=self.crashes,
            )
            self.proc = None
            self.restart_at = now + delay
            return False
        if self.restart_at is not None and now >= self.restart_at:
            self.start(now)
            self.restarts += 1
            log.warning(f"{self.name} restarted", child=self.name, pid=self.pid)
            return True
        return False

    def send(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The whole process group, so anything the child spawned goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(max(timeout, 0))
        except subprocess.TimeoutExpired:
            return False
        return True


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_signal: int | None = None

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag: writing to a stream from a signal handler can fail with a
        # reentrant-call error if the main code is in the middle of writing.
        if self.stop_signal is None:
            self.stop_signal = signum

    def add(self, spec: ChildSpec) -> Child:
        child = Child(spec)
        self.children.append(child)
        return child

    def start_all(self) -> None:
        now = time.monotonic()
        for child in self.children:
            child.start(now)
            log.info(f"{child.name} started", child=child.name, pid=child.pid)

    def poll(self) -> bool:
        """One supervision round; True if any child got a new pid."""
        now = time.monotonic()
        changed = False
        for child in self.children:
            changed = child.poll(now) or changed
        return changed

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.children if c.pid is not None}

    def stop_all(self, timeout: float = 10.0) -> None:
        for child in self.children:
            child.restart_at = None
            child.send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if not child.wait(deadline - time.monotonic()):
                log.warning(
                    f"{child.name} did not stop within {timeout:.0f}s; killing it",
                    child=child.name,
                )
                child.send(signal.SIGKILL)
                child.wait(5)
            child.proc = None
