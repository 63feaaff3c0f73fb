"""Cursor pagination shared by every list endpoint (DESIGN §7: ?limit=, ?cursor=).

A cursor is opaque to clients: base64url of a JSON list holding the sort key of the last
row of the previous page. Endpoints choose their own sort key; `Page.after` decodes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from .problems import Problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

K = TypeVar("K")


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(value, list):
        raise _bad_cursor()
    return value


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

    def after(self, parse: Callable[[list[Any]], K]) -> K | None:
        """The decoded sort key, or None on the first page; a malformed key is a 422."""
        if self.cursor is None:
            return None
        key = decode_cursor(self.cursor)
        try:
            return parse(key)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise _bad_cursor() from exc


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page:
    # A coroutine, not the class itself: FastAPI would run a class (a sync callable) in the
    # thread pool on every list request.
    return Page(limit, cursor)


PageDep = Annotated[Page, Depends(page_params)]


def id_key(key: list[Any]) -> int:
    """Parse a cursor written as `[id]` (keyset by a 32-bit integer id)."""
    (value,) = key
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise ValueError("not an id")
    return value


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
