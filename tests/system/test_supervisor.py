"""The supervisor behind `duban up`: crashed children come back with growing delays, and
stopping leaves nothing running, even a child that ignores SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from services.cli.supervisor import Child, ChildSpec, Supervisor


def _python(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], dict(os.environ))


def _exited(child: Child) -> None:
    """Until the child's process has exited (it crashes at once; a busy machine may take a
    while to run it)."""
    assert child.proc is not None
    child.proc.wait(60)


def test_a_crashing_child_is_restarted_after_1s_then_2s() -> None:
    """The schedule on the supervisor's own clock (`now` passed in), so a slow start of the
    child on a busy machine cannot move it: a crash seen at t is restarted at t + 1 s, the next
    one at t' + 2 s, and not a moment before."""
    child = Child(_python("crasher", "import sys; sys.exit(3)"))
    child.start(now=0.0)
    try:
        _exited(child)
        assert child.poll(now=0.5) is False  # the crash is noticed: restart due at 1.5
        assert child.proc is None
        assert child.poll(now=1.49) is False
        assert child.proc is None
        assert child.poll(now=1.5) is True
        assert child.restarts == 1
        first = child.pid

        _exited(child)
        assert child.poll(now=2.0) is False  # the second crash in a row: 2 s
        assert child.poll(now=3.99) is False
        assert child.proc is None
        assert child.poll(now=4.0) is True
        assert child.restarts == 2
        assert child.pid != first
    finally:
        child.restart_at = None
        child.send(signal.SIGKILL)
        child.wait(60)


def test_a_crashing_child_is_restarted_on_the_real_clock() -> None:
    """The same through `Supervisor.poll` on the real clock: two restarts, each at least its
    backoff after the previous start (a crash takes time too, so only the lower bound holds
    on any machine)."""
    sup = Supervisor()
    child = sup.add(_python("crasher", "import sys; sys.exit(3)"))
    sup.start_all()
    starts = [time.monotonic()]
    deadline = time.monotonic() + 60
    while len(starts) < 3 and time.monotonic() < deadline:
        if sup.poll():
            starts.append(time.monotonic())
        time.sleep(0.02)
    sup.stop_all(timeout=30)
    assert child.restarts == 2
    assert starts[1] - starts[0] >= 1.0
    assert starts[2] - starts[1] >= 2.0


def test_stopping_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(600)"
    )
    sup = Supervisor()
    child = sup.add(_python("stubborn", code))
    sup.start_all()
    proc = child.proc
    assert proc is not None
    deadline = time.monotonic() + 60
    while not ready.exists():  # its handler is installed: SIGTERM alone cannot stop it
        assert time.monotonic() < deadline, "the child never got ready"
        assert proc.poll() is None
        time.sleep(0.05)
    started = time.monotonic()
    sup.stop_all(timeout=1)
    # Killed, not waited for: its sleep had ten minutes to go.
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 60
    assert sup.poll() is False  # stopped children are not restarted
