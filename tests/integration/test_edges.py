"""No input may yield a 5xx: every timestamp, date, ISO week, integer and cursor the API takes,
sent at and past the edges of its range, and JSON bodies nested far too deep.

The operations and their fields are read from the app's own OpenAPI document, so an operation
added later is covered without touching this file (a new required query parameter or JSON
body needs a valid base below, and the test says so). Past the range, each answer must be a
422 problem naming the field and nothing may be stored; at the extremes inside it, the answer
may be anything but a 5xx.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.helpers import (
    CURSORS_IN,
    CURSORS_OUT,
    DATES_IN,
    DATES_OUT,
    FAR_TOO_DEEP,
    TIMESTAMPS_IN,
    TIMESTAMPS_OUT,
    Edge,
    Login,
    assert_problem,
    edges,
    nested,
    put,
    ui_login,
)

API = "/api/v1"
# Tried in turn until one is let in: the edge has to reach the operation, not its role check.
ROLES = (
    "admin",
    "supervisor",
    "dispatcher",
    "inspector",
    "handler.shinan",
    "verifier",
    "leader.city",
    "discipline",
)
# What the reader refuses (README, "Limits") and a depth far past it.
MAX_DEPTH = 64
TIMESTAMP = "2026-09-30T10:00:00+08:00"


def finding_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "category": "exposed_garbage",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0571, "lon": 120.3466},
        "unit": "shinan.badaguan",
        "observed_at": "2026-05-31T09:12:00+08:00",
    }
    return body | over


def video_body() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "title": "创城曝光台 第12期",
        "aired_on": "2026-11-25",
        "rectify_within": {"working_days": 5},
        "segments": [
            {
                "offset": "03:15",
                "category": "exposed_garbage",
                "description": "居庸关路垃圾堆放未清运",
                "location": {"lat": 36.0571, "lon": 120.3466},
                "unit": "shinan.badaguan",
            }
        ],
    }


# A valid body per operation whose body holds a field at the edges, so that field alone is wrong.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/api/v1/findings"): finding_body,
    ("post", "/api/v1/findings/{finding_id}/transitions"): lambda: {
        "action": "request_extension",
        "note": "需协调产权单位",
        "expected_version": 1,
        "due_at": TIMESTAMP,
    },
    ("post", "/api/v1/posts"): lambda: {
        "unit": "shinan",
        "role": "deputy",
        "person": 1,
        "valid_from": TIMESTAMP,
    },
    ("patch", "/api/v1/posts/{post_id}"): dict,
    ("post", "/api/v1/categories"): lambda: {
        "code": "edge_category",
        "name": "边界",
        "group": "city_appearance",
        "kind": "event",
        "time_limit": {"working_days": 2},
    },
    ("patch", "/api/v1/categories/{code}"): dict,
    ("post", "/api/v1/calendar-overrides"): lambda: {"date": "2026-10-08", "kind": "holiday"},
    ("post", "/api/v1/exposure-videos"): video_body,
    ("post", "/api/v1/inspection-plans"): lambda: {
        "code": "edge_plan",
        "name": "边界",
        "criteria_set": "edge",
        "starts_on": "2026-10-01",
        "ends_on": "2026-10-31",
        "frequencies": {"farmers_market": "weekly"},
        "assignees": ["inspector"],
    },
    ("post", "/api/v1/inspections"): lambda: {
        "point": "edge",
        "observed_at": TIMESTAMP,
        "location": {"lat": 36.06, "lon": 120.38},
        "items": [],
    },
    ("post", "/api/v1/assessment-rounds"): lambda: {
        "code": "edge_round",
        "name": "边界",
        "criteria_set": "edge",
        "starts_on": "2026-10-01",
        "ends_on": "2026-10-31",
    },
    ("post", "/api/v1/assessment-rounds/{code}/districts/{district}/submit"): lambda: {
        "scores": [{"criterion": "edge", "score": 1}]
    },
    ("post", "/api/v1/contact-points"): lambda: {
        "person_id": 1,
        "kind": "email",
        "email": "edge@example.org",
    },
    ("patch", "/api/v1/contact-points/{point_id}"): dict,
    ("post", "/api/v1/meetings"): lambda: {
        "held_on": "2026-10-01",
        "title": "边界",
        "kind": "briefing",
    },
    ("post", "/api/v1/meetings/{meeting_id}/commitments"): lambda: {
        "unit": "shinan",
        "status_quo": "边界",
        "problems": "边界",
        "targets": "边界",
        "measures": "边界",
        "deadline": {"working_days": 5},
    },
    ("post", "/api/v1/commitments/{commitment_id}/progress"): lambda: {
        "text": "边界",
        "percent": 50,
    },
    ("post", "/api/v1/accountability/records"): lambda: {
        "action": "interview",
        "person": 1,
        "decided_on": "2026-11-30",
        "summary": "边界",
        "escalations": [1],
        "commitments": [1],
    },
    ("put", "/api/v1/accountability/follow-ups/{escalation_id}"): lambda: {"due_at": TIMESTAMP},
    # An empty period (until = since): refused once the edge's own value passed.
    ("post", "/api/v1/accountability/evidence-packs"): lambda: {
        "person": 1,
        "since": TIMESTAMP,
        "until": TIMESTAMP,
    },
}
# Values for the query parameters an operation needs besides the one at the edge.
QUERIES: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/calendar/due"): {"start": TIMESTAMP, "working_days": 1},
}


class Caller:
    """Sends one request as the first demo account let in, filling in the rest."""

    def __init__(self, client: AsyncClient, login: Login, finding_id: str) -> None:
        self.client = client
        self.login = login
        self.path_values = {"finding_id": finding_id, "day": "2026-10-01", "year": 2026}

    def _url(self, path: str, overrides: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name in overrides:
                return str(overrides[name])
            if name == "code":
                collection = path.split("/")[3]
                return {"categories": "exposed_garbage", "escalation-policies": "default"}.get(
                    collection, "shinan"
                )
            return str(self.path_values.get(name, 1 if name.endswith("_id") else uuid.uuid4()))

        return re.sub(r"\{(\w+)\}", value, path)

    async def send(self, edge: Edge, value: Any) -> httpx.Response:
        key = (edge.method, edge.path)
        query = dict(QUERIES.get(key, {}))
        body: Any = None
        if edge.where == "query":
            query[edge.name] = value
        if edge.method in ("post", "put", "patch") and key in BODIES:
            body = BODIES[key]()
        if edge.where == "body":
            assert key in BODIES, f"{edge}: give the operation a valid body in BODIES"
            put(body, edge.name, value)
        url = self._url(edge.path, {edge.name: value} if edge.where == "path" else {})
        for role in ROLES:
            r = await self.client.request(
                edge.method, url, params=query, json=body, headers=await self.login(role)
            )
            if r.status_code not in (401, 403):
                return r
        raise AssertionError(f"{edge}: no demo account gets past the role check: {r.text}")


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return {
        # The names come from the catalogue, not from input.
        t["tablename"]: await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"')  # noqa: S608
        for t in tables
    }


@pytest.fixture
async def caller(client: AsyncClient, login: Login) -> Caller:
    for role in ROLES:  # every token issued before anything is counted
        await login(role)
    r = await client.post(f"{API}/findings", json=finding_body(), headers=await login("inspector"))
    assert r.status_code == 201, r.text
    return Caller(client, login, r.json()["id"])


def _problem_fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json().get("errors", [])]


async def test_the_document_bounds_every_integer_and_timestamp_it_takes(app: FastAPI) -> None:
    """The fuzzer generates from the document: its valid cases must respect the ranges too."""
    found = edges(app.openapi())
    kinds = {e.kind for e in found}
    assert {"timestamp", "date", "week", "integer", "cursor"} <= kinds, kinds
    for edge in found:
        if edge.kind == "integer":
            assert edge.schema.get("minimum", -1) >= 0, edge
            assert edge.schema.get("maximum", 2**63) < 2**63, edge
        if edge.kind in ("timestamp", "date", "week"):
            pattern = edge.schema.get("pattern", "")
            assert pattern.startswith("^(?:20[0-9]{2}|2100)-"), (str(edge), edge.schema)


async def test_values_past_the_edges_are_named_422s_and_store_nothing(
    app: FastAPI, caller: Caller, server_side: asyncpg.Connection
) -> None:
    before = await _counts(server_side)
    wrong = []
    for edge in edges(app.openapi()):
        for value in edge.values(inside=False):
            r = await caller.send(edge, value)
            if r.status_code != 422 or edge.name not in _problem_fields(r):
                wrong.append(f"{edge} = {value!r}: {r.status_code} {r.text[:300]}")
    assert not wrong, "\n".join(wrong)
    assert await _counts(server_side) == before


async def test_values_at_the_edges_never_fail_the_server(app: FastAPI, caller: Caller) -> None:
    wrong = []
    for edge in edges(app.openapi()):
        for value in edge.values(inside=True):
            r = await caller.send(edge, value)
            if r.status_code >= 500 or (
                r.status_code >= 400 and r.headers["content-type"] != "application/problem+json"
            ):
                wrong.append(f"{edge} = {value!r}: {r.status_code} {r.text[:300]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, FAR_TOO_DEEP])
async def test_json_nested_too_deep_is_a_400_on_every_json_operation(
    app: FastAPI, caller: Caller, server_side: asyncpg.Connection, depth: int
) -> None:
    before = await _counts(server_side)
    wrong = []
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            for text in (nested(depth), '{"findings": [' + nested(depth) + "]}"):
                url = caller._url(path, {})
                r = await caller.client.request(
                    method,
                    url,
                    content=text.encode(),
                    headers=await caller.login("admin") | {"content-type": "application/json"},
                )
                if r.status_code != 400 or _problem_fields(r) != ["body"]:
                    wrong.append(f"{method.upper()} {path}: {r.status_code} {r.text[:300]}")
    assert not wrong, "\n".join(wrong)
    assert await _counts(server_side) == before


async def test_json_as_deep_as_the_limit_is_read(client: AsyncClient, login: Login) -> None:
    """The limit refuses only what is past it: at the limit the body is read and validated."""
    body = finding_body(description=None)
    text = (
        '{"findings": [' + _json(body).replace('"description":null', '"description":X') + "]}"
    ).replace("X", nested(MAX_DEPTH - 3))  # inside the batch, its list and the item
    r = await client.post(
        f"{API}/findings/batch",
        content=text.encode(),
        headers=await login("inspector") | {"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["outcome"] == "invalid"
    assert [e["field"] for e in result["problem"]["errors"]] == ["findings[0].description"]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def test_a_batch_past_the_limit_is_refused_whole(client: AsyncClient, login: Login) -> None:
    over = {"findings": [finding_body() for _ in range(501)]}
    r = await client.post(f"{API}/findings/batch", json=over, headers=await login("inspector"))
    problem = assert_problem(r, 422)
    assert problem["detail"] == "A batch holds at most 500 findings (got 501)."
    assert problem["errors"] == [{"field": "findings", "message": "at most 500 items"}]


async def test_one_item_past_the_edges_never_fails_its_batch(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    good = [finding_body() for _ in range(2)]
    bad = [finding_body(observed_at=ts) for ts in TIMESTAMPS_OUT]
    deep = finding_body()
    r = await client.post(
        f"{API}/findings/batch",
        content=(
            '{"findings": ['
            + ",".join(_json(item) for item in (good[0], *bad))
            + ","
            + _json(deep).replace('"description":"', '"description":' + nested(40) + ',"x":"')
            + ","
            + _json(good[1])
            + "]}"
        ).encode(),
        headers=inspector | {"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["created"] + ["invalid"] * 5 + ["created"]
    for index, result in enumerate(results[1:5], start=1):
        fields = [e["field"] for e in result["problem"]["errors"]]
        assert fields == [f"findings[{index}].observed_at"], result
    assert f"findings[{len(bad) + 1}].description" in [
        e["field"] for e in results[5]["problem"]["errors"]
    ]
    for item in good:
        r = await client.get(f"{API}/findings/{item['id']}", headers=inspector)
        assert r.status_code == 200, r.text
    for item in (*bad, deep):
        r = await client.get(f"{API}/findings/{item['id']}", headers=inspector)
        assert r.status_code == 404, r.text


async def test_an_extension_to_the_last_day_of_the_range_is_granted(
    client: AsyncClient, login: Login
) -> None:
    """A deadline at the end of the range reaches the ladder's working-day arithmetic, whose
    levels fall in a year past it."""
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    handler = await login("handler.shinan.badaguan")
    r = await client.post(f"{API}/findings", json=finding_body(), headers=inspector)
    fid = r.json()["id"]
    for who, action, extra in (
        (handler, "request_extension", {"due_at": TIMESTAMPS_IN[0], "note": "需协调"}),
        (dispatcher, "approve_extension", {}),
    ):
        r = await client.post(
            f"{API}/findings/{fid}/transitions", json={"action": action, **extra}, headers=who
        )
        assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["due_at"]) == datetime.fromisoformat(TIMESTAMPS_IN[0])
    assert r.json()["next_escalation_at"] is not None


async def test_the_dashboard_list_takes_the_same_edges(client: AsyncClient) -> None:
    await ui_login(client, "supervisor")
    # The form's day outside the years is its bad field (422); a cursor no list issued starts
    # the list again at page one.
    expected = [({name: day}, 422) for name in ("since", "until") for day in DATES_OUT]
    expected += [({name: day}, 200) for name in ("since", "until") for day in DATES_IN]
    expected += [({"cursor": cursor}, 200) for cursor in (*CURSORS_OUT, *CURSORS_IN)]
    wrong = []
    for query, status in expected:
        r = await client.get("/ui/escalations", params=query)
        if r.status_code != status:
            wrong.append(f"{query}: {r.status_code}")
    assert not wrong, "\n".join(wrong)
