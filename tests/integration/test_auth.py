"""Identity: password login, short-lived and long-lived tokens, 401/403, login throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from httpx import AsyncClient

from services.core.identity.security import issue_access_token
from services.core.platform.settings import Settings
from tests.helpers import Login, body, issue_inspector_token

TOKEN = "/api/v1/auth/token"


async def test_login_issues_a_bearer_token(client: AsyncClient) -> None:
    r = await client.post(TOKEN, data={"username": "supervisor", "password": "pw-supervisor"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = await client.get(
        "/api/v1/findings", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200


async def test_wrong_password_and_unknown_user_look_the_same(client: AsyncClient) -> None:
    wrong = await client.post(TOKEN, data={"username": "supervisor", "password": "nope"})
    ghost = await client.post(TOKEN, data={"username": "ghost", "password": "nope"})
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.json()["detail"] == ghost.json()["detail"]
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_missing_expired_and_forged_tokens_are_401(
    client: AsyncClient, settings: Settings
) -> None:
    assert (await client.get("/api/v1/findings")).status_code == 401
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    expired = issue_access_token(1, 0, secret, datetime.now(UTC) - timedelta(hours=2), 60)
    forged = issue_access_token(
        1, 0, "another-key-another-key-another-key!!", datetime.now(UTC), 60
    )
    for token in (expired, forged, "not-a-token"):
        r = await client.get("/api/v1/findings", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


async def test_wrong_role_is_403_and_a_missing_finding_404(
    client: AsyncClient, login: Login
) -> None:
    supervisor = await login("supervisor")
    r = await client.post(
        "/api/v1/findings/00000000-0000-0000-0000-000000000001/transitions",
        json={"action": "dispatch", "unit": "shinan"},
        headers=supervisor,
    )
    # the finding does not exist: 404 comes before any role check, so nothing leaks
    assert r.status_code == 404
    # a valid report from a read-only role is refused for the role, not the body
    r = await client.post("/api/v1/findings", json=body(), headers=supervisor)
    assert r.status_code == 403
    assert "supervisor" in r.json()["detail"]
    f = await client.post("/api/v1/findings", json=body(), headers=await login("inspector"))
    r = await client.post(
        f"/api/v1/findings/{f.json()['id']}/transitions",
        json={"action": "accept"},
        headers=await login("dispatcher"),
    )
    assert r.status_code == 403


async def test_failed_logins_are_throttled_per_account(
    client: AsyncClient, settings: Settings
) -> None:
    for _ in range(settings.login_attempts_per_minute):
        r = await client.post(TOKEN, data={"username": "dispatcher", "password": "guess"})
        assert r.status_code == 401
    r = await client.post(TOKEN, data={"username": "dispatcher", "password": "pw-dispatcher"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # other accounts are unaffected
    ok = await client.post(TOKEN, data={"username": "verifier", "password": "pw-verifier"})
    assert ok.status_code == 200


async def test_api_token_works_until_revoked(client: AsyncClient, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        token, token_id = await issue_inspector_token(conn, "phone-17")
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/findings", headers=headers)).status_code == 200
        used = await conn.fetchval("SELECT last_used_at FROM api_tokens WHERE id = $1", token_id)
        assert used is not None
        stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE id = $1", token_id)
        assert token not in stored
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id)
        assert (await client.get("/api/v1/findings", headers=headers)).status_code == 401
    finally:
        await conn.close()


async def test_deactivated_user_loses_access(
    client: AsyncClient, login: Login, database_url: str
) -> None:
    headers = await login("inspector")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET active = false WHERE username = 'inspector'")
    finally:
        await conn.close()
    assert (await client.get("/api/v1/findings", headers=headers)).status_code == 401
