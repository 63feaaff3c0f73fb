"""Liveness, readiness and metrics (root paths, no authentication)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.core.calendar.rules import official_coverage

from ..deps import State

router = APIRouter(tags=["operations"])


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
        503: {
            "description": "a dependency does not answer; `checks` says which",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def readyz(state: State) -> JSONResponse:
    """Ready to serve: PostgreSQL and Redis answer. The calendar gap is reported but does
    not make the service unready: deadlines fall back to Monday–Friday and say so."""

    async def db() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    database, redis = await asyncio.gather(_check(db()), _check(state.redis.ping()))
    today = datetime.now(ZoneInfo(state.settings.timezone)).date()
    calendar = official_coverage(today)
    ok = database["ok"] and redis["ok"]
    body = {
        "status": "ready" if ok else "unready",
        "checks": {"postgresql": database, "redis": redis, "calendar": calendar},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
