"""Every error is an RFC 9457 problem document; nothing leaks a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

from httpx import AsyncClient

from tests.helpers import Login, assert_problem


async def test_unknown_route_and_wrong_method(client: AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nowhere"), 404)
    assert_problem(await client.delete("/healthz"), 405)


async def test_json_only_and_size_limit(client: AsyncClient, login: Login) -> None:
    headers = await login("inspector")
    r = await client.post(
        "/api/v1/findings", content="<xml/>", headers={**headers, "content-type": "text/xml"}
    )
    assert_problem(r, 415)
    huge = b'{"description": "' + b"x" * (1024 * 1024) + b'"}'
    r = await client.post(
        "/api/v1/findings", content=huge, headers={**headers, "content-type": "application/json"}
    )
    body = assert_problem(r, 413)
    assert "1048576" in str(body["detail"])


async def test_size_limit_holds_without_content_length(client: AsyncClient, login: Login) -> None:
    headers = await login("inspector")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    r = await client.post(
        "/api/v1/findings",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert_problem(r, 413)


async def test_malformed_json_names_the_body(client: AsyncClient, login: Login) -> None:
    headers = await login("inspector")
    r = await client.post(
        "/api/v1/findings",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    body = assert_problem(r, 422)
    assert body["errors"]


async def test_bad_path_parameter_is_422_with_field(client: AsyncClient, login: Login) -> None:
    r = await client.get("/api/v1/findings/not-a-uuid", headers=await login("inspector"))
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {"field": "finding_id", "message": body["errors"][0]["message"]}  # type: ignore[index]
    ]
