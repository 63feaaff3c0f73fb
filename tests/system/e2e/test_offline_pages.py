"""On an intranet with no way out, every page duban serves still works: headless Chromium
loads the interactive docs and the dashboard from a real uvicorn and fails on any request to
a host other than duban's own, and on anything the pages' Content-Security-Policy refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient

from tests.helpers import Live, Login, act, demo_password, post
from tests.photos import make_jpeg, upload

from .cdp import CHROMIUM, Browser, Page

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)",
)


def outside(page: Page, server: str) -> list[str]:
    """Requests to any host but `server` (data: and blob: URLs are no request)."""
    own = urlsplit(server).netloc
    return [
        url
        for url in page.requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own
    ]


async def visit(page: Page, url: str, rendered: str) -> None:
    """Load `url`, wait until `rendered` is true, and find nothing refused by the policy."""
    await page.goto(url)
    await page.until(rendered)
    assert await page.js("window.__cspViolations") == [], url


async def test_the_api_docs_render_from_duban_alone(browser: Browser, live: Live) -> None:
    page = await browser.new_page()
    await page.record_requests()
    # Swagger UI: every operation listed, the schema read from /openapi.json
    await visit(page, f"{live.url}/docs", "document.querySelectorAll('.opblock').length > 20")
    assert "/api/v1/findings" in await page.text("#swagger-ui")
    # ReDoc: the operations in its menu and their descriptions
    await visit(
        page,
        f"{live.url}/redoc",
        "document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 20",
    )
    assert "/api/v1/findings" in await page.text("#redoc-container")
    assert any(url.endswith("/openapi.json") for url in page.requested)
    assert any("/docs-assets/redoc/redoc.standalone.js" in url for url in page.requested)
    assert outside(page, live.url) == []
    await page.close()


async def test_the_dashboard_makes_no_outside_request(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        inspector = await login("inspector")
        finding = await post(client, inspector, description="居庸关路垃圾堆放未清运")
        fid = str(finding["id"])
        r = await upload(client, inspector, fid, make_jpeg(320, 240), kind="before")
        assert r.status_code == 201, r.text
        street = await login("handler.shinan.badaguan")
        assert (await act(client, street, fid, "accept")).status_code == 200
    page = await browser.new_page()
    await page.record_requests()
    await visit(page, f"{live.url}/ui/login", "!!document.querySelector('#username')")
    await page.fill("#username", "supervisor")
    await page.fill("#password", demo_password("supervisor"))
    await page.navigating("document.querySelector('form[action=\"/ui/login\"]').submit()")
    for path, rendered in (
        ("/ui", "!!document.querySelector('[data-testid=ranking]')"),
        ("/ui/escalations", "!!document.querySelector('form.filters')"),
        ("/ui/map", "!!document.querySelector('[data-testid=map]')"),
        ("/ui/exposure-videos", "!!document.querySelector('main')"),
        # the photo, loaded from duban with the session cookie
        (f"/ui/findings/{fid}", "document.querySelector('.photos img')?.naturalWidth === 320"),
    ):
        await visit(page, f"{live.url}{path}", rendered)
    assert outside(page, live.url) == []
    await page.close()
