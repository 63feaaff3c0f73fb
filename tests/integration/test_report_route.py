"""POST /findings, the busiest operation: its document, the order of its refusals (401, 403
before 422), its authentication, and a caller's changes counting from their next report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient

from tests.helpers import URL, Login, body, issue_inspector_token

JSON = {"content-type": "application/json"}


async def test_the_document_describes_the_body_and_the_bearer(client: AsyncClient) -> None:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    operation = document["paths"][URL]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["requestBody"]["required"] is True
    assert schema == {"$ref": "#/components/schemas/FindingCreate"}
    assert operation["security"] == [{"OAuth2PasswordBearer": []}]
    create = document["components"]["schemas"]["FindingCreate"]
    assert set(create["required"]) == {"category", "description", "location", "observed_at"}
    assert create["properties"]["location"] == {"$ref": "#/components/schemas/Location"}
    assert "Location" in document["components"]["schemas"]
    assert set(operation["responses"]) >= {"200", "201", "401", "403", "409", "413", "422"}
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FindingOut"
    }


async def test_refusals_come_in_the_order_of_every_operation(
    client: AsyncClient, login: Login
) -> None:
    # An undecodable body is refused before the caller is looked at.
    r = await client.post(URL, content=b'{"category": ', headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/validation")
    # A decodable one waits for the caller: no token, no word about the body.
    r = await client.post(URL, json={"category": ""})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    # The role comes before the body.
    r = await client.post(URL, json={"category": ""}, headers=await login("supervisor"))
    assert r.status_code == 403
    inspector = await login("inspector")
    r = await client.post(URL, content=b"", headers={**inspector, **JSON})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "body", "message": "Field required"}]
    r = await client.post(URL, json=[1, 2], headers=inspector)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"
    r = await client.post(URL, json=body(extra="x", location={"lat": 36.05}), headers=inspector)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"extra", "location.lon"}


async def test_an_api_token_reports_and_its_use_is_recorded(
    client: AsyncClient, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        token, token_id = await issue_inspector_token(conn, "phone-18")
        headers = {"Authorization": f"Bearer {token}"}
        sent = body()
        r = await client.post(URL, json=sent, headers=headers)
        assert r.status_code == 201, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json()["reporter"] == "inspector"
        assert await conn.fetchval("SELECT last_used_at FROM api_tokens WHERE id = $1", token_id)
        stored = await conn.fetchval(
            "SELECT count(*) FROM findings WHERE id = $1 AND status = 'assigned'", sent["id"]
        )
        assert stored == 1
        replay = await client.post(URL, json=sent, headers=headers)
        assert replay.status_code == 200
        assert replay.json() == r.json() | {
            "possible_duplicates": replay.json()["possible_duplicates"]
        }
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id)
        assert (await client.post(URL, json=body(), headers=headers)).status_code == 401
    finally:
        await conn.close()


async def test_reports_that_reload_the_reference_are_all_stored(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    """A report that finds the reference changed reads it again on a session, its connection
    given back first: a burst of such reports, more than the pool holds, must not wait on each
    other for a second connection, and every one is stored."""
    inspector = await login("inspector")
    assert (await client.post(URL, json=body(), headers=inspector)).status_code == 201
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE config_revision SET revision = revision + 1")
        sent = [body() for _ in range(30)]
        answers = await asyncio.gather(*(client.post(URL, json=b, headers=inspector) for b in sent))
        assert [a.status_code for a in answers] == [201] * len(sent)
        stored = await conn.fetchval(
            "SELECT count(*) FROM findings WHERE id = ANY($1::uuid[])", [b["id"] for b in sent]
        )
        assert stored == len(sent)
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE finding_id = ANY($1::uuid[]) AND action = 'report'",
            [b["id"] for b in sent],
        )
        assert events == len(sent)
    finally:
        await conn.close()


async def test_a_body_that_is_not_text_is_a_400(client: AsyncClient, login: Login) -> None:
    r = await client.post(
        URL, content=b'{"description": "\xff\xfe"}', headers={**await login("inspector"), **JSON}
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "There was an error parsing the body"


# Whatever changed about a caller since their last report (in psql, or through another API
# process) counts from their next one: nothing is stored on what the process read before.


async def _stored_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM findings"))


Changed = Callable[[str], Awaitable[tuple[dict[str, str], int]]]


@pytest.fixture
def changed(client: AsyncClient, login: Login, server_side: asyncpg.Connection) -> Changed:
    """Given a change, the inspector's headers once they have reported and the change has been
    made in the database behind the API's back; and the count of findings stored by then."""

    async def then(change: str) -> tuple[dict[str, str], int]:
        inspector = await login("inspector")
        assert (await client.post(URL, json=body(), headers=inspector)).status_code == 201
        await server_side.execute(change)
        return inspector, await _stored_count(server_side)

    return then


async def _refused(
    client: AsyncClient,
    headers: dict[str, str],
    server_side: asyncpg.Connection,
    stored: int,
    status: int,
) -> dict[str, Any]:
    """The problem document a report gets, refused with `status`, with nothing stored."""
    refused = await client.post(URL, json=body(), headers=headers)
    assert refused.status_code == status, refused.text
    assert await _stored_count(server_side) == stored
    problem: dict[str, Any] = refused.json()
    return problem


async def test_a_caller_deactivated_since_their_last_report_stores_nothing(
    client: AsyncClient, server_side: asyncpg.Connection, changed: Changed
) -> None:
    inspector, stored = await changed(
        "UPDATE users SET active = false WHERE username = 'inspector'"
    )
    await _refused(client, inspector, server_side, stored, 401)
    # A body that is not valid either: the caller is still refused first.
    assert (await client.post(URL, json={}, headers=inspector)).status_code == 401


async def test_a_caller_whose_role_changed_since_their_last_report_is_refused_by_it(
    client: AsyncClient, server_side: asyncpg.Connection, changed: Changed
) -> None:
    inspector, stored = await changed(
        "UPDATE users SET role = 'supervisor' WHERE username = 'inspector'"
    )
    assert "supervisor" in (await _refused(client, inspector, server_side, stored, 403))["detail"]


async def test_a_caller_moved_to_another_district_reports_within_it(
    client: AsyncClient, server_side: asyncpg.Connection, changed: Changed
) -> None:
    inspector, stored = await changed(
        "UPDATE users SET unit_id = (SELECT id FROM units WHERE code = 'shibei')"
        " WHERE username = 'inspector'",
    )
    # shinan.badaguan lies in Shinan: outside the inspector's area now.
    refused = await _refused(client, inspector, server_side, stored, 422)
    assert refused["errors"][0]["field"] == "unit"
    street = await server_side.fetchrow(
        "SELECT code, lat, lon FROM units WHERE parent_id = (SELECT id FROM units"
        " WHERE code = 'shibei') AND lat IS NOT NULL ORDER BY code LIMIT 1"
    )
    location = {"lat": street["lat"], "lon": street["lon"]}
    moved = await client.post(
        URL, json=body(unit=street["code"], location=location), headers=inspector
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["district"]["code"] == "shibei"


async def test_a_report_is_made_on_the_reference_data_as_it_now_is(
    client: AsyncClient, server_side: asyncpg.Connection, changed: Changed
) -> None:
    # As in psql, or through a second API process: the table's trigger bumps the revision.
    inspector, stored = await changed(
        "UPDATE categories SET active = false WHERE code = 'exposed_garbage'"
    )
    refused = await _refused(client, inspector, server_side, stored, 422)
    assert refused["errors"][0]["field"] == "category"
