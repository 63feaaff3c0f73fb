"""Liveness, readiness and metrics (root paths; /metrics may require a token)."""

from __future__ import annotations

import asyncio
import hmac
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.core.calendar.rules import official_coverage

from ..deps import State
from ..problems import Problem

router = APIRouter(tags=["operations"])


def city_today(zone: str) -> date:
    """Today in the city (the calendar check asks about this year and the next)."""
    return datetime.now(ZoneInfo(zone)).date()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive. Says nothing about its dependencies."""
    return {"status": "ok"}


async def _check(coro: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout=2)
    except Exception as exc:  # any failure makes the service unready; say which
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


@router.get(
    "/readyz",
    responses={
        200: {
            "description": "`status` is `ready`, or `degraded` when only the working-day "
            "calendar is on its Monday–Friday fallback for this year or the next",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        503: {
            "description": "a dependency does not answer; `checks` says which",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def readyz(state: State) -> JSONResponse:
    """Ready to serve: PostgreSQL and Redis answer (503 `unready` when either does not, so a
    monitor needs no body to tell). The calendar's gap does not make the service unready:
    deadlines fall back to Monday–Friday and say so; it answers 200 `degraded` then."""

    async def db() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    database, redis = await asyncio.gather(_check(db()), _check(state.redis.ping()))
    calendar = official_coverage(city_today(state.settings.timezone))
    if not (database["ok"] and redis["ok"]):
        status, code = "unready", 503
    else:
        status, code = ("ready" if calendar["ok"] else "degraded"), 200
    body = {
        "status": status,
        "checks": {"postgresql": database, "redis": redis, "calendar": calendar},
    }
    return JSONResponse(body, status_code=code)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus. With DUBAN_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = state.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "").encode()
        expected = f"Bearer {token.get_secret_value()}".encode()
        if not hmac.compare_digest(given, expected):
            raise Problem(
                401,
                "The metrics need the monitoring token (Authorization: Bearer …).",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
