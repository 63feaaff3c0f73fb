"""Cursor pagination shared by every list endpoint (DESIGN §7: ?limit=, ?cursor=).

A cursor is opaque to clients: base64url of a JSON list holding the sort key of the last
row of the previous page. Endpoints choose their own sort key, a `CursorKey` of the same
bounded types every other input has (services/api/schemas/wire.py), so a key no list issues
(an id past its column, a timestamp past the years) is a 422 naming `cursor`, never a value
PostgreSQL or Python's datetime cannot hold.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, Query
from pydantic import TypeAdapter, ValidationError

from .problems import Problem
from .schemas.wire import Id

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

K = TypeVar("K")


class CursorKey(Generic[K]):
    """The sort key a list writes into its cursors, one type per element of the list:
    `CursorKey[tuple[datetime, uuid.UUID]](Timestamp, uuid.UUID)`. A key of one element
    reads back as that element (`CursorKey[int](Id)`)."""

    def __init__(self, *elements: Any) -> None:
        self._adapter: TypeAdapter[tuple[Any, ...]] = TypeAdapter(cast(Any, tuple)[elements])
        self._single = len(elements) == 1

    def parse(self, raw: bytes) -> K:
        """The key in the JSON text `raw`; ValueError when it is not one this list issues.
        Strict: `[1.0]`, `[true]` and `["1"]` are not ids."""
        value = self._adapter.validate_json(raw, strict=True)
        return cast(K, value[0] if self._single else value)


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key: CursorKey[K]) -> K:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return key.parse(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValidationError, ValueError) as exc:
        raise _bad_cursor() from exc


def _bad_cursor() -> Problem:
    return Problem(
        422,
        "The cursor is not valid: pass next_cursor from the previous page unchanged.",
        kind="validation",
        errors=[{"field": "cursor", "message": "not a cursor issued by this list"}],
    )


class Page:
    """`?limit=&cursor=` of a list request; endpoints take it as `page: PageDep`."""

    def __init__(self, limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self, key: CursorKey[K]) -> K | None:
        """The decoded sort key, or None on the first page; a malformed key is a 422."""
        if self.cursor is None:
            return None
        return decode_cursor(self.cursor, key)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    # A sync's cursor holds two database snapshots (services/api/sync.py): room for them.
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page:
    # A coroutine, not the class itself: FastAPI would run a class (a sync callable) in the
    # thread pool on every list request.
    return Page(limit, cursor)


PageDep = Annotated[Page, Depends(page_params)]

# A cursor written as `[id]` (keyset by an id of an integer column).
id_key = CursorKey[int](Id)


R = TypeVar("R")


def split_page(
    rows: Sequence[R], limit: int, key: Callable[[R], list[Any]]
) -> tuple[list[R], str | None]:
    """Rows fetched with LIMIT limit + 1 → (this page, cursor of the next page or None), so a
    client never follows a cursor to an empty page."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(key(page[-1]))
