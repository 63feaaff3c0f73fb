"""A JSON body read and validated by the endpoint itself, as FastAPI would: for an operation
whose endpoint takes only the `Request` (POST /findings), so that no dependency graph is
solved on the busiest path (bench/ANALYSIS.md §25). The route stays an ordinary APIRoute;
what the document cannot learn from such an endpoint's signature (its body and the scheme
it authenticates with), it declares with `documented`, and `add_bodies` puts the body's
schema among the document's components.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

_SCHEMAS = "#/components/schemas/"
_BODY_MODELS: list[type[BaseModel]] = []


def documented(model: type[BaseModel], scheme: SecurityBase) -> dict[str, Any]:
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
    has already refused other media types, oversized bodies and bodies nested too deep). An
    empty body is `None`, which no model accepts."""
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


def add_bodies(components: dict[str, Any]) -> None:
    """Add the schemas of the bodies `documented` declared to a document's components
    (problem_schema.install calls it from the app's one document hook)."""
    for model in _BODY_MODELS:
        # Encoded as FastAPI encodes the document it generates: no null defaults.
        schema = jsonable_encoder(
            model.model_json_schema(ref_template=_SCHEMAS + "{model}"), exclude_none=True
        )
        for name, nested in schema.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components.setdefault(model.__name__, schema)
