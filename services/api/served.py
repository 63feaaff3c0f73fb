"""Operations served without FastAPI's per-request machinery.

FastAPI solves an operation's dependency graph, decodes and validates its body, and
validates and encodes its response on every request. For POST /findings, the busiest
operation by far, that cost about a sixth of the API's CPU per report (bench/ANALYSIS.md §9).
A `Served` route is declared and documented like any other, but its endpoint takes the
`Request` and returns the `Response` itself, calling the same plain functions the
dependencies wrap (services/api/deps.py). What the document cannot learn from such an
endpoint's signature, its body and the security scheme it authenticates with, it declares
with `json_body`; `install` adds the body's schema to the document's components.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

_SCHEMAS = "#/components/schemas/"
_BODY_MODELS: list[type[BaseModel]] = []


class Served(APIRoute):
    """A route whose endpoint is its own handler: `async (Request) -> Response`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return cast(Callable[[Request], Coroutine[Any, Any, Response]], self.endpoint)


def json_body(model: type[BaseModel], scheme: SecurityBase) -> dict[str, Any]:
    """The `openapi_extra` of an operation whose JSON body is `model` and whose caller
    authenticates with `scheme` (the one the other operations get as a dependency)."""
    _BODY_MODELS.append(model)
    schema = {"$ref": _SCHEMAS + model.__name__}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "security": [{scheme.scheme_name: []}],
    }


async def json_of(request: Request) -> Any:
    """The decoded JSON body, refused as FastAPI refuses it: a body that is not JSON is a
    validation problem at its position, one that is not text at all a 400 (the middleware
    has already refused other media types and oversized bodies). An empty body is `None`,
    which no model accepts."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, UTF-16 or UTF-32; or too deep
        # The middleware refuses bodies nested too deep (services/api/json_depth.py) before
        # this runs; a route served without it still answers 400 as FastAPI's reader does.
        raise HTTPException(400, "There was an error parsing the body") from exc


def validated(model: type[Model], body: Any) -> Model:
    """`body` as `model`, or the validation problem FastAPI would give, each error at its
    place in the body."""
    if body is None:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors, body=body) from exc


def install(app: FastAPI) -> None:
    """Add the schemas of the served operations' bodies to the generated document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for model in _BODY_MODELS:
                # Encoded as FastAPI encodes the document it generates: no null defaults.
                schema = jsonable_encoder(
                    model.model_json_schema(ref_template=_SCHEMAS + "{model}"), exclude_none=True
                )
                for name, nested in schema.pop("$defs", {}).items():
                    components.setdefault(name, nested)
                components.setdefault(model.__name__, schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
