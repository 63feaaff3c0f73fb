"""Operations: liveness, readiness, metrics, structured logs without secrets."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from services.api.app import create_app
from services.api.routes import health
from services.cli.embedded import EmbeddedRedis
from services.core.platform.settings import Settings
from tests.helpers import Login, body


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://duban.test") as client:
        yield client


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


@pytest.mark.parametrize(
    ("today", "status", "fallback"),
    [(date(2025, 6, 1), "ready", []), (date(2026, 6, 1), "degraded", [2027])],
)
async def test_readyz_is_degraded_but_200_while_only_the_calendar_falls_back(
    client: AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    today: date,
    status: str,
    fallback: list[int],
) -> None:
    """The official data (chinesecalendar) ends with 2026: from a day in 2026 on, next year's
    deadlines use the Monday–Friday fallback."""
    monkeypatch.setattr(health, "city_today", lambda _zone: today)
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == status
    assert r.json()["checks"]["calendar"]["fallback_years"] == fallback


async def test_readyz_answers_503_when_redis_stops(settings: Settings, server_tmp: Path) -> None:
    redis = EmbeddedRedis(server_tmp, persistent=False)
    app = create_app(settings.model_copy(update={"redis_url": redis.start()}))
    try:
        async with app.router.lifespan_context(app), _client(app) as client:
            assert (await client.get("/readyz")).json()["checks"]["redis"]["ok"] is True
            redis.stop()
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["status"] == "unready"
            assert r.json()["checks"]["redis"]["ok"] is False
            assert r.json()["checks"]["postgresql"]["ok"] is True
    finally:
        redis.stop()


async def test_readyz_answers_503_when_postgresql_does_not_answer(settings: Settings) -> None:
    with socket.socket() as s:  # a port nobody listens on: a stopped server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = f"postgresql://duban:x@127.0.0.1:{port}/duban"
    app = create_app(settings.model_copy(update={"database_url": down}))
    async with app.router.lifespan_context(app), _client(app) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unready"
    assert r.json()["checks"]["postgresql"]["ok"] is False
    assert r.json()["checks"]["redis"]["ok"] is True


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": SecretStr("m" * 32)}])
async def test_metrics_require_the_token_when_one_is_set(client: AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "m" * 32}):
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "duban_http_requests_total" not in r.text
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {'m' * 32}"})
    assert r.status_code == 200
    assert "duban_http_requests_total" in r.text
