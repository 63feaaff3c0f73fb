"""ASGI middleware: request id and access log, metrics, body-size limit, JSON-only bodies,
security headers (services/api/headers.py)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.core.platform.settings import Settings

from . import headers, json_depth, text_guard
from .problems import problem_body

log = structlog.get_logger("duban.api")

# Endpoints that take a form or an upload rather than JSON.
_FORM_SUFFIXES = ("/auth/token", "/evidence", "/photos", "/attachments")
API_PREFIX = "/api/v1"
# Photo uploads: a finding's evidence, an inspection's photos, a step's attachments.
PHOTO_SUFFIXES = ("/evidence", "/photos", "/attachments")
# Import files (multipart uploads): their own limit, DUBAN_IMPORT_MAX_BYTES.
IMPORTS_PREFIX = API_PREFIX + "/imports/"
UI_ACKNOWLEDGE = ("/ui/escalations/", "/acknowledge")
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Multipart framing around an uploaded photo (boundaries, part headers, the `kind` field).
UPLOAD_ENVELOPE_BYTES = 64 * 1024


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_FORM = "application/x-www-form-urlencoded"


def _media_type(scope: Scope) -> str:
    return (_header(scope, b"content-type") or "").split(";")[0].strip().lower()


def _unstorable(field: str) -> str:
    return f"The request is not valid: check {field}."


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


# (status, detail, the field at fault if there is one, what is wrong with it)
_Refusal = tuple[int, str, str | None, str]


async def _send_problem(
    send: Send,
    status: int,
    detail: str,
    field: str | None,
    message: str,
    *,
    request_id: str,
    path: str,
) -> None:
    errors = [{"field": field, "message": message}] if field else None
    kind = "validation" if status == 422 else None
    document = problem_body(status, detail, kind=kind, errors=errors)
    body = json.dumps(document, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers.add(
                [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
                path,
            ),
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, max_upload: int, max_import: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.max_import = max_import

    def _limit(self, method: str, path: str) -> int:
        """Photo uploads get the evidence limit, import files the import limit; every other
        body the JSON limit."""
        if method == "POST" and path.startswith(API_PREFIX) and path.endswith(PHOTO_SUFFIXES):
            return self.max_upload + UPLOAD_ENVELOPE_BYTES
        if method == "POST" and path.startswith(IMPORTS_PREFIX):
            return self.max_import + UPLOAD_ENVELOPE_BYTES
        if (
            method == "POST"
            and path.startswith(UI_ACKNOWLEDGE[0])
            and path.endswith(UI_ACKNOWLEDGE[1])
        ):
            # The dashboard's 批示 form may carry a file, as the API's upload does.
            return self.max_upload + UPLOAD_ENVELOPE_BYTES
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        request_id = request_id[:64]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}
        method: str = scope["method"]
        path: str = scope["path"]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                sent = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message["headers"] = headers.add(sent, path)
            await send(message)

        try:
            refusal = self._refuse(scope, method, path)
            if refusal is None:
                receive, refusal = await self._screen(scope, receive, method, path)
            if refusal is not None:
                status_holder["status"] = refusal[0]
                await _send_problem(send, *refusal, request_id=request_id, path=path)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # The template ("/api/v1/findings/{finding_id}"), never the raw path: bounded
            # labels. Included routers keep their own relative path; add the API prefix back.
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            if template is None:
                route_name = "unmatched"
            elif path.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
                route_name = API_PREFIX + template
            else:
                route_name = template
            status = status_holder["status"]
            HTTP_REQUESTS.labels(method, route_name, str(status)).inc()
            HTTP_LATENCY.labels(method, route_name).observe(elapsed)
            # Health checks and scrapes come every few seconds: DEBUG unless they fail.
            quiet = path in PROBE_PATHS and status < 500
            (log.debug if quiet else log.info)(
                "request",
                method=method,
                path=path,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    async def _screen(
        self, scope: Scope, receive: Receive, method: str, path: str
    ) -> tuple[Receive, _Refusal | None]:
        """Refuse text PostgreSQL cannot store, and bodies over the limit, before any endpoint
        runs. Returns the receive channel to use from here on (the body is replayed)."""
        # Path parameters are typed (ids, UUIDs, dates, patterned codes): their own 422.
        bad = text_guard.in_pairs(scope.get("query_string", b""))
        if bad is not None:
            return receive, (422, _unstorable(bad), bad, text_guard.MESSAGE)
        ctype = _media_type(scope)
        text_body = ctype in ("application/json", _FORM) or ctype.endswith("+json")
        if method not in _BODY_METHODS or not (
            text_body or _header(scope, b"content-length") is None
        ):
            return receive, None
        # No declared length (chunked): read up to the limit here, so an oversized body is
        # refused with 413 before any endpoint starts parsing it. A text body is read here
        # anyway, to look for what PostgreSQL cannot store.
        limit = self._limit(method, path)
        buffered = await self._read_limited(receive, limit)
        if buffered is None:
            return receive, (413, self._too_large(limit), None, "")
        if ctype != _FORM and text_body and json_depth.deeper_than(buffered):
            return receive, (400, json_depth.MESSAGE, "body", json_depth.MESSAGE)
        if text_body:
            bad = (text_guard.in_pairs if ctype == _FORM else text_guard.in_json)(buffered)
            if bad is not None:
                return receive, (422, _unstorable(bad), bad, text_guard.MESSAGE)
        return _replay(buffered, receive), None

    async def _read_limited(self, receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"The request body is larger than the limit of {limit} bytes."

    def _refuse(self, scope: Scope, method: str, path: str) -> _Refusal | None:
        length = _header(scope, b"content-length")
        limit = self._limit(method, path)
        if length is not None and length.isdigit() and int(length) > limit:
            return 413, self._too_large(limit), None, ""
        if method in _BODY_METHODS and path.startswith("/api/"):
            ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            has_body = (length is not None and length != "0") or _header(
                scope, b"transfer-encoding"
            ) is not None
            is_form = path.endswith(_FORM_SUFFIXES) or path.startswith(IMPORTS_PREFIX)
            json_ok = ctype == "application/json" or ctype.endswith("+json")
            if has_body and not is_form and not json_ok:
                detail = f"Send the body as application/json (got {ctype or 'no type'})."
                return 415, detail, None, ""
        return None


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        RequestMiddleware,
        max_body=settings.max_body_bytes,
        max_upload=settings.evidence_max_bytes,
        max_import=settings.import_max_bytes,
    )
