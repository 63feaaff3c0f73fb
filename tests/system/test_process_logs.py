"""Every duban process logs JSON lines with DUBAN_LOG_FORMAT=json and nothing else on stderr:
the migrations, a command's notes, the API, the worker and `duban up` (which carries the
other two), each run as a real process. A request's line names its request id, a job's lines
its job id, and an idle API or worker writes nothing at INFO."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings

from services.cli.embedded import free_port
from tests.helpers import LoggedProcess, Servers

BIN = Path(sys.executable).parent
# Longer than the escalation sweep (5 s), the outbox rescan (10 s) and the worker's health
# record (5 s): each runs at least once while the worker is watched.
IDLE_SECONDS = 12.0
LOUD = {"info", "warning", "error", "critical", "exception"}


def json_env(servers: Servers, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    return env | {
        "DUBAN_DATABASE_URL": database_url,
        "DUBAN_REDIS_URL": servers.empty_redis(),
        "DUBAN_DATA_DIR": str(data_dir),
        "DUBAN_JWT_SECRET": "log-test-secret-that-is-long-enough-for-hs256",
        "DUBAN_WEBHOOK_SECRET": "log-test-webhook-secret-long-enough-32",
        "DUBAN_LOG_FORMAT": "json",
        "DUBAN_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def processes() -> Iterator[list[LoggedProcess]]:
    started: list[LoggedProcess] = []
    yield started
    for process in started:
        process.kill()


def loud_since(lines: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    return [line for line in lines[start:] if line.get("level") in LOUD]


def test_the_migrations_log_json_lines(servers: Servers, tmp_path: Path) -> None:
    empty = servers.pg.create_database("logs_fresh")
    process = LoggedProcess(
        [str(BIN / "duban"), "migrate"], json_env(servers, empty, tmp_path), tmp_path, "migrate"
    )
    assert process.proc.wait(300) == 0, process.stderr_lines()
    lines = process.json_lines()
    upgrades = [line for line in lines if str(line["event"]).startswith("Running upgrade")]
    assert len(upgrades) > 10
    assert {line["logger"] for line in upgrades} == {"alembic.runtime.migration"}
    assert all("timestamp" in line and line["level"] == "info" for line in upgrades)
    assert "database at" in process.out_path.read_text()  # the command's answer, on stdout


def test_a_command_s_note_is_a_json_line_and_its_answer_alone_on_stdout(
    servers: Servers, tmp_path: Path
) -> None:
    argv = [str(BIN / "duban"), "token", "issue", "inspector.shinan", "--name", "logs"]
    process = LoggedProcess(
        argv, json_env(servers, servers.new_database(), tmp_path), tmp_path, "cli"
    )
    assert process.proc.wait(120) == 0, process.stderr_lines()
    assert process.out_path.read_text().strip().startswith("dbn_")  # TOKEN=$(duban token issue)
    notes = [line for line in process.json_lines() if "shown only once" in str(line["event"])]
    assert len(notes) == 1


def test_the_api_logs_json_lines_with_the_request_id_and_is_quiet_when_idle(
    servers: Servers, tmp_path: Path, processes: list[LoggedProcess]
) -> None:
    port = free_port()
    api = LoggedProcess(
        [str(BIN / "uvicorn"), "services.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--no-proxy-headers", "--log-level", "info"],
        json_env(servers, servers.new_database(), tmp_path), tmp_path, "api",
    )  # fmt: skip
    processes.append(api)
    # uvicorn's last start-up line: it binds and says so after the app's startup completes
    api.wait_for(lambda line: str(line["event"]).startswith("Uvicorn running on"))
    url = f"http://127.0.0.1:{port}"
    # what a container's health check and a Prometheus scrape do, again and again
    start = len(api.json_lines())
    for _ in range(5):
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
    time.sleep(1)
    assert loud_since(api.json_lines(), start) == []
    # a request of a user's is logged, under its request id
    r = httpx.get(f"{url}/api/v1/findings", headers={"X-Request-ID": "req-logs-1"}, timeout=10)
    assert r.status_code == 401
    line = api.wait_for(lambda line: line.get("request_id") == "req-logs-1")
    assert line["event"] == "request"
    assert line["status"] == 401
    assert line["path"] == "/api/v1/findings"
    # uvicorn shuts down, then ends itself by the signal it caught (as a shell expects)
    assert api.stop() in (0, -signal.SIGTERM)
    lines = api.json_lines()  # every line, uvicorn's own too, up to its shutdown
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    assert any("shutdown" in str(line["event"]).lower() for line in lines)


async def _enqueue_ping(redis_url: str, job_id: str) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        assert await pool.enqueue_job("ping", _job_id=job_id) is not None
    finally:
        await pool.aclose()


@pytest.mark.slow(seconds=20)
def test_the_worker_logs_json_lines_with_the_job_id_and_is_quiet_when_idle(
    servers: Servers, tmp_path: Path, processes: list[LoggedProcess]
) -> None:
    worker = LoggedProcess(
        [sys.executable, "-m", "services.worker"],
        json_env(servers, servers.new_database(), tmp_path),
        tmp_path,
        "worker",
    )
    processes.append(worker)
    worker.wait_for(lambda line: str(line["event"]).startswith("Starting worker"))
    worker.wait_for(lambda line: line["event"] == "worker started")
    time.sleep(1)  # arq's start-up lines (Redis version, memory) come right after
    start = len(worker.json_lines())
    time.sleep(IDLE_SECONDS)  # sweeps, rescans and health records: nothing at INFO
    assert loud_since(worker.json_lines(), start) == []
    # a job queued for work: arq's lines about it go through the same log, with its id
    asyncio.run(_enqueue_ping(servers.redis.url, "ping-logs-1"))
    finished = worker.wait_for(
        lambda line: line.get("job_id") == "ping-logs-1" and "←" in str(line["event"])
    )
    assert finished["logger"] == "arq.worker"
    assert finished["level"] == "info"
    started = [line for line in worker.json_lines() if "→ ping-logs-1:ping" in str(line["event"])]
    assert [line["job_id"] for line in started] == ["ping-logs-1"]
    assert worker.stop() == 0
    assert worker.json_lines()[-1]["event"] == "worker stopped"


@pytest.mark.slow(seconds=30)
def test_duban_up_logs_json_lines_for_itself_and_its_children(
    servers: Servers, tmp_path: Path, processes: list[LoggedProcess]
) -> None:
    port = free_port()
    env = json_env(servers, servers.new_database(), tmp_path) | {"DUBAN_API_PORT": str(port)}
    up = LoggedProcess([str(BIN / "duban"), "up"], env, tmp_path, "up")
    processes.append(up)
    deadline = time.monotonic() + 180
    while "duban is running" not in up.out_path.read_text():  # the banner, on stdout
        assert up.proc.poll() is None, up.stderr_lines()[-40:]
        assert time.monotonic() < deadline, up.stderr_lines()[-40:]
        time.sleep(0.25)
    up.wait_for(lambda line: line["event"] == "worker started")
    assert up.stop(180) == 0
    lines = up.json_lines()
    loggers = {line.get("logger") for line in lines}
    events = [str(line["event"]) for line in lines]
    assert "starting duban" in events  # duban up's own
    assert "duban stopped" in events
    assert "alembic.runtime.migration" in loggers  # the migrations it runs
    assert any("startup complete" in event for event in events)  # the API child (uvicorn)
    assert "worker started" in events  # the worker child
