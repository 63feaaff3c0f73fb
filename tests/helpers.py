"""Helpers shared by several test modules (and by the fuzzer's hooks, tests/fuzz_hooks.py)."""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# ---- values at the edges of what the API takes (tests/test_edges.py, tests/fuzz_hooks.py) ----

# Outside the years every timestamp, date and week must lie in (README, "Limits"); the first
# two overflow Python's datetime once converted to UTC or moved by a day.
TIMESTAMPS_OUT = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1999-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
)
# The extremes inside them: they must reach the logic and never fail it.
TIMESTAMPS_IN = ("2100-12-31T23:59:59-14:00", "2000-01-01T00:00:00+14:00")
DATES_OUT = ("0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01")
DATES_IN = ("2100-12-31", "2000-01-01")
WEEKS_OUT = ("0001-W01", "9999-W52", "1999-W52", "2101-W01")
WEEKS_IN = ("2100-W52", "2000-W01")
# Past 32 and 64 bits, and below every id.
HUGE_INTEGERS = (2**31, 2**63, 2**64, 10**30, -(2**63) - 1)


# The fuzzer sends the first few of each list (the lists put the most telling values first).
SAMPLE_OUT, SAMPLE_IN = 3, 1


def integers_out(minimum: int, maximum: int) -> list[int]:
    """Integers just outside [minimum, maximum] and far outside it."""
    far = [n for n in HUGE_INTEGERS if not minimum <= n <= maximum]
    return list(dict.fromkeys([maximum + 1, *far[1:], minimum - 1, *far]))


def cursor_of(text: str) -> str:
    """A cursor as the lists issue them: base64url of JSON text, unpadded."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def encode_cursor(key: list[Any]) -> str:
    return cursor_of(json.dumps(key, separators=(",", ":")))


_UUID = "0193b2c4-5f1e-7c3a-9a51-2d9b8f3e4a10"
# Keys no list issues: ids past 64 bits or below 1, timestamps and dates outside the years.
CURSORS_OUT = (
    *(
        encode_cursor(key)
        for key in (
            [TIMESTAMPS_OUT[0], _UUID],
            [TIMESTAMPS_OUT[1], 2**63],
            [2**64],
            [2**63],
            [10**30],
            [0],
            [-1],
            [TIMESTAMPS_OUT[1], _UUID],
            [TIMESTAMPS_OUT[0], 1],
            [DATES_OUT[0]],
            [DATES_OUT[1]],
        )
    ),
    cursor_of("[" * 190 + "]" * 190),  # as deep as fits in a cursor's 512 characters
)
# Keys at the extremes a list could issue.
CURSORS_IN = tuple(
    encode_cursor(key)
    for key in (
        [TIMESTAMPS_IN[0], 2**63 - 1],
        [TIMESTAMPS_IN[1], _UUID],
        [2**63 - 1],
        [2**31 - 1],
        [DATES_IN[0]],
        [DATES_IN[1]],
    )
)


def nested(depth: int, leaf: Any = 1) -> str:
    """JSON text nesting `depth` arrays and objects around `leaf`, built as text: the encoder
    itself would give up long before the depths worth sending."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + json.dumps(leaf) + closing


# ---- the inputs of the OpenAPI document that take such values ----


@dataclass(frozen=True)
class Edge:
    """One input of one operation that takes a timestamp, date, week, integer or cursor."""

    method: str
    path: str
    where: str  # path, query or body
    name: str  # as the problem names it: `observed_at`, `rectify_within.working_days`
    kind: str
    schema: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.where}:{self.name}"

    def values(self, inside: bool, *, sample: bool = False) -> list[Any]:
        """The values at the extremes inside the input's range, or past it; with `sample`,
        the first few only."""
        if self.kind == "integer":
            # An unbounded one is refused by the document's own test, and tried as int8 here.
            low = int(self.schema.get("minimum", 1))
            high = int(self.schema.get("maximum", 2**63 - 1))
            chosen: Sequence[Any] = [high, low] if inside else integers_out(low, high)
        else:
            table = {
                "timestamp": (TIMESTAMPS_IN, TIMESTAMPS_OUT),
                "date": (DATES_IN, DATES_OUT),
                "week": (WEEKS_IN, WEEKS_OUT),
                "cursor": (CURSORS_IN, CURSORS_OUT),
            }[self.kind]
            chosen = table[0] if inside else table[1]
        if sample:
            chosen = chosen[: SAMPLE_IN if inside else SAMPLE_OUT]
        return list(chosen)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return _resolve(document, branches[0])
    return schema


def _kind(name: str, schema: dict[str, Any]) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "cursor":
        return "cursor"
    if leaf == "week":
        return "week"
    if schema.get("format") == "date-time":
        return "timestamp"
    if schema.get("format") == "date":
        return "date"
    if schema.get("type") == "integer":
        return "integer"
    return None


def _body_fields(
    document: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    schema = _resolve(document, schema)
    if "properties" in schema:
        for name, sub in schema["properties"].items():
            yield from _body_fields(document, sub, f"{prefix}.{name}" if prefix else name)
    elif schema.get("type") == "array" and "items" in schema:
        yield from _body_fields(document, schema["items"], f"{prefix}[0]")
    elif prefix and _kind(prefix, schema) is not None:
        yield prefix, schema


def edges(document: dict[str, Any]) -> list[Edge]:
    """Every parameter and JSON body field of the OpenAPI `document` that takes a timestamp,
    date, ISO week, integer or cursor."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for p in operation.get("parameters", []):
                schema = _resolve(document, p["schema"])
                kind = _kind(p["name"], schema)
                if kind is not None:
                    found.append(Edge(method, path, p["in"], p["name"], kind, schema))
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for name, schema in _body_fields(document, content["application/json"]["schema"]):
                    kind = _kind(name, schema)
                    assert kind is not None
                    found.append(Edge(method, path, "body", name, kind, schema))
    return found


def put(body: dict[str, Any], name: str, value: Any) -> None:
    """Set `segments[0].location.lat` in `body`."""
    steps: list[str | int] = [
        int(s[1:-1]) if s.startswith("[") else s for s in re.findall(r"\[\d+\]|[^.\[\]]+", name)
    ]
    here: Any = body
    for step, following in itertools.pairwise(steps):
        if isinstance(step, int):
            here = here[step]
        else:
            here = here.setdefault(step, [{}] if isinstance(following, int) else {})
    here[steps[-1]] = value
