"""Ending sessions on the server: a logout, a deactivation and a password change end every
dashboard session and access token of the user at once (the token version, migration 0014);
a deactivation and a password change revoke the user's API tokens too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from services.core.identity.security import hash_password, new_api_token
from tests.helpers import bearer, body, csrf_of, demo_password, ui_login

FINDINGS = "/api/v1/findings"
PASSWORD = "/api/v1/auth/password"
SESSION = "duban_session"


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Another browser (its own cookie jar) on the same app."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://duban.test") as c:
        yield c


async def api_token(conn: asyncpg.Connection, username: str) -> dict[str, str]:
    """Authorization headers of an API token stored as `duban token issue` stores one."""
    token, digest = new_api_token()
    await conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash) "
        "SELECT id, 'phone', $1 FROM users WHERE username = $2",
        digest,
        username,
    )
    return {"Authorization": f"Bearer {token}"}


async def cookie_reads(app: FastAPI, cookie: str) -> tuple[int, int]:
    """(status of /ui, status of an API read) for a replayed session cookie."""
    headers = {"Cookie": f"{SESSION}={cookie}"}
    async with browser(app) as replay:
        page = await replay.get("/ui", headers=headers)
        read = await replay.get(FINDINGS, headers=headers)
    return page.status_code, read.status_code


async def test_logout_ends_every_session_and_access_token_of_the_user(
    app: FastAPI, client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await ui_login(client, "supervisor")
    cookie = client.cookies[SESSION]
    token = await bearer(client, "supervisor")  # issued before the logout, e.g. to a script
    device = await api_token(server_side, "supervisor")
    assert await cookie_reads(app, cookie) == (200, 200)
    async with browser(app) as laptop:  # a second dashboard session of the same user
        await ui_login(laptop, "supervisor")
        page = await client.get("/ui")
        r = await client.post("/ui/logout", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303
        # the cookie logged out with, replayed: sent to the login page, and the API says 401
        assert await cookie_reads(app, cookie) == (303, 401)
        assert (await client.get(FINDINGS, headers=token)).status_code == 401
        other = await laptop.get("/ui")
        assert other.status_code == 303
        assert other.headers["location"].startswith("/ui/login")
    # API tokens belong to devices and are revoked one by one: a logout leaves them
    assert (await client.get(FINDINGS, headers=device)).status_code == 200
    await ui_login(client, "supervisor")
    assert (await client.get("/ui")).status_code == 200


async def test_a_deactivation_ends_sessions_and_tokens_for_good(
    app: FastAPI, client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await ui_login(client, "inspector")
    cookie = client.cookies[SESSION]
    token = await bearer(client, "inspector")
    device = await api_token(server_side, "inspector")
    await server_side.execute("UPDATE users SET active = false WHERE username = 'inspector'")
    assert await cookie_reads(app, cookie) == (303, 401)
    assert (await client.get(FINDINGS, headers=token)).status_code == 401
    assert (await client.get(FINDINGS, headers=device)).status_code == 401
    # re-activated: nothing issued before the deactivation comes back
    await server_side.execute("UPDATE users SET active = true WHERE username = 'inspector'")
    assert await cookie_reads(app, cookie) == (303, 401)
    assert (await client.get(FINDINGS, headers=token)).status_code == 401
    assert (await client.get(FINDINGS, headers=device)).status_code == 401
    fresh = await bearer(client, "inspector")
    assert (await client.get(FINDINGS, headers=fresh)).status_code == 200


async def test_a_password_change_ends_every_session_and_token(
    app: FastAPI, client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await ui_login(client, "inspector")
    cookie = client.cookies[SESSION]
    old = await bearer(client, "inspector")
    device = await api_token(server_side, "inspector")
    r = await client.post(
        PASSWORD,
        json={"current_password": demo_password("inspector"), "new_password": "a-new-secret-1"},
        headers=old,
    )
    assert r.status_code == 200, r.text
    new = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get(FINDINGS, headers=old)).status_code == 401
    assert (await client.get(FINDINGS, headers=device)).status_code == 401
    assert await cookie_reads(app, cookie) == (303, 401)
    # the caller goes on with the token of the answer, and logs in with the new password
    assert (await client.get(FINDINGS, headers=new)).status_code == 200
    gone = await client.post(
        "/api/v1/auth/token",
        data={"username": "inspector", "password": demo_password("inspector")},
    )
    assert gone.status_code == 401
    await bearer(client, "inspector", "a-new-secret-1")


async def test_a_password_change_needs_the_current_password_and_a_long_new_one(
    client: AsyncClient,
) -> None:
    token = await bearer(client, "inspector")
    wrong = await client.post(
        PASSWORD,
        json={"current_password": "not-it", "new_password": "a-new-secret-1"},
        headers=token,
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in wrong.json()["errors"]] == ["current_password"]
    short = await client.post(
        PASSWORD,
        json={"current_password": demo_password("inspector"), "new_password": "short"},
        headers=token,
    )
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["new_password"]
    anonymous = await client.post(
        PASSWORD, json={"current_password": "x", "new_password": "a-new-secret-1"}
    )
    assert anonymous.status_code == 401
    # nothing changed: the token still works, the password still logs in
    assert (await client.get(FINDINGS, headers=token)).status_code == 200
    await bearer(client, "inspector")


async def test_a_token_that_just_reported_cannot_report_once_its_sessions_ended(
    client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    """The password changed elsewhere (another API process, psql) between two reports of the
    same token: the next report with it is refused and stores nothing; the new session's
    reports are stored, and the old token stays refused beside them."""
    user_id = await server_side.fetchval("SELECT id FROM users WHERE username = 'inspector'")
    old = await bearer(client, "inspector")
    assert (await client.post(FINDINGS, json=body(), headers=old)).status_code == 201
    new_hash = hash_password("a-new-secret-1")
    await server_side.execute(
        "UPDATE users SET password_hash = $1 WHERE id = $2", new_hash, user_id
    )
    refused = body()
    assert (await client.post(FINDINGS, json=refused, headers=old)).status_code == 401
    new = await bearer(client, "inspector", "a-new-secret-1")
    for _ in range(2):
        assert (await client.post(FINDINGS, json=body(), headers=new)).status_code == 201
    assert (await client.post(FINDINGS, json=refused, headers=old)).status_code == 401
    stored = await server_side.fetchval(
        "SELECT count(*) FROM findings WHERE id = $1::uuid", refused["id"]
    )
    assert stored == 0
