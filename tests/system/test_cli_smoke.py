"""`make run` as a newcomer meets it: `duban up` in a subprocess on a fresh data dir — ready,
demo login, a finding posted, the CLI reaching the running stack, a crashed API restarted,
Ctrl-C/SIGTERM leaving nothing behind, a second run finding the data again, and a killed one
leaving nothing the next run cannot clean."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from services.cli.embedded import free_port
from services.cli.up import stop_leftovers

DUBAN = str(Path(sys.executable).parent / "duban")
# Liveness bounds, not timings: on a busy machine the first run's initdb, migrations and seed
# take minutes, and stopping waits for each child in turn (`duban up` gives each its own
# limit). A bound that is reached means a hang.
READY_WITHIN = 300.0
STOP_WITHIN = 180.0
COMMAND_WITHIN = 120.0


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    return env | {"DUBAN_DATA_DIR": str(data_dir), "DUBAN_API_PORT": str(port)}


_runs: list[Run] = []


@pytest.fixture(autouse=True)
def _no_stray_servers() -> Iterator[None]:
    """Even when a test fails half-way, stop what it started (later tests and CI share the
    machine)."""
    yield
    while _runs:
        run = _runs.pop()
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(STOP_WITHIN)
        for pid in run.pids:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                # Only if it is still ours: a pid of a finished run may belong to anyone now.
                if proc.environ().get("DUBAN_DATA_DIR") == str(run.data_dir):
                    proc.kill()
        stop_leftovers(run.data_dir)


class Run:
    """One `duban up`, its output in a file (a pipe nobody reads could fill up and block it)."""

    def __init__(self, data_dir: Path, port: int, name: str) -> None:
        _runs.append(self)
        self.data_dir = data_dir
        self.env = _env(data_dir, port)
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"{data_dir.name}-{name}.log"
        with self.log.open("wb") as out:
            # cwd outside the checkout: a developer's .env must not leak into the test.
            self.proc = subprocess.Popen(
                [DUBAN, "up"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                cwd=data_dir.parent,
            )  # fmt: skip
        self.pids: set[int] = {self.proc.pid}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.data_dir / "stack.json").read_text())
        return data

    def child_pids(self) -> dict[str, int]:
        pids: dict[str, int] = self.state()["pids"]
        self.pids.update(pids.values())
        return pids

    def wait_ready(self, timeout: float = READY_WITHIN) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.proc.poll() is None, f"duban up exited:\n{self.output()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
                # The banner follows readiness: the supervisor probes /readyz itself.
                if ready and "duban is running" in self.output():
                    self.child_pids()
                    return time.monotonic() - started
            time.sleep(0.25)
        pytest.fail(f"/readyz not 200 within {timeout:.0f}s:\n{self.output()[-3000:]}")

    def cli(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Another `duban` command from the same checkout and data dir."""
        env = {k: v for k, v in self.env.items() if k != "DUBAN_API_PORT"}
        return subprocess.run(
            [DUBAN, *argv], env=env, input=stdin, capture_output=True, text=True,
            timeout=COMMAND_WITHIN, check=False, cwd=self.data_dir.parent,
        )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.child_pids()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(
                f"duban up did not exit within {STOP_WITHIN:.0f}s of {sig!r}:\n"
                f"{self.output()[-3000:]}"
            )
        assert code == 0, self.output()[-3000:]
        assert not (self.data_dir / "stack.json").exists()
        assert leftovers(self.data_dir, self.pids) == []


def leftovers(data_dir: Path, pids: set[int]) -> list[str]:
    """Processes that belong to this run: a recorded pid, or anything whose command line or
    working directory is in the data dir (PostgreSQL backends work in it, Redis too)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.cmdline())
            cwd = ""
            with contextlib.suppress(psutil.Error):
                cwd = proc.cwd()
            if proc.pid in pids or str(data_dir) in cmdline or cwd.startswith(str(data_dir)):
                found.append(f"{proc.pid} {cmdline}")
    return found


def login(base: str, username: str, password: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def finding() -> dict[str, Any]:
    observed = datetime.now(UTC) - timedelta(minutes=10)
    return {
        "id": str(uuid.uuid4()),
        "source": "inspection",
        "category": "exposed_garbage",
        "severity": "normal",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0546, "lon": 120.3560, "address": "市南区八大关街道山海关路"},
        "unit": "shinan.badaguan",
        "point_type": "back_alley",
        "observed_at": observed.astimezone(datetime.now().astimezone().tzinfo).isoformat(),
    }


@pytest.mark.slow(seconds=100)
def test_make_run_end_to_end(server_tmp: Path) -> None:
    data_dir = server_tmp / "var"
    port = free_port()

    # First run on an empty data dir: initdb, migrate, seed, serve.
    run = Run(data_dir, port, "first")
    took = run.wait_ready()
    print(f"first duban up ready in {took:.1f}s")
    out = run.output()
    assert f"http://127.0.0.1:{port}/docs" in out
    accounts = {a["username"]: a for a in json.loads((data_dir / "demo-accounts.json").read_text())}
    inspector = accounts["inspector.shinan"]
    for account in accounts.values():
        assert account["password"] in out  # the banner shows every demo password
    for secret_file in ("pg-password", "redis-password"):
        assert (data_dir / secret_file).read_text().strip() not in out

    headers = login(run.base, "inspector.shinan", inspector["password"])
    body = finding()
    r = httpx.post(f"{run.base}/api/v1/findings", json=body, headers=headers)
    assert r.status_code == 201, r.text

    # The CLI reaches the running stack through the data dir.
    added = run.cli(
        "user", "add", "smoke.bot", "--role", "supervisor", "--unit", "qingdao",
        "--password-stdin", stdin="smoke bot password\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    issued = run.cli("token", "issue", "smoke.bot", "--name", "smoke test")
    assert issued.returncode == 0, issued.stderr
    token_id = issued.stderr.split("API token ", 1)[1].split()[0]
    bot = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    listed = httpx.get(f"{run.base}/api/v1/findings", headers=bot)
    assert listed.status_code == 200, listed.text
    assert body["id"] in [item["id"] for item in listed.json()["items"]]

    # Only one `duban up` per data dir.
    second = subprocess.run(
        [DUBAN, "up"], env=run.env, capture_output=True, text=True, timeout=COMMAND_WITHIN,
        check=False,
    )  # fmt: skip
    assert second.returncode == 2
    assert "already running" in second.stderr

    # A crashed API comes back by itself, and the crash is in the log.
    crashed = run.child_pids()["api"]
    os.kill(crashed, signal.SIGKILL)
    deadline = time.monotonic() + READY_WITHIN
    while run.child_pids()["api"] == crashed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.child_pids()["api"] != crashed
    run.wait_ready()
    assert "api exited unexpectedly" in run.output()

    run.stop(signal.SIGTERM)

    # Second run: same data, same passwords, same token.
    run = Run(data_dir, port, "second")
    run.wait_ready()
    headers = login(run.base, "inspector.shinan", inspector["password"])
    again = httpx.get(f"{run.base}/api/v1/findings/{body['id']}", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == body["id"]
    assert httpx.get(f"{run.base}/api/v1/findings", headers=bot).status_code == 200
    revoked = run.cli("token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{run.base}/api/v1/findings", headers=bot).status_code == 401

    # Killed (once a test of its own, on a fresh data dir of its own), then Ctrl-C (SIGINT).
    run = killed_then_cleaned(run, data_dir, port)
    run.stop(signal.SIGINT)


def killed_then_cleaned(run: Run, data_dir: Path, port: int) -> Run:
    """Kill `duban up` outright, no cleanup at all: the API and worker die with their
    supervisor, and the next run (returned, ready) stops the databases the killed one left."""
    pids = run.child_pids()
    run.proc.kill()
    run.proc.wait(STOP_WITHIN)
    for name in ("api", "worker"):
        with contextlib.suppress(psutil.NoSuchProcess):
            alive = psutil.wait_procs([psutil.Process(pids[name])], timeout=STOP_WITHIN)[1]
            assert alive == [], name
    assert run.cli("migrate").returncode == 2  # the stale state file is not a running stack

    again = Run(data_dir, port, "after-kill")
    again.wait_ready()
    again.pids.update(pids.values())
    return again


def test_a_taken_api_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [DUBAN, "up"], env=_env(tmp_path, port), capture_output=True, text=True,
            timeout=COMMAND_WITHIN, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2
    assert "DUBAN_API_PORT" in result.stderr
    assert not (tmp_path / "pg").exists()
