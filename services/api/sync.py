"""`updated_since` on the lists a phone keeps (findings, inspection tasks, inspections): an
RFC 3339 time for a first sync, then the `sync_cursor` the last sync answered with
(services/core/sync/rules.py). Either is a 422 naming the field when it is not one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import TypeAdapter, ValidationError

from services.core.sync.rules import PREFIX, BadToken, Token, decode

from .problems import Problem
from .schemas.wire import Timestamp

UpdatedSince = Annotated[
    str | None,
    Query(
        max_length=4096,
        description="a time (RFC 3339) for a first sync, then the sync_cursor of the last "
        "sync: only what changed since, and what to remove",
    ),
]
_TIME: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def _invalid(field: str, message: str) -> Problem:
    return Problem(422, message, kind="validation", errors=[{"field": field, "message": message}])


def sync_token(updated_since: str, cursor: str | None) -> Token:
    """Where the sync starts (`updated_since`) or goes on (`cursor`, a page's next_cursor)."""
    if cursor is not None:
        try:
            return decode(cursor)
        except BadToken as exc:
            raise _invalid("cursor", "not a next_cursor this sync issued") from exc
    if updated_since.startswith(PREFIX):
        try:
            token = decode(updated_since)
        except BadToken as exc:
            raise _invalid("updated_since", "not a sync_cursor a sync issued") from exc
        return Token(token.since)
    try:
        return Token(_TIME.validate_python(updated_since))
    except ValidationError as exc:
        raise _invalid(
            "updated_since", "an RFC 3339 time with an offset, or a sync_cursor"
        ) from exc
