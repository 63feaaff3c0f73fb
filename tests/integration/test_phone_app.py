"""The phone app at /m, server side: an installable web app served from duban's own files
under a policy that admits only them, and the two reads it keeps for working offline."""

from __future__ import annotations

import re

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import device_token


async def test_the_app_is_installable_and_served_from_duban_alone(client: AsyncClient) -> None:
    page = await client.get("/m/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy
    assert "manifest-src 'self'" in policy
    # no inline script, nothing from another host
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    assert (await client.get("/m")).headers["location"] == "/m/"

    manifest = await client.get("/m/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    m = manifest.json()
    assert (m["start_url"], m["scope"], m["display"]) == ("/m/", "/m/", "standalone")
    sizes = {i["sizes"] for i in m["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in m["icons"]:
        r = await client.get(icon["src"])
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/png"

    worker = await client.get("/m/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "__VERSION__" not in worker.text
    shell = re.findall(r'"(/m/[^"]*)"', worker.text)
    assert "/m/" in shell
    assert "/m/static/app.js" in shell
    for path in shell:  # everything the worker keeps for offline use is there
        assert (await client.get(path)).status_code == 200, path
    # the app's files are cacheable; its page and worker are re-checked on every start
    assert "no-store" not in (await client.get("/m/static/app.js")).headers.get("cache-control", "")
    assert worker.headers["cache-control"] == "no-store"


async def test_a_device_token_says_whose_it_is(
    client: AsyncClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    token = await device_token(factory, "inspector.shinan")
    r = await client.get("/api/v1/app/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {
        "username": "inspector.shinan",
        "role": "inspector",
        "unit": {"code": "shinan", "name": "市南区"},
    }
    bad = await client.get("/api/v1/app/me", headers={"Authorization": "Bearer dbn_nothing"})
    assert bad.status_code == 401


async def test_the_reference_holds_the_categories_and_only_the_callers_boundaries(
    client: AsyncClient, factory: async_sessionmaker[AsyncSession]
) -> None:
    city = await device_token(factory, "inspector")
    street = await device_token(factory, "handler.licang.xiaocun")
    everything = await client.get(
        "/api/v1/app/reference", headers={"Authorization": f"Bearer {city}"}
    )
    assert everything.status_code == 200
    body = everything.json()
    assert "exposed_garbage" in {c["code"] for c in body["categories"]}
    codes = {b["code"] for b in body["boundaries"]}
    assert {"shinan", "shinan.badaguan", "licang.xiaocun"} <= codes
    badaguan = next(b for b in body["boundaries"] if b["code"] == "shinan.badaguan")
    shinan = next(b for b in body["boundaries"] if b["code"] == "shinan")
    assert badaguan["depth"] == shinan["depth"] + 1  # the phone places a point in the deepest
    ring = badaguan["rings"][0]
    assert ring[0] == ring[-1]  # closed, [lon, lat]
    assert 120 < ring[0][0] < 121
    assert 35 < ring[0][1] < 37
    mine = await client.get("/api/v1/app/reference", headers={"Authorization": f"Bearer {street}"})
    assert {b["code"] for b in mine.json()["boundaries"]} == {"licang.xiaocun"}
