"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.platform.db import DRIVER_CONNECTION_ERRORS, database_unreachable
from services.core.platform.errors import DomainError, InvalidInput

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://duban.example/problems/"


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Sequence[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _slug(status)
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors or [])
        self.headers = headers


def _slug(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def problem_body(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[dict[str, str]] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or _slug(status)),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    if instance:
        body["instance"] = instance
    return body


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, **kw),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "location", "lat")` → `location.lat`; list indexes as `findings[3]`."""
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header", "form") and not parts:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "body"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    out = []
    for err in errors:
        loc = err.get("loc", ())
        # pydantic adds the union/validator name as a trailing location; keep it readable
        out.append({"field": field_path(loc), "message": str(err.get("msg", "invalid"))})
    return out


def problem_from(exc: DomainError) -> Problem:
    """The problem document for a refusal of the domain, naming the field at fault."""
    if isinstance(exc, InvalidInput):
        fields = [{"field": field, "message": message} for field, message in exc.errors]
        return Problem(422, exc.message, kind="validation", errors=fields)
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
    headers = {"Retry-After": "5"} if exc.status == 503 else None
    return Problem(exc.status, exc.message, errors=errors, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            kind=exc.kind,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        p = problem_from(exc)
        return problem_response(p.status, p.detail, kind=p.kind, errors=p.errors, headers=p.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422, f"The request is not valid: check {fields}.", kind="validation", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(OSError)
    @app.exception_handler(RedisConnectionError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A dependency is down: say so and invite a retry; nothing was committed.
        structlog.get_logger("duban.api").warning(
            "dependency_unavailable",
            path=request.url.path,
            # the module too: asyncio's and SQLAlchemy's pool's timeouts share a name
            error=f"{type(exc).__module__}.{type(exc).__qualname__}",
        )
        return problem_response(
            503,
            "The service is temporarily unavailable; retry shortly with the same request.",
            headers={"Retry-After": "5"},
        )

    # A handler of its own, rather than the catch-all below: Starlette re-raises whatever
    # reaches the catch-all after answering, and uvicorn then closes the client's keep-alive
    # connection, which a client about to reuse it sees as a dropped request.
    for driver_error in DRIVER_CONNECTION_ERRORS:
        app.add_exception_handler(driver_error, _unavailable)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # asyncpg's "connection was closed in the middle of operation" (the server shut down
        # under a request, or refused it while starting up) arrives as a bare DBAPIError.
        if database_unreachable(exc):
            return await _unavailable(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A lost connection under another error (raised while handling it, say).
        if database_unreachable(exc):
            return await _unavailable(request, exc)
        # The trace goes to the log (with the request id), never to the client.
        structlog.get_logger("duban.api").exception("unhandled_error", path=request.url.path)
        return problem_response(500, "An unexpected error occurred; it has been logged.")
