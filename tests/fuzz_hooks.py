"""Schemathesis hooks of tests/system/test_fuzz.py (named by its config file): explicit examples at
the edges of every timestamp, date, ISO week, integer and cursor the document describes, and a
JSON body nested ten thousand deep, added to each operation's examples phase.

Generation from the document rarely lands on `9999-12-31T23:59:59-14:00`, 2**63 or a deep
body, and those are the values that once answered 500. Each example varies one input of the
operation's first example (the config asks for one where the document has none), with the
values tests/integration/test_edges.py sends in-process.
"""

from __future__ import annotations

import copy
from typing import Any

import schemathesis

from tests.helpers import FAR_TOO_DEEP, Edge, edges, nested, put

_cache: dict[int, list[Edge]] = {}
# An integer parameter with the same name and bounds as one already tried (`limit` on every
# list, an id on GET, PATCH and DELETE) is validated by the same declaration: tried once.
_integers_seen: set[tuple[str, str, str]] = set()


def _edges_of(operation: Any) -> list[Edge]:
    document = operation.schema.raw_schema
    if id(document) not in _cache:
        _cache[id(document)] = edges(document)
    method = operation.method.lower()
    return [e for e in _cache[id(document)] if (e.method, e.path) == (method, operation.path)]


def _varied(operation: Any, base: Any, edge: Edge, value: Any) -> Any | None:
    path = dict(base.path_parameters or {})
    query = dict(base.query or {})
    body = copy.deepcopy(base.body) if isinstance(base.body, dict) else {}
    if edge.where == "path":
        path[edge.name] = value
    elif edge.where == "query":
        query[edge.name] = value
    else:
        try:
            put(body, edge.name, value)
        except (IndexError, KeyError, TypeError):  # the base has no room for it
            return None
    if edge.where != "body" and not isinstance(base.body, dict):
        return operation.Case(path_parameters=path, query=query)
    return operation.Case(path_parameters=path, query=query, body=body, media_type=base.media_type)


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    operation = context.operation
    if not examples:
        return
    base = examples[0]
    for edge in _edges_of(operation):
        if edge.kind == "integer" and edge.where != "body":
            same = (edge.where, edge.name, repr(sorted(edge.schema.items())))
            if same in _integers_seen:
                continue
            _integers_seen.add(same)
        for value in [*edge.values(False, sample=True), *edge.values(True, sample=True)]:
            case = _varied(operation, base, edge, value)
            if case is not None:
                examples.append(case)
    if base.media_type == "application/json":
        deep = nested(FAR_TOO_DEEP).encode()
        examples.append(
            operation.Case(
                path_parameters=dict(base.path_parameters or {}),
                query=dict(base.query or {}),
                body=deep,
                media_type="application/json",
            )
        )
