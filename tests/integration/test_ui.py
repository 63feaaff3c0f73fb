"""The web dashboard at /ui, server side: login, pages, scope, the acknowledgement form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.ui.queries import trend_weeks
from services.core.platform.settings import Settings
from tests.helpers import (
    Login,
    csrf_of,
    demo_password,
    escalations,
    execute,
    login_form,
    make_overdue,
    make_pdf,
    post,
    query,
    sweep,
    ui_login,
)


async def overdue_finding(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    **kwargs: Any,
) -> str:
    """A finding in 八大关街道 (市南区) escalated to L1 and L2 (the district head)."""
    f = await post(client, await login("inspector"), **kwargs)
    due = datetime.now(UTC) - timedelta(days=6)
    await make_overdue(factory, f["id"], due)
    await sweep(factory, settings, datetime.now(UTC))
    fired = await escalations(factory, f["id"])
    assert [e.level for e in fired][:2] == [1, 2]
    return str(f["id"])


async def test_pages_need_a_login_and_the_login_form_works(client: AsyncClient) -> None:
    r = await client.get("/ui/escalations?level=2")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Fescalations%3Flevel%3D2"
    page = await client.get("/ui/login")
    assert page.status_code == 200
    assert "登录" in page.text
    csrf = csrf_of(page.text)
    bad = await client.post(
        "/ui/login",
        data={"username": "supervisor", "password": "wrong", "next": "/ui", "csrf": csrf},
    )
    assert bad.status_code == 401
    assert "用户名或密码错误" in bad.text
    assert "duban_session" not in bad.headers.get("set-cookie", "")
    # an outside address in `next` is never followed
    r = await client.post(
        "/ui/login",
        data={
            "username": "supervisor",
            "password": demo_password("supervisor"),
            "next": "https://evil.example/",
            "csrf": await login_form(client),
        },
    )
    assert r.headers["location"] == "/ui"


async def test_supervisor_sees_the_ranking_trend_and_most_overdue_district(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await overdue_finding(client, login, factory, settings)
    await ui_login(client, "supervisor")
    r = await client.get("/ui")
    assert r.status_code == 200
    assert 'data-testid="ranking"' in r.text
    assert "市南区" in r.text
    assert "<svg" in r.text  # the trend chart, inline
    assert re.search(
        r'data-testid="most-overdue">[^<]*<a href="/ui/escalations\?district=shinan"', r.text
    )
    # English on request, remembered in a cookie
    en = await client.get("/ui?lang=en")
    assert "Districts ranked" in en.text
    assert "duban_lang=en" in en.headers["set-cookie"]
    again = await client.get("/ui")
    assert "Districts ranked" in again.text


# Copies of a reported finding moved back in time: open and routed, open and never routed,
# rectified, closed as a duplicate (closed ones land in the closed-findings roll-up).
BACKDATED = """
INSERT INTO findings (id, source, category_id, severity, description, lat, lon,
  responsible_unit_id, district_id, observed_at, reported_at, reporter_id, status,
  close_reason, due_at, submitted_at, closed_at, request_hash)
SELECT gen_random_uuid(), source, category_id, severity, 'backdated', lat, lon,
  CASE WHEN v.status = 'reported' THEN NULL ELSE responsible_unit_id END, district_id,
  reported_at - v.back, reported_at - v.back, reporter_id, v.status, v.reason, due_at,
  CASE WHEN v.reason IS NULL THEN NULL ELSE reported_at - v.back END,
  CASE WHEN v.reason IS NULL THEN NULL ELSE reported_at - v.back END, 'backdated'
FROM findings CROSS JOIN (VALUES
  ('assigned', NULL, interval '7 days'), ('assigned', NULL, interval '7 days'),
  ('reported', NULL, interval '14 days'), ('closed', 'rectified', interval '14 days'),
  ('closed', 'rectified', interval '21 days'), ('closed', 'duplicate', interval '35 days'),
  ('closed', 'rectified', interval '70 days')
) AS v(status, reason, back)
WHERE findings.id = :id
"""


async def test_trend_bars_count_every_finding_reported_each_week(
    client: AsyncClient, login: Login, settings: Settings, database_url: str
) -> None:
    f = await post(client, await login("inspector"))
    await execute(database_url, BACKDATED, id=f["id"])
    await ui_login(client, "supervisor")
    r = await client.get("/ui")
    assert r.status_code == 200
    bars = [int(n) for n in re.findall(r'class="bar"><title>[\d-]+: (\d+)</title>', r.text)]
    expected = [
        n
        for ((n,),) in [
            await query(
                database_url,
                "SELECT count(*) FROM findings WHERE reported_at >= :a AND reported_at < :b",
                a=a,
                b=b,
            )
            for a, b in trend_weeks(datetime.now(UTC), ZoneInfo(settings.timezone))
        ]
    ]
    assert bars == expected
    # this week's report, and the six copies of the last five weeks; not the one of ten weeks
    assert sum(bars) == 7
    assert sum(n > 0 for n in bars) >= 4


async def test_escalation_filters_pagination_links_and_csv_with_the_cookie(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await overdue_finding(client, login, factory, settings)
    await ui_login(client, "supervisor")
    r = await client.get("/ui/escalations?district=shinan&level=2&status=open")
    assert r.status_code == 200
    assert r.text.count('<span class="lv lv2">L2</span>') == 1
    assert "L1</span>" not in r.text.split('data-testid="escalations"')[1]
    assert (
        "/api/v1/escalations?format=csv&amp;district=shinan&amp;level=2&amp;status=open" in r.text
    )
    # the export link works in the browser: the session cookie authenticates API reads
    csv = await client.get("/api/v1/escalations?format=csv&district=shinan&level=2")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 2
    other = await client.get("/ui/escalations?district=licang")
    assert "没有记录" in other.text
    bad = await client.get("/ui/escalations?district=atlantis")
    assert bad.status_code == 422
    assert "筛选条件有误" in bad.text


async def test_cookie_never_authenticates_api_writes(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await overdue_finding(client, login, factory, settings)
    await ui_login(client, "leader.shinan")
    r = await client.post("/api/v1/escalations/1/acknowledge", json={"instruction": "x"})
    assert r.status_code == 401


async def test_leader_acknowledges_on_the_finding_page(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid = await overdue_finding(client, login, factory, settings)
    await ui_login(client, "leader.shinan")
    page = await client.get(f"/ui/findings/{fid}")
    assert page.status_code == 200
    assert 'data-testid="timeline"' in page.text
    assert page.text.count('action="/ui/escalations/') == 1  # only the L2 addressed to them
    l2 = next(e for e in await escalations(factory, fid) if e.level == 2)
    form = f'action="/ui/escalations/{l2.id}/acknowledge"'
    assert form in page.text
    # no CSRF token, no acknowledgement
    r = await client.post(f"/ui/escalations/{l2.id}/acknowledge", data={"instruction": "速办"})
    assert r.status_code == 403
    r = await client.post(
        f"/ui/escalations/{l2.id}/acknowledge",
        data={"instruction": "限三日内整改到位", "csrf": csrf_of(page.text)},
    )
    assert r.status_code == 303
    done = await client.get(r.headers["location"])
    assert "批示已记录" in done.text
    assert "限三日内整改到位" in done.text
    assert form not in done.text
    # a second acknowledgement is refused on the page, not with an error document
    again = await client.post(
        f"/ui/escalations/{l2.id}/acknowledge",
        data={"instruction": "再批", "csrf": csrf_of(done.text)},
    )
    assert again.status_code == 409
    assert 'role="alert"' in again.text


async def test_a_leader_replies_with_a_file_and_a_refused_file_keeps_nothing(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid = await overdue_finding(client, login, factory, settings)
    await ui_login(client, "leader.shinan")
    page = await client.get(f"/ui/findings/{fid}")
    l2 = next(e for e in await escalations(factory, fid) if e.level == 2)
    url = f"/ui/escalations/{l2.id}/acknowledge"
    # A file that is no document: refused on the page, no reply and no file kept.
    refused = await client.post(
        url,
        data={"instruction": "限期整改", "csrf": csrf_of(page.text)},
        files={"file": ("附表.pdf", b"MZ not a pdf", "application/pdf")},
    )
    assert refused.status_code == 415
    assert 'role="alert"' in refused.text
    async with factory() as session:
        count = await session.scalar(text("SELECT count(*) FROM attachments"))
        acked = await session.scalar(
            text("SELECT acknowledged_at FROM escalations WHERE id = :id"), {"id": l2.id}
        )
    assert count == 0
    assert acked is None
    r = await client.post(
        url,
        data={"instruction": "限期整改，见附表", "csrf": csrf_of(refused.text)},
        files={"file": ("整改要求.pdf", make_pdf(), "application/pdf")},
    )
    assert r.status_code == 303, r.text
    done = await client.get(r.headers["location"])
    assert 'data-testid="attachments"' in done.text
    assert "整改要求.pdf" in done.text


async def test_out_of_scope_is_the_404_page(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid = await overdue_finding(client, login, factory, settings)
    await ui_login(client, "handler.licang.xiaocun")
    r = await client.get(f"/ui/findings/{fid}")
    assert r.status_code == 404
    assert "不在您的权限范围内" in r.text
    overview = await client.get("/ui")
    assert 'data-testid="ranking"' not in overview.text  # the ranking is for supervisors
    escalations_page = await client.get("/ui/escalations")
    assert fid not in escalations_page.text
    map_page = await client.get("/ui/map")
    assert fid not in map_page.text
    assert (await client.get("/ui/findings/not-a-uuid")).status_code == 404


async def test_map_and_exposure_video_pages_render(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid = await overdue_finding(client, login, factory, settings)
    video_id = "0193b2c4-0000-7000-8000-0000000000aa"
    r = await client.post(
        "/api/v1/exposure-videos",
        headers=await login("dispatcher"),
        json={
            "id": video_id,
            "title": "创城曝光台 第12期",
            "aired_on": "2026-11-25",
            "rectify_within": {"working_days": 5},
            "segments": [
                {
                    "offset": "03:15",
                    "category": "exposed_garbage",
                    "description": "居庸关路垃圾堆放未清运",
                    "location": {"lat": 36.0571, "lon": 120.3466},
                    "unit": "shinan.badaguan",
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    await ui_login(client, "supervisor")
    m = await client.get("/ui/map")
    assert m.status_code == 200
    assert f'href="/ui/findings/{fid}"' in m.text
    assert 'class="pt overdue"' in m.text
    assert "市南区" in m.text
    assert "李沧区" in m.text
    videos = await client.get("/ui/exposure-videos")
    assert "创城曝光台 第12期" in videos.text
    one = await client.get(f"/ui/exposure-videos/{video_id}")
    assert one.status_code == 200
    assert "居庸关路垃圾堆放未清运" in one.text
    assert (await client.get("/ui/exposure-videos/" + "0" * 32)).status_code == 404
