"""A city puts duban into service without the demo, as its IT staff would: on a new database,
`duban migrate`, `duban init`, `duban import` of the organisation and the catalogue (the
sample files shipped in the repository), a user added, then the API started as `duban up`
starts it. A phone that knows its GPS but no unit code reports, and the finding is routed by
the boundary that holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli.up import api_argv
from services.core.demo.service import DATA, FILES
from services.core.platform.settings import Settings
from tests.helpers import Servers, body, running_api
from tests.webhook_receiver import free_port

DUBAN = str(Path(sys.executable).parent / "duban")
COMMAND_WITHIN = 120.0


@pytest.mark.slow(seconds=100)
def test_a_city_without_the_demo_routes_a_report_by_location(
    servers: Servers, tmp_path: Path
) -> None:
    url = servers.pg.create_database(f"city_{uuid.uuid4().hex[:12]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": url,
        "DUBAN_REDIS_URL": servers.redis.url,
        "DUBAN_DATA_DIR": str(tmp_path),
        "DUBAN_JWT_SECRET": "into-service-secret-key-that-is-long-enough-for-hs256",
        "DUBAN_LOG_FORMAT": "json",
        "DUBAN_DB_POOL_SIZE": "2",
    }

    def duban(*argv: str, stdin: str = "") -> str:
        done = subprocess.run(
            [DUBAN, *argv], env=env, input=stdin, capture_output=True, text=True,
            timeout=COMMAND_WITHIN, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, f"duban {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    duban("migrate")
    duban("init", "--city", "qingdao", "--name", "青岛市", "--admin", "ops-admin",
          "--password-stdin", stdin="ops admin password\n")  # fmt: skip
    for kind, name in FILES:
        out = duban("import", kind, str(DATA / name))
        assert "error" not in out
    duban("user", "add", "field.1", "--role", "inspector", "--unit", "wenmingban",
          "--password-stdin", stdin="field one password\n")  # fmt: skip
    users = duban("user", "list")
    # The admin and the inspector, and none of the demo's accounts.
    assert [line.split()[0] for line in users.splitlines()[1:]] == ["field.1", "ops-admin"]

    argv = api_argv(Settings(api_host="127.0.0.1", api_port=free_port(), log_level="WARNING"))
    with running_api(argv, env, tmp_path / "api.log") as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "field.1", "password": "field one password"},
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def report(lat: float, lon: float) -> dict[str, Any]:
            b = body(location={"lat": lat, "lon": lon})
            del b["unit"]  # the phone knows where it is, not the street's code
            r = httpx.post(f"{base}/api/v1/findings", json=b, headers=headers)
            assert r.status_code == 201, r.text
            data: dict[str, Any] = r.json()
            return data

        # 居庸关路, inside 八大关街道's boundary
        routed = report(36.0571, 120.3466)
        assert routed["status"] == "assigned"
        assert routed["responsible_unit"]["code"] == "shinan.badaguan"
        assert routed["due_at"] is not None

        # Out at sea: the dispatch queue, and the trail says why.
        queued = report(35.5, 121.5)
        assert (queued["status"], queued["responsible_unit"]) == ("reported", None)
        events = httpx.get(f"{base}/api/v1/findings/{queued['id']}/events", headers=headers)
        first = events.json()["items"][0]
        assert first["payload"]["located"] == {"reason": "outside_every_boundary"}

        demo = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "admin", "password": "pw-admin"}
        )
        assert demo.status_code == 401
