"""Operations: liveness, readiness, metrics, structured logs without secrets."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient

from tests.helpers import Login, body


async def test_healthz_and_readyz(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert checks["postgresql"]["ok"] is True
    assert checks["redis"]["ok"] is True
    assert "official_years" in checks["calendar"]


async def test_metrics_count_requests_and_findings(client: AsyncClient, login: Login) -> None:
    def sample(text: str, prefix: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )

    before = (await client.get("/metrics")).text
    await client.post("/api/v1/findings", json=body(), headers=await login("inspector"))
    after = (await client.get("/metrics")).text
    created = 'duban_findings_intake_total{outcome="created",source="inspection"}'
    assert sample(after, created) == sample(before, created) + 1
    assert 'duban_http_requests_total{method="POST",route="/api/v1/findings",status="201"}' in after


async def test_logs_are_json_with_request_id_and_no_password(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.core.platform import logging as duban_logging

    duban_logging.configure("INFO", "json")
    try:
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": "admin", "password": "pw-admin"},
            headers={"X-Request-ID": "req-123"},
        )
        assert r.headers["x-request-id"] == "req-123"
        err = capsys.readouterr().err
    finally:
        duban_logging.configure("WARNING", "console")
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines
    assert request_lines[-1]["request_id"] == "req-123"
    assert request_lines[-1]["status"] == 200
    assert "pw-admin" not in err
    assert r.json()["access_token"] not in err
