"""What a browser is told about every answer: a strict Content-Security-Policy (nothing from
another origin, no framing), nosniff, no referrer, and no caching of anything read with a
session; the interactive docs keep working; the login form refuses a post it did not serve."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.helpers import Login, csrf_of, demo_password, login_form, ui_login

# What a source may be in the strict policy: this origin, nothing, or a hash of inline code.
OWN_SOURCES = re.compile(r"^('self'|'none'|'sha256-[A-Za-z0-9+/=]+')$")


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The Content-Security-Policy of an answer, directive by directive."""
    header = response.headers["content-security-policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_strict(response: httpx.Response, *, cached: bool = False) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'none'"], csp
    assert csp["frame-ancestors"] == ["'none'"], csp
    for name, sources in csp.items():
        outside = [s for s in sources if not OWN_SOURCES.match(s)]
        assert not outside, (name, outside)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    if not cached:
        assert response.headers["cache-control"] == "no-store"


async def test_dashboard_pages_and_api_answers_carry_the_strict_headers(
    client: AsyncClient, login: Login
) -> None:
    assert_strict(await client.get("/ui/login"))
    await ui_login(client, "supervisor")
    for path in ("/ui", "/ui/escalations", "/ui/map", "/ui/exposure-videos", "/ui/nothing"):
        r = await client.get(path)
        assert r.status_code in (200, 404), path
        assert_strict(r)
    # API answers: read with a token, read with the session cookie, refused before any
    # endpoint runs (415), refused by one (401)
    supervisor = await login("supervisor")
    assert_strict(await client.get("/api/v1/findings", headers=supervisor))
    assert_strict(await client.get("/api/v1/escalations"))
    refused = await client.post(
        "/api/v1/findings", content=b"x", headers={**supervisor, "content-type": "text/plain"}
    )
    assert refused.status_code == 415
    assert_strict(refused)
    client.cookies.clear()
    anonymous = await client.get("/api/v1/findings")
    assert anonymous.status_code == 401
    assert_strict(anonymous)
    # the dashboard's stylesheet may be cached; it is the same for everyone
    css = await client.get("/ui/static/ui.css")
    assert css.status_code == 200
    assert_strict(css, cached=True)
    assert "no-store" not in css.headers.get("cache-control", "")


async def test_the_printable_briefing_admits_only_its_own_inline_stylesheet(
    client: AsyncClient, login: Login
) -> None:
    r = await client.get("/api/v1/briefings/weekly?format=html", headers=await login("supervisor"))
    assert r.status_code == 200
    assert_strict(r)
    (css,) = re.findall(r"<style>(.*?)</style>", r.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert policy(r)["style-src"] == ["'self'", f"'sha256-{digest}'"]


async def test_the_docs_load_only_from_duban_under_a_policy_of_their_own(
    client: AsyncClient,
) -> None:
    """/docs and /redoc load their viewers from duban's own /docs-assets/ and run no inline
    script: their policy names no other origin; ReDoc's page admits its generated styles by a
    nonce new on every answer."""
    for path, viewer in (
        ("/docs", "/docs-assets/swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "/docs-assets/redoc/redoc.standalone.js"),
    ):
        r = await client.get(path)
        assert r.status_code == 200
        assert f'<script src="{viewer}">' in r.text
        assert "http" not in r.text.replace('"http://www.w3.org', "")  # no absolute URL
        csp = policy(r)
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["connect-src"] == ["'self'"]  # the schema, from /openapi.json
        assert csp["img-src"] == ["'self'", "data:"]
        assert csp["frame-ancestors"] == ["'none'"]
        for sources in csp.values():  # no other origin, by name or by scheme
            assert not [s for s in sources if "." in s or s in ("http:", "https:", "*")]
        assert r.headers["x-content-type-options"] == "nosniff"
        asset = await client.get(viewer)
        assert asset.status_code == 200
        assert_strict(asset, cached=True)
    assert policy(await client.get("/docs"))["style-src"] == ["'self'"]
    first, second = policy(await client.get("/redoc")), policy(await client.get("/redoc"))
    nonces = [[s for s in p["style-src"] if s.startswith("'nonce-")] for p in (first, second)]
    assert len(nonces[0]) == 1
    assert nonces[0] != nonces[1]
    assert first["worker-src"] == ["blob:"]  # ReDoc's search index, from its own code
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    assert_strict(schema)


async def test_the_login_form_refuses_a_post_without_its_csrf_token(
    app: FastAPI, client: AsyncClient
) -> None:
    form = {"username": "supervisor", "password": demo_password("supervisor"), "next": "/ui"}
    # another site's page posting the form: no token, or one it made up
    for csrf in ("", "0" * 64):
        r = await client.post("/ui/login", data=form | {"csrf": csrf})
        assert r.status_code == 403
        assert "duban_session" not in r.headers.get("set-cookie", "")
        assert "登录表单已失效" in r.text
    # a token served to another browser does not fit this browser's login nonce
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://duban.test") as other:
        theirs = await login_form(other)
    await login_form(client)
    r = await client.post("/ui/login", data=form | {"csrf": theirs})
    assert r.status_code == 403
    # the form as served to this browser: logged in
    r = await client.post("/ui/login", data=form | {"csrf": await login_form(client)})
    assert r.status_code == 303
    assert "duban_session=" in r.headers["set-cookie"]


async def test_the_login_nonce_cookie_is_httponly_strict_and_kept_across_tabs(
    client: AsyncClient,
) -> None:
    first = await client.get("/ui/login")
    cookie = first.headers["set-cookie"].lower()
    assert cookie.startswith("duban_login=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/ui/login" in cookie
    # a second tab gets the same nonce, so the first tab's form still works
    await client.get("/ui/login")
    form = {
        "username": "supervisor",
        "password": demo_password("supervisor"),
        "csrf": csrf_of(first.text),
    }
    assert (await client.post("/ui/login", data=form)).status_code == 303
