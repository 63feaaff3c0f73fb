"""The dashboard in a real browser: headless Chromium against a real uvicorn, driven over
the DevTools Protocol. Each page is also saved as a screenshot under docs/screenshots/."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.helpers import ROOT, Live, Login, act, demo_password, make_overdue, post, sweep
from tests.photos import make_jpeg, upload

from .cdp import CHROMIUM, Browser, Page

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)",
)

# The README's screenshots are refreshed on purpose (DUBAN_UPDATE_SCREENSHOTS=1); an ordinary
# run still takes every screenshot, into a scratch folder, so the tree stays clean.
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("DUBAN_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="duban-screenshots-"))
)
DESKTOP = (1366, 768)
PHONE = (390, 844)


async def arrange(live: Live) -> str:
    """Demo-like data: findings in three districts, one of them in 市南区 overdue, escalated
    to L1 and L2 (the district head, leader.shinan), with before and after photos."""
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        inspector = await login("inspector")
        f = await post(client, inspector, description="居庸关路垃圾堆放未清运")
        fid = str(f["id"])
        r = await upload(client, inspector, fid, make_jpeg(640, 420), kind="before")
        assert r.status_code == 201, r.text
        street = await login("handler.shinan.badaguan")
        assert (await act(client, street, fid, "accept")).status_code == 200
        r = await upload(client, street, fid, make_jpeg(640, 420), kind="after")
        assert r.status_code == 201, r.text
        for unit, lat, lon, text in (
            ("shinan.badaguan", 36.0552, 120.3491, "山海关路路面破损"),
            ("licang.xiaocun", 36.1468, 120.4322, "李村河沿岸垃圾"),
            ("shibei.taidong", 36.0853, 120.3512, "台东步行街乱摆卖"),
        ):
            other = await post(
                client, inspector, unit=unit, description=text, location={"lat": lat, "lon": lon}
            )
            if unit == "licang.xiaocun":
                due = datetime.now(UTC) - timedelta(days=1)
                await make_overdue(live.factory, str(other["id"]), due)
        r = await client.post(
            "/api/v1/exposure-videos",
            headers=await login("dispatcher"),
            json={
                "title": "创城曝光台 第12期",
                "publisher": "青岛市文明办",
                "aired_on": "2026-11-25",
                "rectify_within": {"working_days": 5},
                "segments": [
                    {
                        "offset": "03:15",
                        "category": "exposed_garbage",
                        "description": "湛山街道背街小巷垃圾堆放",
                        "location": {"lat": 36.0585, "lon": 120.3726},
                        "unit": "shinan.zhanshan",
                    },
                    {
                        "offset": "07:40",
                        "category": "damaged_road",
                        "description": "辽宁路人行道破损",
                        "location": {"lat": 36.0781, "lon": 120.3463},
                        "unit": "shibei.liaoninglu",
                    },
                ],
            },
        )
        assert r.status_code == 201, r.text
    await make_overdue(live.factory, fid, datetime.now(UTC) - timedelta(days=6))
    await sweep(live.factory, live.settings, datetime.now(UTC))
    return fid


async def log_in(page: Page, live: Live, username: str, shot: str | None = None) -> None:
    await page.goto(f"{live.url}/ui")
    assert "/ui/login" in await page.url()  # not logged in: sent to the login page
    await page.fill("#username", username)
    await page.fill("#password", demo_password(username))
    if shot:
        await page.screenshot(SHOTS / shot)
    await page.navigating("document.querySelector('form[action=\"/ui/login\"]').submit()")
    assert await page.url() == f"{live.url}/ui"
    assert await page.text("[data-testid=username]") == username


async def map_videos_and_phone(page: Page, live: Live) -> None:
    # the map and the exposure videos render offline
    await page.goto(f"{live.url}/ui/map")
    assert await page.js("document.querySelectorAll('[data-testid=map] .pt.overdue').length") == 2
    await page.screenshot(SHOTS / "map.png")
    await page.goto(f"{live.url}/ui/exposure-videos")
    await page.navigating("document.querySelector('main table a').click()")
    assert "湛山街道背街小巷垃圾堆放" in await page.text("main")
    await page.screenshot(SHOTS / "exposure-video.png")

    # English, and a phone-width layout without horizontal scrolling of the page
    await page.goto(f"{live.url}/ui?lang=en")
    assert "Districts ranked" in await page.text("h1")
    await page.viewport(*PHONE, mobile=True)
    await page.goto(f"{live.url}/ui")
    assert await page.js("document.documentElement.scrollWidth <= window.innerWidth + 1")
    await page.screenshot(SHOTS / "overview-phone.png")


async def test_supervisor_finds_the_most_overdue_district_filters_and_exports(
    browser: Browser, live: Live
) -> None:
    fid = await arrange(live)
    page = await browser.new_page()
    await page.viewport(*DESKTOP)
    await log_in(page, live, "supervisor", shot="login.png")

    # overview: the ranking, the most overdue district called out, the trend chart
    ranking = await page.text("[data-testid=ranking]")
    assert "市南区" in ranking
    assert "李沧区" in ranking
    callout = await page.text("[data-testid=most-overdue]")
    assert "市南区" in callout or "李沧区" in callout
    assert await page.js("document.querySelectorAll('figure.chart svg rect.bar').length") == 8
    await page.screenshot(SHOTS / "overview.png")

    # keyboard: the first Tab lands on the skip link, the next ones on real links
    await page.key("Tab", "Tab", 9)
    assert await page.js("document.activeElement.className") == "skip"
    await page.key("Tab", "Tab", 9)
    assert await page.js("document.activeElement.tagName") == "A"

    # escalations: filter by district and level through the form
    await page.goto(f"{live.url}/ui/escalations")
    await page.js(
        "document.querySelector('select[name=district]').value = 'shinan';"
        "document.querySelector('select[name=level]').value = '2';"
    )
    await page.navigating("document.querySelector('form.filters').submit()")
    assert "district=shinan" in await page.url()
    table = await page.text("[data-testid=escalations]")
    assert "L2" in table
    assert "L1" not in table
    assert "李沧区" not in table
    await page.screenshot(SHOTS / "escalations.png")

    # the export link downloads a CSV with the browser's own session cookie
    csv = await page.js(
        "fetch(document.querySelector('[data-testid=export-csv]').href, "
        "{credentials: 'same-origin'}).then(async r => ({status: r.status, "
        "type: r.headers.get('content-type'), body: await r.text()}))"
    )
    assert csv["status"] == 200
    assert csv["type"].startswith("text/csv")
    lines = csv["body"].strip().splitlines()
    assert len(lines) == 2  # the header and the one L2 escalation in 市南区
    assert fid in lines[1]

    # open the finding from the list: timeline, photos side by side, its escalations
    await page.navigating("document.querySelector('[data-testid=escalations] a').click()")
    assert await page.url() == f"{live.url}/ui/findings/{fid}"
    timeline = await page.text("[data-testid=timeline]")
    assert "inspector" in timeline
    assert "签收整改" in timeline  # the street's acceptance, in Chinese
    photos = await page.js(
        "Promise.all([...document.querySelectorAll('.photos img')].map(i => i.decode()"
        ".then(() => i.naturalWidth)))"
    )
    assert photos == [640, 640]  # both served by /api/v1/evidence with the cookie
    await page.screenshot(SHOTS / "finding.png", full_page=True)

    await map_videos_and_phone(page, live)
    await page.close()


async def test_leader_acknowledges_with_an_instruction(browser: Browser, live: Live) -> None:
    fid = await arrange(live)
    page = await browser.new_page()
    await page.viewport(*DESKTOP)
    await log_in(page, live, "leader.shinan")
    # the leader's overview lists what is addressed to them
    await page.navigating("document.querySelector('main ul.list a').click()")
    assert await page.url() == f"{live.url}/ui/findings/{fid}"
    forms = await page.js("document.querySelectorAll('form.ack').length")
    assert forms == 1
    instruction = "请市南区城管局牵头，三日内整改到位并报告。"
    await page.fill("form.ack textarea", instruction)
    await page.navigating("document.querySelector('form.ack').requestSubmit()")
    assert await page.url() == f"{live.url}/ui/findings/{fid}?acknowledged=1"
    body = await page.text("main")
    assert "批示已记录" in body
    assert instruction in body
    assert await page.js("document.querySelectorAll('form.ack').length") == 0
    await page.screenshot(SHOTS / "acknowledged.png", full_page=True)
    # the API agrees
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        headers = await Login(client)("leader.shinan")
        r = await client.get(
            "/api/v1/escalations", params={"status": "acknowledged"}, headers=headers
        )
        items = r.json()["items"]
        assert [(e["level"], e["instruction"]) for e in items] == [(2, instruction)]
    await page.close()
