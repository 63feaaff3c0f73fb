"""Every role's main path in a real browser: headless Chromium against a real uvicorn, over
the DevTools Protocol. The inspector reports from the phone app with a photo and an emulated
GPS position, goes offline (network emulation), reports two more, comes back online, and
exactly those three findings exist once each; the handler accepts, takes the after-photo and
submits; the verifier rejects once, then verifies; the dispatcher dispatches a queued report;
the leader acknowledges. Each screen is checked for the accessibility basics (a11y.js)
and saved as a screenshot at 360 px and 1280 px."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from tests.helpers import (
    ROOT,
    Live,
    Login,
    act,
    demo_password,
    device_token,
    make_overdue,
    make_pdf,
    post,
    sweep,
    wait_for,
)
from tests.photos import make_jpeg, upload

from .cdp import CHROMIUM, Browser, Page

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)",
)

SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("DUBAN_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="duban-screenshots-"))
)
A11Y = (Path(__file__).parent / "a11y.js").read_text()
PHONE = (360, 740)
DESKTOP = (1280, 800)
BADAGUAN = (36.0571, 120.3466)  # inside 八大关街道's demo boundary


def outside(page: Page, server: str) -> list[str]:
    own = urlsplit(server).netloc
    return [
        u
        for u in page.requested
        if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != own
    ]


async def accessible(page: Page) -> None:
    """The accessibility basics hold on the page as it is now."""
    problems = await page.js(A11Y)
    assert problems == [], await page.url()


async def phone(browser: Browser, live: Live) -> Page:
    page = await browser.new_page()
    await page.record_requests()
    await page.viewport(*PHONE, mobile=True)
    await page.allow(live.url, "geolocation")
    await page.geolocation(*BADAGUAN, accuracy=12)
    return page


async def open_app(page: Page, live: Live, token: str) -> None:
    """Open /m with nothing but its URL, and log in once with the device token."""
    await page.goto(f"{live.url}/m/")
    await page.until("!document.querySelector('#login').hidden")
    await accessible(page)
    await page.fill("#token", token)
    await page.js("document.querySelector('#login-form').requestSubmit()")
    await page.until("!document.querySelector('#app').hidden")


async def report(page: Page, description: str, photo: Path | None) -> None:
    """Fill the report form as a person does: search the category, describe, photograph,
    check the position, send."""
    await page.until("document.querySelector('#category').options.length > 3")
    await page.fill("#cat-search", "垃圾")
    await page.js("document.querySelector('#cat-search').dispatchEvent(new Event('input'))")
    await page.js(
        "(() => { const s = document.querySelector('#category'); s.value = 'exposed_garbage';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    await page.fill("#description", description)
    if photo is not None:
        await page.set_files("#photos", photo)
        await page.until("document.querySelectorAll('#previews img').length === 1")
    await page.until("document.querySelector('#pos').textContent.includes('36.057')")
    await page.js("document.querySelector('#send').click()")


async def outbox_states(page: Page) -> dict[str, str]:
    """Each report in the outbox by its description: waiting, sent or refused."""
    rows = await page.js(
        "[...document.querySelectorAll('#outbox-list [data-state]')]"
        ".map(li => [li.textContent, li.dataset.state])"
    )
    return {str(t): str(s) for t, s in rows}


async def findings_with(live: Live, words: list[str]) -> dict[str, list[Any]]:
    async with live.factory() as session:
        rows = await session.execute(
            text(
                "SELECT f.description, f.id, f.responsible_unit_id,"
                " (SELECT count(*) FROM evidence e WHERE e.finding_id = f.id AND e.kind = 'before')"
                " FROM findings f WHERE f.description = ANY(:words)"
            ),
            {"words": words},
        )
        out: dict[str, list[Any]] = {}
        for description, fid, unit, photos in rows:
            out.setdefault(description, []).append((fid, unit, photos))
        return out


async def first_report(page: Page, live: Live, photo: Path) -> float:
    """The app as a new inspector finds it: the position with its accuracy, the unit found
    from it, the boundaries as SVG, a pin that moves by keyboard; then one report with a
    photo, sent at once. The seconds it took, from the empty form to sent."""
    await page.until("document.querySelector('#pos').textContent.includes('36.057')")
    assert "12" in await page.text("#accuracy")
    await page.until("document.querySelector('#unit-found').textContent === '八大关街道'")
    assert await page.js("document.querySelectorAll('#map path.area').length") > 3
    await accessible(page)
    before = await page.js("position.lat")
    await page.js("document.querySelector('#map').focus()")
    await page.key("ArrowUp", "ArrowUp", 38)
    assert await page.js("position.lat") > before
    await page.geolocation(*BADAGUAN, accuracy=12)
    await page.js("document.querySelector('#locate').click()")
    await page.until(f"position.lat === {BADAGUAN[0]}")

    started = time.monotonic()
    await report(page, "手机上报：居庸关路垃圾", photo)
    await page.until(
        "[...document.querySelectorAll('#outbox-list [data-state=sent]')]"
        ".some(li => li.textContent.includes('手机上报：居庸关路垃圾'))",
        60,
    )
    seconds = time.monotonic() - started
    await page.screenshot(SHOTS / "phone-report.png", full_page=True)
    return seconds


async def two_offline_reports(page: Page, live: Live, photo: Path) -> None:
    """Offline (network emulation), the app still opens from its service worker and keeps
    two reports, one with a photo, waiting on the phone."""
    await page.until("navigator.serviceWorker.controller !== null", 60)
    # installable, as Chromium judges it (manifest, icons, a worker that serves the start URL)
    found = await page.send("Page.getInstallabilityErrors")
    assert found["installabilityErrors"] == []
    await page.offline(True)
    await page.goto(f"{live.url}/m/")
    await page.until("!document.querySelector('#app').hidden")
    await page.until("document.querySelector('#net').textContent === '离线'")
    await report(page, "离线上报一：湛山路垃圾", photo)
    await page.until("document.querySelector('#report-done').textContent.includes('联网后')")
    await report(page, "离线上报二：香港西路垃圾", None)
    await page.js("document.querySelector('#tab-outbox').click()")
    await page.until("document.querySelector('#waiting-count').textContent === '2'")
    await page.screenshot(SHOTS / "phone-offline.png", full_page=True)
    await accessible(page)


async def test_an_inspector_reports_online_and_offline_and_nothing_is_lost_or_doubled(
    browser: Browser, live: Live, tmp_path: Path
) -> None:
    token = await device_token(live.factory, "inspector")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(make_jpeg(800, 600))
    page = await phone(browser, live)
    await page.send("Network.enable")
    await page.send("Network.setCacheDisabled", cacheDisabled=True)
    page.received = 0
    await open_app(page, live, token)
    await page.until("document.querySelector('#pos').textContent.includes('36.057')")
    first_load = page.received
    seconds = await first_report(page, live, photo)
    await page.send("Network.setCacheDisabled", cacheDisabled=False)

    await two_offline_reports(page, live, photo)
    words = ["手机上报：居庸关路垃圾", "离线上报一：湛山路垃圾", "离线上报二：香港西路垃圾"]
    assert set(await findings_with(live, words)) == {words[0]}  # nothing left the phone

    await page.offline(False)  # the 'online' event sends what waits
    await page.until("document.querySelector('#waiting-count').textContent === ''", 60)
    states = await outbox_states(page)
    assert sorted(s for t, s in states.items() if any(w in t for w in words)) == ["sent"] * 3

    # a replay (as after a lost answer) is safe: the same client id finds the same finding
    await page.js(
        "(async () => { const all = await outboxAll();"
        " for (const i of all) { i.state = 'waiting'; i.finding = null; await outboxPut(i); }"
        " await flush(); })()"
    )
    await page.until("document.querySelector('#waiting-count').textContent === ''", 60)
    found = await findings_with(live, words)
    assert {w: len(found[w]) for w in words} == dict.fromkeys(words, 1)
    assert [found[w][0][2] for w in words] == [1, 1, 0]  # each photo once, on its report
    assert all(found[w][0][1] is not None for w in words)  # placed and routed by position

    # a report the server refuses (its category withdrawn while it waited) says why
    await page.js(
        "(async () => { const [one] = await outboxAll(); const id = uuid4();"
        " await outboxPut(Object.assign({}, one, { id, body: Object.assign({}, one.body,"
        " { id, category: 'withdrawn_category', description: '已撤销的类别' }),"
        " state: 'waiting', finding: null, photos: [], photosSent: 0 })); await flush(); })()"
    )
    refused = "#outbox-list [data-state=refused]"
    await page.until(f"document.querySelector('{refused}') !== null", 60)
    assert "category" in await page.text(f"{refused} .error")

    # later loads come from the service worker: measure what still crosses the network
    page.received = 0
    await page.goto(f"{live.url}/m/")
    await page.until("!document.querySelector('#app').hidden")
    later_load = page.received
    print(
        f"\nphone app: one report took {seconds:.1f} s in the browser;"
        f" first load {first_load} bytes, later load {later_load} bytes (API reads included)"
    )
    assert outside(page, live.url) == []
    assert await page.js("window.__cspViolations") == []

    await page.js("document.querySelector('#lang').click()")
    await page.until("document.querySelector('#tab-report').textContent === 'Report'")
    await page.viewport(*DESKTOP)
    await page.js("document.querySelector('#tab-report').click()")
    await page.screenshot(SHOTS / "phone-report-wide.png")
    await page.close()


async def test_a_handler_accepts_photographs_and_submits_on_the_phone(
    browser: Browser, live: Live, tmp_path: Path
) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        inspector = await login("inspector")
        late = await post(client, inspector, description="超期：山海关路垃圾")
        await make_overdue(live.factory, str(late["id"]), datetime.now(UTC) - timedelta(days=2))
        await sweep(live.factory, live.settings, datetime.now(UTC))  # escalated: on its card
        task = await post(client, inspector, description="待办：居庸关路垃圾")
        r = await upload(client, inspector, str(task["id"]), make_jpeg(), kind="before")
        assert r.status_code == 201, r.text
    token = await device_token(live.factory, "handler.shinan.badaguan")
    after = tmp_path / "after.jpg"
    after.write_bytes(make_jpeg(640, 480))
    report = tmp_path / "清运记录.pdf"
    report.write_bytes(make_pdf())
    page = await phone(browser, live)
    await open_app(page, live, token)
    card = f"#task-list [data-id='{task['id']}']"
    await page.until(f'document.querySelector("{card}") !== null')
    # red first, then by deadline
    assert await page.js("document.querySelector('#task-list li').dataset.id") == late["id"]
    assert await page.js("document.querySelector('#task-list li .light').dataset.light") == "red"
    escalated = f"#task-list [data-id='{late['id']}'] details"
    assert "L1" in await page.js(f'document.querySelector("{escalated}").textContent')
    await accessible(page)
    await page.screenshot(SHOTS / "phone-tasks.png", full_page=True)

    await page.js(f'document.querySelector("{card} [data-action=accept]").click()')
    await page.until(f"document.querySelector(\"{card}\")?.dataset.status === 'accepted'")
    await page.set_files(f"{card} input[type=file]", after)
    await page.until(f"document.querySelector(\"{card} .result\").textContent === '照片已上传。'")
    # A report of the work goes with the submission as an attachment.
    await page.set_files(f"{card} input[data-attach]", report)
    listed = f'document.querySelector("{card} [data-testid=attached]").textContent'
    await page.until(f"{listed}.includes('清运记录.pdf')")
    await page.fill(f"{card} form[data-form=submit] input", "已清运")
    await page.js(f'document.querySelector("{card} form[data-form=submit]").requestSubmit()')
    await page.until(f'document.querySelector("{card}") === null')
    async with live.factory() as session:
        status = await session.scalar(
            text("SELECT status FROM findings WHERE id = :id"), {"id": task["id"]}
        )
        carried = await session.scalar(
            text(
                "SELECT e.payload -> 'attachments' -> 0 ->> 'name' FROM events e "
                "WHERE e.finding_id = :id AND e.action = 'submit'"
            ),
            {"id": task["id"]},
        )
    assert status == "submitted"
    assert carried == "清运记录.pdf"
    assert outside(page, live.url) == []
    await page.close()


async def log_in(page: Page, live: Live, username: str) -> None:
    await page.goto(f"{live.url}/ui/login")
    await page.fill("#username", username)
    await page.fill("#password", demo_password(username))
    await page.navigating("document.querySelector('form[action=\"/ui/login\"]').submit()")
    assert await page.text("[data-testid=username]") == username


async def desk_page(browser: Browser, live: Live, username: str) -> Page:
    page = await browser.new_page()
    await page.record_requests()
    await page.viewport(*DESKTOP)
    await log_in(page, live, username)
    return page


async def status_of(live: Live, fid: str) -> tuple[str, int]:
    async with live.factory() as session:
        row = (
            await session.execute(
                text("SELECT status, rework_count FROM findings WHERE id = :id"), {"id": fid}
            )
        ).one()
        return str(row[0]), int(row[1])


async def test_the_verifier_rejects_once_then_verifies(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        inspector = await login("inspector")
        f = await post(client, inspector, description="待核验：居庸关路垃圾")
        fid = str(f["id"])
        assert (await upload(client, inspector, fid, make_jpeg(), kind="before")).status_code == 201
        street = await login("handler.shinan.badaguan")

        async def rectify() -> None:
            assert (await act(client, street, fid, "accept")).status_code in (200, 409)
            r = await upload(client, street, fid, make_jpeg(seed=time.monotonic_ns() % 1000))
            assert r.status_code == 201, r.text
            assert (await act(client, street, fid, "submit", note="已清运")).status_code == 200

        await rectify()
        page = await desk_page(browser, live, "verifier")
        await page.goto(f"{live.url}/ui/desk/verify")
        row = f"[data-finding='{fid}']"
        assert await page.js(f'document.querySelectorAll("{row} img").length') == 2
        await accessible(page)
        await page.screenshot(SHOTS / "desk-verify.png", full_page=True)
        await page.viewport(*PHONE, mobile=True)
        await page.screenshot(SHOTS / "desk-verify-phone.png")
        await page.viewport(*DESKTOP)
        await page.fill(f"{row} form:has([value=reject]) input[name=note]", "仍有垃圾残留")
        await page.navigating(
            f'document.querySelector("{row} form:has([value=reject])").requestSubmit()'
        )
        assert "已驳回" in await page.text("main")
        assert await status_of(live, fid) == ("accepted", 1)

        r = await upload(client, street, fid, make_jpeg(seed=7))
        assert r.status_code == 201, r.text
        assert (await act(client, street, fid, "submit", note="再次清运")).status_code == 200
        await page.goto(f"{live.url}/ui/desk/verify")
        await page.navigating(
            f'document.querySelector("{row} form:has([value=verify])").requestSubmit()'
        )
        assert "已核验通过" in await page.text("main")
        assert await status_of(live, fid) == ("closed", 1)
        assert outside(page, live.url) == []
        await page.close()


async def test_the_dispatcher_dispatches_a_queued_report(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        f = await post(client, await login("inspector"), description="待派单：居庸关路垃圾")
        fid = str(f["id"])
        r = await act(client, await login("handler.shinan"), fid, "return", note="非本区职责")
        assert r.status_code == 200, r.text
        r = await act(client, await login("dispatcher"), fid, "approve_return")
        assert r.status_code == 200, r.text
    page = await desk_page(browser, live, "dispatcher")
    await page.goto(f"{live.url}/ui/desk/dispatch")
    row = f"[data-finding='{fid}']"
    assert "非本区职责" in await page.text(row)
    assert await page.js(f'document.querySelector("{row} select").value') == "shinan.badaguan"
    await accessible(page)
    await page.screenshot(SHOTS / "desk-dispatch.png", full_page=True)
    await page.navigating(f'document.querySelector("{row} button[name=only]").click()')
    assert "已派单" in await page.text("main")
    assert (await status_of(live, fid))[0] == "assigned"
    await page.viewport(*PHONE, mobile=True)
    await page.screenshot(SHOTS / "desk-dispatch-phone.png")
    assert outside(page, live.url) == []
    await page.close()


async def test_the_leader_acknowledges_on_the_desk(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        f = await post(client, await Login(client)("inspector"), description="超期：八大关垃圾")
    await make_overdue(live.factory, str(f["id"]), datetime.now(UTC) - timedelta(days=6))
    await sweep(live.factory, live.settings, datetime.now(UTC))
    page = await desk_page(browser, live, "leader.shinan")
    await page.goto(f"{live.url}/ui/desk/lead")
    assert await page.js("document.querySelectorAll('[data-testid=level-2] form.ack').length") >= 1
    await accessible(page)
    await page.fill("[data-testid=level-2] form.ack textarea", "限三日内整改到位")
    await page.navigating("document.querySelector('[data-testid=level-2] form.ack').submit()")
    assert "批示已记录" in await page.text("main")
    assert "限三日内整改到位" in await page.text("[data-testid=level-2]")
    await page.screenshot(SHOTS / "desk-lead.png", full_page=True)
    await page.close()


async def test_the_findings_list_filters_and_exports(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        inspector = await Login(client)("inspector")
        await post(client, inspector, description="清单：居庸关路垃圾")
        await post(client, inspector, category="damaged_road", description="清单：山海关路破损")
    page = await desk_page(browser, live, "supervisor")
    await page.goto(f"{live.url}/ui/findings?category=damaged_road")
    listed = await page.text("[data-testid=findings]")
    assert "清单：山海关路破损" in listed
    assert "清单：居庸关路垃圾" not in listed
    await accessible(page)
    await page.screenshot(SHOTS / "findings.png")
    link = await page.js("document.querySelector('[data-testid=export-xlsx]').href")
    size = await page.js(f"fetch({json.dumps(link)}).then(r => r.blob()).then(b => b.size)")
    assert size > 1000
    await page.close()


async def progress_notes(live: Live, fid: str) -> list[str]:
    async with live.factory() as session:
        rows = await session.execute(
            text(
                "SELECT payload->>'note' FROM events WHERE finding_id = :id AND action = 'progress'"
            ),
            {"id": fid},
        )
        return [r[0] for r in rows]


async def test_on_the_phone_a_co_handling_unit_only_adds_progress(
    browser: Browser, live: Live
) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        shared = await post(client, await login("inspector"), description="协办：香港西路占道")
        r = await act(
            client,
            await login("dispatcher"),
            str(shared["id"]),
            "transfer",
            unit="shinan",
            note="区里牵头",
            co_units=["shinan.cgj"],
        )
        assert r.status_code == 200, r.text
    # The bureau co-handles: its card names the lead and offers progress only.
    page = await phone(browser, live)
    await open_app(page, live, await device_token(live.factory, "handler.shinan.cgj"))
    card = f"#task-list [data-id='{shared['id']}']"
    await page.until(f'document.querySelector("{card}") !== null')
    assert await page.js(f'document.querySelector("{card} [data-co]") !== null')
    forms = await page.js(
        f'[...document.querySelectorAll("{card} [data-form], {card} [data-action]")]'
        ".map((e) => e.dataset.form || e.dataset.action)"
    )
    assert set(forms) == {"progress"}
    await accessible(page)
    await page.fill(f"{card} form[data-form=progress] input", "已派人清理")
    await page.js(f'document.querySelector("{card} form[data-form=progress]").requestSubmit()')
    notes, _ = await wait_for(lambda: progress_notes(live, str(shared["id"])), bool, within=30)
    assert notes == ["已派人清理"]
    assert outside(page, live.url) == []
    await page.close()


async def test_on_the_phone_a_return_waits_for_the_dispatcher(browser: Browser, live: Live) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        mine = await post(
            client, await Login(client)("inspector"), description="退回：居庸关路杂物"
        )
    page = await phone(browser, live)
    await open_app(page, live, await device_token(live.factory, "handler.shinan.badaguan"))
    card = f"#task-list [data-id='{mine['id']}']"
    await page.until(f'document.querySelector("{card}") !== null')
    await page.fill(f"{card} form[data-form=return] input", "属城管局设施")
    await page.js(f'document.querySelector("{card} form[data-form=return]").requestSubmit()')
    # It stays on the list, saying it waits for the dispatcher, with no second request.
    await page.until(f'document.querySelector("{card}")?.textContent.includes("待派单员审批")')
    assert await page.js(f'document.querySelector("{card} form[data-form=return]") === null')
    async with live.factory() as session:
        row = (
            await session.execute(
                text("SELECT status, return_requested_at IS NOT NULL FROM findings WHERE id = :id"),
                {"id": mine["id"]},
            )
        ).one()
    assert tuple(row) == ("assigned", True)
    assert outside(page, live.url) == []
    await page.close()


async def test_a_handler_asks_on_the_phone_to_suspend_and_resumes_once_approved(
    browser: Browser, live: Live
) -> None:
    """挂账 on the phone: the handler picks a reason, the expected date and details; the
    request shows on the card; once the office approved it the card is suspended with only
    a resume button, which puts it back where it was."""
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        login = Login(client)
        task = await post(client, await login("inspector"), description="挂账：违建待拆")
        office = await login("dispatcher")
    token = await device_token(live.factory, "handler.shinan.badaguan")
    page = await phone(browser, live)
    await open_app(page, live, token)
    card = f"#task-list [data-id='{task['id']}']"
    await page.until(f'document.querySelector("{card}") !== null')
    form = f"{card} form[data-form=request_suspension]"
    await page.js(f'document.querySelector("{card} details.suspension").open = true')
    await page.js(f'document.querySelector("{form} select").value = "funding"')
    day = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    await page.fill(f"{form} input[type=date]", day)
    await page.fill(f"{form} input[name=note]", "拆除资金待财政拨付")
    await accessible(page)
    await page.js(f'document.querySelector("{form}").requestSubmit()')
    await page.until(f'document.querySelector("{card} [data-suspension=requested]") !== null')
    async with live.factory() as session:
        row = (
            await session.execute(
                text("SELECT reason, note, state FROM suspensions WHERE finding_id = :id"),
                {"id": task["id"]},
            )
        ).one()
    assert tuple(row) == ("funding", "拆除资金待财政拨付", "requested")

    async with AsyncClient(base_url=live.url, timeout=30) as client:
        r = await act(client, office, str(task["id"]), "approve_suspension")
        assert r.status_code == 200, r.text
    await page.goto(f"{live.url}/m/")
    await page.until(f"document.querySelector(\"{card}\")?.dataset.status === 'suspended'")
    assert await page.js(f'document.querySelector("{card} [data-action=accept]")') is None
    await page.js(f'document.querySelector("{card} form[data-form=resume]").requestSubmit()')
    await page.until(f"document.querySelector(\"{card}\")?.dataset.status === 'assigned'")
    assert outside(page, live.url) == []
    await page.close()
