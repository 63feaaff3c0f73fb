"""Keyset pages: a list ordered by one unique column, continued after the last key seen.

Every list the API serves pages this way (`?cursor=` carries the key), so a page costs the
same wherever it starts and a row added meanwhile never shifts the next page.
"""

from __future__ import annotations

from typing import Any, TypeVarTuple

from sqlalchemy import Select

Ts = TypeVarTuple("Ts")


def keyset(stmt: Select[*Ts], column: Any, after: Any | None, limit: int) -> Select[*Ts]:
    """`stmt` from the row after `after` (None: from the first), `limit` rows at most, in
    the order of `column`. The API asks for one row more than it shows, to know if a next
    page exists."""
    if after is not None:
        stmt = stmt.where(column > after)
    return stmt.order_by(column).limit(limit)
