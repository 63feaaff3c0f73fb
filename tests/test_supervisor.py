"""The supervisor behind `duban up`: crashed children come back with growing delays, and
stopping leaves nothing running, even a child that ignores SIGTERM."""

from __future__ import annotations

import os
import sys
import time

import psutil
import pytest

from services.cli.supervisor import ChildSpec, Supervisor, backoff_delay


@pytest.mark.parametrize(
    ("crashes", "delay"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (20, 30)]
)
def test_backoff_doubles_up_to_thirty_seconds(crashes: int, delay: float) -> None:
    assert backoff_delay(crashes) == delay


def _python(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], dict(os.environ))


def test_a_crashing_child_is_restarted_after_1s_then_2s() -> None:
    sup = Supervisor()
    child = sup.add(_python("crasher", "import sys; sys.exit(3)"))
    sup.start_all()
    starts = [time.monotonic()]
    deadline = time.monotonic() + 15
    while len(starts) < 3 and time.monotonic() < deadline:
        if sup.poll():
            starts.append(time.monotonic())
        time.sleep(0.02)
    sup.stop_all(timeout=5)
    assert child.restarts == 2
    first_gap, second_gap = starts[1] - starts[0], starts[2] - starts[1]
    assert 1.0 <= first_gap < 2.0
    assert 2.0 <= second_gap < 3.0


def test_stopping_kills_a_child_that_ignores_sigterm() -> None:
    sup = Supervisor()
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    child = sup.add(_python("stubborn", code))
    sup.start_all()
    pid = child.pid
    assert pid is not None
    time.sleep(1)  # let it install its handler
    started = time.monotonic()
    sup.stop_all(timeout=1)
    assert time.monotonic() - started < 5
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert sup.poll() is False  # stopped children are not restarted
