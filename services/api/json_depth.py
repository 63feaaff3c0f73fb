"""How deeply a JSON body nests, measured on its bytes before anything parses it.

Python's JSON decoder recurses once per level: a body of ten thousand brackets fits in a few
kilobytes and ends in a RecursionError wherever it is parsed. The request middleware refuses
bodies deeper than `MAX_DEPTH` with a 400 before any parser sees them, for every route at
once; no body the API takes comes near the limit.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64
MESSAGE = f"JSON must not nest deeper than {MAX_DEPTH} arrays and objects."
# A string (whose brackets do not count) or a bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def deeper_than(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest more than `limit` deep in the JSON text `body`."""
    # Nothing nests deeper than it has opening brackets: a report costs two counts.
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(body):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False
