"""Text PostgreSQL cannot store — the NUL character and unpaired UTF-16 surrogates — found in
a request's query or body before any endpoint runs, so it is refused as a 422 naming
the field instead of failing in the database driver as a 500."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In JSON such characters can only arrive as \u escapes: a body without one is fine
# without parsing it (the common case, on the ingest path).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")

MESSAGE = "Text must not contain NUL characters or unpaired surrogates."


def _bad(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def _shown(name: str) -> str:
    """A name fit to echo back in the problem document."""
    return _UNSTORABLE.sub("\ufffd", name)


def _walk(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return _shown(path or "body") if _bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if _bad(key):
                return _shown(inner)
            found = _walk(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def in_pairs(encoded: bytes) -> str | None:
    """The first name in a query string or urlencoded form whose name or value is unstorable."""
    if b"%00" not in encoded and b"\x00" not in encoded:
        return None
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if _bad(name) or _bad(value):
            return _shown(name)
    return None


def in_json(body: bytes) -> str | None:
    """The path (`location.address`, `findings[3].description`) of the first unstorable
    string, key or value, in a JSON body; None when there is none or it is not JSON (the
    endpoint's own parser answers that)."""
    if _SUSPECT_ESCAPE.search(body) is None:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return _walk(document, "")
