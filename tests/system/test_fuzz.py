"""Schemathesis over the whole OpenAPI document of a live API: a real uvicorn process on
loopback against the test PostgreSQL and Redis, authenticated as a demo account, every
operation, valid and invalid data. No answer may be a 5xx, and every answer must be one the
document declares: status code, content type, headers and body schema.

Each role (admin, supervisor, inspector) fuzzes its own fresh copy of the demo database, so
what the admin deletes cannot change what the others see. The run is bounded (examples per
operation, a timeout per role) and deterministic, so CI sees the same cases every time.

Not checked, by design rather than by accident:
- positive_data_acceptance: a schema-valid body still names a category, unit or finding that
  must exist, so a 404/409/422 for random valid-looking data is the correct answer;
- the stateful phase: FastAPI declares no links, and the inferred ones covered nothing in a
  bounded run; instead half of the path parameters name a real finding or demo code.

The admin's run also sends explicit examples at the edges of every timestamp, date, ISO week,
integer and cursor, and a JSON body ten thousand levels deep, to every operation
(tests/fuzz_hooks.py): generation rarely lands on the values that once answered 500. The
admin reaches every operation's validation; the other roles would repeat the same answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.cli.embedded import free_port
from tests.helpers import ROOT, Servers, demo_password

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
HOOKS = "tests.fuzz_hooks"
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "ignored_auth",
    )
)
# CI runs the deterministic cases. To dig deeper locally, raise the examples and vary the
# seed: DUBAN_FUZZ_EXAMPLES=100 DUBAN_FUZZ_SEED=7 pytest tests/system/test_fuzz.py -rP
MAX_EXAMPLES = int(os.environ.get("DUBAN_FUZZ_EXAMPLES", "10"))
# The admin's run reaches every operation's validation (and sends the edges); the other roles'
# mostly meet the same validation or a 403. For them, half as many generated examples and no
# coverage phase: its boundary and negative cases were three quarters of a role's run and only
# repeated the admin's answers (half the operations answer such a role with 401/403 alone).
OTHER_ROLES_EXAMPLES = max(1, MAX_EXAMPLES // 2)
ALL_PHASES = "examples,coverage,fuzzing"
OTHER_ROLES_PHASES = "examples,fuzzing"
FUZZ_SEED = os.environ.get("DUBAN_FUZZ_SEED")
# Liveness bounds, not timings: a role's run took 58-76 s on 2 cores at a load average of 6;
# a bound that is reached means a hang, not a busy machine.
RUN_TIMEOUT = 900
REQUEST_TIMEOUT = 60


class LiveApi:
    """`uvicorn services.api.app:create_app --factory` on a free loopback port."""

    def __init__(self, servers: Servers, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "api.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
        env |= {
            "DUBAN_DATABASE_URL": servers.new_database(),
            "DUBAN_REDIS_URL": servers.redis.url,
            "DUBAN_DATA_DIR": str(data_dir),
            "DUBAN_JWT_SECRET": "fuzz-secret-key-that-is-long-enough-for-hs256",
            "DUBAN_LOG_LEVEL": "WARNING",
            "DUBAN_NOTIFY_HOURS": "always",  # tests run at any hour
            "DUBAN_LOG_FORMAT": "console",
        }
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
             "--log-level", "warning"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"API not ready within {timeout} s:\n{self.log_path.read_text()}")

    def token(self, username: str) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": username, "password": demo_password(username)},
            timeout=REQUEST_TIMEOUT,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def report_finding(self, token: str) -> str:
        """One finding of the demo campaign, so the operations on a finding reach their logic
        (a random id only ever meets a 404)."""
        r = httpx.post(
            f"{self.url}/api/v1/findings",
            json={
                "category": "exposed_garbage",
                "description": "路边垃圾堆放未清运",
                "location": {"lat": 36.0571, "lon": 120.3466},
                "unit": "shinan.badaguan",
                "observed_at": "2026-05-31T09:12:00+08:00",
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture
def live_api(servers: Servers, tmp_path: Path) -> Iterator[LiveApi]:
    api = LiveApi(servers, tmp_path)
    try:
        api.wait_ready()
        yield api
    finally:
        api.stop()


def generation() -> tuple[str, ...]:
    if FUZZ_SEED:
        return ("--seed", FUZZ_SEED)
    return ("--generation-deterministic",)


def write_config(workdir: Path, finding_id: str, edges: bool) -> Path:
    """Half of the generated path parameters name things that exist (a finding, demo unit,
    category and policy codes), so the fuzzer gets past the 404 into each operation. With
    `edges`, the hooks add the examples at the edges to one example per operation."""
    codes = ", ".join(f'"{c}"' for c in ("shinan", "shinan.badaguan", "exposed_garbage", "default"))
    config = workdir / "schemathesis.toml"
    hooks = f'hooks = "{HOOKS}"\n[phases.examples]\nfill-missing = true\n' if edges else ""
    config.write_text(
        hooks
        + f"""
[dictionaries.findings]
values = ["{finding_id}"]

[dictionaries.codes]
values = [{codes}]

[parameters]
"path.finding_id" = {{ dictionary = "findings", probability = 0.5 }}
"path.code" = {{ dictionary = "codes", probability = 0.5 }}
"""
    )
    return config


def schemathesis_run(
    api: LiveApi, token: str, workdir: Path, *, edges: bool, examples: int, phases: str
) -> tuple[int, str]:
    config = write_config(workdir, api.report_finding(api.token("inspector")), edges)
    args = [
        SCHEMATHESIS, "--config-file", str(config), "run", f"{api.url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--mode", "all",
        "--phases", phases,
        "--max-examples", str(examples),
        *generation(),
        "--request-timeout", str(REQUEST_TIMEOUT),
        "--workers", "1",
        "--no-color",
        "--output-truncate", "false",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env["PYTHONPATH"] = str(ROOT)  # the hooks import tests.helpers
    done = subprocess.run(
        args, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.fuzz
@pytest.mark.parametrize(
    "role",
    [
        pytest.param("admin", marks=pytest.mark.slow(seconds=120)),
        pytest.param("supervisor", marks=pytest.mark.slow(seconds=55)),
        pytest.param("inspector", marks=pytest.mark.slow(seconds=40)),
    ],
)
def test_fuzz_the_whole_api(live_api: LiveApi, role: str, tmp_path: Path) -> None:
    admin = role == "admin"
    code, output = schemathesis_run(
        live_api,
        live_api.token(role),
        tmp_path,
        edges=admin,
        examples=MAX_EXAMPLES if admin else OTHER_ROLES_EXAMPLES,
        phases=ALL_PHASES if admin else OTHER_ROLES_PHASES,
    )
    print(output)  # shown by pytest -s or -rP: the phases, timings and warnings
    server_log = live_api.log_path.read_text(errors="replace")
    assert code == 0, f"{output}\n--- API log ---\n{server_log[-20000:]}"
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected is not None, output
    assert tested is not None, output
    # every operation of the document, none filtered out or skipped
    assert int(tested[1]) == int(selected[1]) == int(selected[2]), output


# ---- what the fuzzer found, pinned as plain tests (fast, in-process) ----
