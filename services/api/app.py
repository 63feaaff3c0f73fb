"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.core.platform import logging as duban_logging
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.keys import jwt_secret
from services.core.platform.queue import lazy_queue
from services.core.platform.settings import Settings, get_settings
from services.core.platform.stack import endpoints

from . import docs, middleware, notice, problem_schema, problems, proxies
from .middleware import API_PREFIX
from .routes import (
    accountability,
    assessment,
    attachments,
    audit,
    auth,
    briefings,
    calendar,
    calendar_overrides,
    categories,
    commitments,
    contact_points,
    coverage,
    criteria,
    escalations,
    evidence,
    exposure_videos,
    findings,
    health,
    imports,
    inbox,
    inspection_plans,
    inspections,
    notifications,
    people,
    points,
    policies,
    posts,
    routing_rules,
    stats,
    units,
)
from .routes import (
    app as phone_app,
)
from .state import AppState
from .ui import dashboard


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    duban_logging.configure(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        urls = endpoints(settings)
        engine = make_engine(urls.database_url, pool_size=settings.db_pool_size)
        redis = lazy_queue(urls.redis_url)
        app.state.duban = AppState(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            redis=redis,
            jwt_secret=jwt_secret(settings),
        )
        try:
            yield
        finally:
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="duban 督办",
        version="1.0",
        summary="Findings and escalation service for the civilized-city campaign.",
        lifespan=lifespan,
        # Served by services/api/docs.py from files shipped with duban, not from a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=docs.OAUTH2_REDIRECT_URL,
    )
    problems.install(app)
    problem_schema.install(app)
    middleware.install(app, settings)
    proxies.install(app, settings)
    app.include_router(health.router)
    docs.install(app)
    # Starlette tries the routes in order: the phone's hot writes (a report, a visit) first.
    for module in (
        findings,
        inspections,
        auth,
        calendar,
        units,
        people,
        posts,
        categories,
        routing_rules,
        contact_points,
        escalations,
        stats,
        policies,
        calendar_overrides,
        inbox,
        notifications,
        exposure_videos,
        evidence,
        briefings,
        imports,
        phone_app,
        points,
        criteria,
        inspection_plans,
        coverage,
        assessment,
        commitments,
        accountability,
        audit,
        attachments,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=problem_schema.API_ERRORS)
    dashboard.install(app)  # the web dashboard at /ui (services/api/ui)
    app.include_router(notice.router)  # the page every message links to (/n/<token>)
    return app
