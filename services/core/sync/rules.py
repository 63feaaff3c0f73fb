"""Sync tokens (what a phone sends as `updated_since`) and the window of changes they name.
Pure: no I/O.

Every synced row carries the id of the transaction that last wrote it (`change_xid`, set by a
trigger, migration 0026). A token holds a PostgreSQL snapshot (`pg_current_snapshot()`):
which transactions had committed when the phone last read. The changes since are exactly the
rows whose writer is not visible in that snapshot, and which are visible in the snapshot the
current sync reads up to (`bound`), whatever order the writers committed in: a transaction
that began before the last read and commits after it is invisible in the old snapshot, so it
is sent next time. A timestamp (`changed_at >= t`) starts a first sync; it cannot see commit
order, so a phone keeps the token it is given from then on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PREFIX = "s1."
_SNAPSHOT = re.compile(r"^(\d{1,19}):(\d{1,19}):((?:\d{1,19})(?:,\d{1,19})*)?$")
MAX_XID = 2**63 - 1


class BadToken(ValueError):
    """Not a token a sync issued."""


@dataclass(frozen=True)
class Snapshot:
    """A PostgreSQL snapshot: transactions below xmin are done, from xmax on not yet begun,
    those in xip were in progress."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(str(x) for x in self.xip)}"

    def sees(self, xid: int) -> bool:
        """Whether the transaction `xid` had committed (or aborted) in this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)


def parse_snapshot(text: str) -> Snapshot:
    """A snapshot in PostgreSQL's text form, checked as PostgreSQL would check it, so a token
    that reaches the database never makes it fail."""
    match = _SNAPSHOT.fullmatch(text)
    if match is None:
        raise BadToken("not a snapshot")
    xmin, xmax = int(match[1]), int(match[2])
    xip = tuple(int(x) for x in match[3].split(",")) if match[3] else ()
    if not 1 <= xmin <= xmax <= MAX_XID:
        raise BadToken("snapshot bounds out of order")
    if any(not xmin <= x < xmax for x in xip) or list(xip) != sorted(set(xip)):
        raise BadToken("snapshot in-progress list out of order")
    return Snapshot(xmin, xmax, xip)


# Where a page of a sync stopped: the phase (0 changed rows, 1 rows that left the caller's
# scope) and the (change_xid, id) of its last row.
Position = tuple[int, int, str]


@dataclass(frozen=True)
class Token:
    """`since`: the snapshot (or, for a first sync, the time) the changes are counted from;
    `bound`: the snapshot this sync reads up to (None until its first page); `at`: where the
    previous page stopped."""

    since: Snapshot | datetime
    bound: Snapshot | None = None
    at: Position | None = None

    def encode(self) -> str:
        since = str(self.since) if isinstance(self.since, Snapshot) else self.since.isoformat()
        body: dict[str, Any] = {"s": since}
        if self.bound is not None:
            body["b"] = str(self.bound)
        if self.at is not None:
            body["a"] = list(self.at)
        raw = json.dumps(body, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def next_sync(self) -> Token:
        """The token of the next sync, once every page of this one is read."""
        assert self.bound is not None  # noqa: S101 - only a started sync ends
        return Token(self.bound)


def decode(token: str) -> Token:
    if not token.startswith(PREFIX):
        raise BadToken("not a sync token")
    try:
        raw = token[len(PREFIX) :]
        body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise BadToken("not a sync token") from exc
    if not isinstance(body, dict) or not isinstance(body.get("s"), str):
        raise BadToken("not a sync token")
    since = _since(body["s"])
    bound = parse_snapshot(body["b"]) if isinstance(body.get("b"), str) else None
    at = _position(body.get("a")) if bound is not None else None
    return Token(since, bound, at)


def _since(text: str) -> Snapshot | datetime:
    if _SNAPSHOT.fullmatch(text):
        return parse_snapshot(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadToken("not a sync token") from exc
    if when.tzinfo is None or not 2000 <= when.year <= 2100:
        raise BadToken("not a sync token")
    return when


def _position(value: object) -> Position | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 3
        and value[0] in (0, 1)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 <= value[1] <= MAX_XID
        and isinstance(value[2], str)
        and len(value[2]) <= 64
    ):
        return (value[0], value[1], value[2])
    raise BadToken("not a sync position")
