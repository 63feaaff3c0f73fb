"""What the fuzzer found (tests/system/test_fuzz.py), pinned as plain tests: fast and
in-process, each a named 422 or the right status where a 500 once was."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx import AsyncClient

from tests.helpers import Login

FINDINGS = "/api/v1/findings"


def finding_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "exposed_garbage",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0571, "lon": 120.3466},
        "unit": "shinan.badaguan",
        "observed_at": "2026-05-31T09:12:00+08:00",
    }
    return body | over


def problem_fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"description": "a\\u0000b"}', "description"),
        ('{"description": "a\\ud800b"}', "description"),
        ('{"location": {"address": "\\udc00"}}', "location.address"),
    ],
)
async def test_text_postgresql_cannot_store_is_a_named_422(
    client: AsyncClient, login: Login, raw: str, field: str
) -> None:
    over = json.loads(raw)
    if "location" in over:
        over["location"] |= {"lat": 36.0571, "lon": 120.3466}
    body = json.dumps(finding_body(**over))
    r = await client.post(
        FINDINGS,
        content=body.encode(),
        headers=await login("inspector") | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert problem_fields(r) == [field]


async def test_nul_in_query_and_login_form_is_a_named_422(
    client: AsyncClient, login: Login
) -> None:
    r = await client.get(f"{FINDINGS}?category=a%00b", headers=await login("supervisor"))
    assert r.status_code == 422
    assert problem_fields(r) == ["category"]
    r = await client.post("/api/v1/auth/token", data={"username": "a\x00", "password": "x"})
    assert r.status_code == 422
    assert problem_fields(r) == ["username"]


async def test_numbers_and_timestamps_are_not_coerced(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    r = await client.post(
        FINDINGS, json=finding_body(location={"lat": True, "lon": 120.3}), headers=inspector
    )
    assert problem_fields(r) == ["location.lat"]
    r = await client.post(FINDINGS, json=finding_body(observed_at=1780000000), headers=inspector)
    assert problem_fields(r) == ["observed_at"]
    r = await client.get(f"{FINDINGS}?until=0.5", headers=await login("supervisor"))
    assert problem_fields(r) == ["until"]


async def test_a_tiny_coordinate_is_stored_to_the_centimetre(
    client: AsyncClient, login: Login
) -> None:
    # 1e-290 used to underflow PostgreSQL's float arithmetic in the duplicate search (500).
    r = await client.post(
        FINDINGS,
        json=finding_body(location={"lat": -4.84e-290, "lon": 120.123456789}),
        headers=await login("inspector"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["location"] == {"lat": 0.0, "lon": 120.1234568, "address": None}


async def test_a_person_name_longer_than_its_column_is_a_named_422(
    client: AsyncClient, login: Login
) -> None:
    r = await client.post("/api/v1/people", json={"name": "名" * 101}, headers=await login("admin"))
    assert r.status_code == 422, r.text
    assert problem_fields(r) == ["name"]


async def test_get_on_the_batch_endpoint_is_405_not_a_bad_finding_id(
    client: AsyncClient, login: Login
) -> None:
    r = await client.get(f"{FINDINGS}/batch", headers=await login("inspector"))
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]
    r = await client.get(f"{FINDINGS}/not-a-uuid", headers=await login("inspector"))
    assert problem_fields(r) == ["finding_id"]
