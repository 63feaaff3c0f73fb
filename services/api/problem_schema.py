"""The problem document in the OpenAPI description: one `Problem` schema, declared for every
error status an /api/v1 operation can answer, so a client (and the fuzzer) can rely on the
document for every answer, not only the happy ones."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from . import raw_body
from .problems import PROBLEM_JSON

_REF = "#/components/schemas/Problem"


class FieldError(BaseModel):
    field: str = Field(description="the input at fault, e.g. `location.lat`, `findings[3].id`")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[FieldError] = Field(
        default_factory=list, description="one entry per invalid input (validation problems)"
    )
    instance: str | None = None


def problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": {"$ref": _REF}}}}


API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem("the body could not be decoded"),
    401: problem("no bearer token, or one that is invalid, expired or revoked"),
    403: problem("the caller's role may not do this"),
    404: problem("no such resource in the caller's scope"),
    409: problem("conflicts with the current state (version, identity, references)"),
    413: problem("the body is larger than the limit"),
    415: problem("the body is not of a media type the operation accepts"),
    422: problem("the request is not valid; `errors` names each field at fault"),
    429: problem("too many failed attempts; retry after `Retry-After` seconds"),
    503: problem("a dependency is down; retry after `Retry-After` seconds"),
}


def install(app: FastAPI) -> None:
    """Add the `Problem` schema to the generated document, and give every error response an
    operation declares by description only (a 413 of its own, say) the problem content; also
    the bodies of the operations that read their own (raw_body.documented)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            components["Problem"] = schema
            raw_body.add_bodies(components)
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        if status[0] in "45" and "content" not in response:
                            response["content"] = problem("")["content"]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
