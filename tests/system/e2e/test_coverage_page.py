"""The coverage page in a real browser: this month's coverage per district, the blind-spot
list and the coverage map, as the supervisor sees them (saved as docs/screenshots/coverage.png
with DUBAN_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.helpers import INSPECTIONS, ROOT, Live, Login, instruments, log_in, visit

from .cdp import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)",
)
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("DUBAN_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="duban-screenshots-"))
)


async def test_the_supervisor_sees_coverage_and_blind_spots(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        await instruments(client, login)
        for point in ("t.sn.market1", "t.sn.market2"):
            r = await client.post(INSPECTIONS, json=visit(point),
                                  headers=await login("inspector.shinan"))  # fmt: skip
            assert r.status_code == 201, r.text
    page = await browser.new_page()
    await log_in(page, live, "supervisor")
    await page.goto(f"{live.url}/ui/coverage")
    table = await page.text("[data-testid=coverage]")
    assert "市南区" in table
    spots = await page.text("[data-testid=blind-spots]")
    assert "t.sn.alley1" in spots
    assert "t.lc.alley1" in spots
    assert "t.sn.market1" not in spots
    assert (
        await page.js("document.querySelectorAll('[data-testid=coverage-map] .pt.green').length")
        == 2
    )
    await page.screenshot(SHOTS / "coverage.png", full_page=True)
