"""The weekly briefing (通报): the red and black lists, the longest-overdue items with the
leaders who answer for them, the Monday 08:00 job, and the XLSX and HTML renderings.

The data is the escalation scenario of tests/integration/test_escalations_api.py, reported this week
(2026-W48 on the test machine's clock; the escalations fired in W47):

- 市南区: 八大关 overdue since 11-02 (weight 1) and the 湛山 exposure video overdue (weight 2):
  100 − 2 × 3 = 94, the worst;
- 李沧区 (李村) and 莱西市 (城管局, head vacant): one overdue item each, 98;
- every other district: nothing reported, 100.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import WeeklyBriefing
from services.core.platform.settings import Settings
from services.worker.briefing import weekly_briefing
from services.worker.settings import build as build_worker
from tests.helpers import Login, Scenario, build, job_context, post

URL = "/api/v1/briefings/weekly"
TZ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def this_week() -> str:
    year, number, _ = datetime.now(TZ).isocalendar()
    return f"{year}-W{number:02d}"


async def head_of(factory: async_sessionmaker[AsyncSession], unit: str) -> tuple[str, str]:
    async with factory() as session:
        row = (
            await session.execute(
                text(
                    "SELECT p.name, p.title FROM people p JOIN posts s ON s.person_id = p.id "
                    "JOIN units u ON u.id = s.unit_id WHERE u.code = :u AND s.role = 'head' "
                    "AND s.valid_to IS NULL"
                ),
                {"u": unit},
            )
        ).one()
        return row[0], row[1]


async def scenario(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Scenario:
    return await build(client, login, factory, settings)


async def test_week_of_known_data_ranks_and_lists_the_overdue_with_their_leaders(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await scenario(client, login, factory, settings)
    supervisor = await login("supervisor")
    r = await client.get(URL, params={"week": this_week()}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert r.headers["x-briefing-edition"] == "live"
    b = r.json()
    assert b["week"] == this_week()

    by_code = {d["code"]: d for d in b["districts"]}
    assert by_code["shinan"]["score"] == 94
    assert by_code["licang"]["score"] == by_code["laixi"]["score"] == 98
    assert [d["code"] for d in b["bottom"]] == ["shinan", "laixi", "licang"]
    # The four districts with nothing reported share rank 1: all four are on the 红榜.
    assert [d["code"] for d in b["top"]] == ["jiaozhou", "pingdu", "shibei", "xihaian"]
    assert all(d["score"] == 100 and d["rank"] == 1 for d in b["top"])
    # The ranking is the stats' ranking of the same window.
    stats = await client.get(
        "/api/v1/stats/units",
        params={"level": "district", "since": b["starts_at"], "until": b["ends_at"]},
        headers=supervisor,
    )
    assert stats.status_code == 200, stats.text
    ranked = {u["unit"]["code"]: u["rank"] for u in stats.json()["items"]}
    assert {code: d["rank"] for code, d in by_code.items()} == ranked

    overdue = b["overdue"]
    assert [o["finding_id"] for o in overdue[:2]] == [s.badaguan, s.xiaocun]
    assert {o["finding_id"] for o in overdue[2:]} == {s.laixi, s.video}
    first = overdue[0]
    assert (first["leader_name"], first["leader_title"]) == await head_of(
        factory, "shinan.badaguan"
    )
    assert first["level"] == 4
    assert first["days_overdue"] > 20
    assert first["district"] == "市南区"
    # Times in the city's zone, with the offset: 2026-11-02 09:30 UTC.
    assert first["due_at"] == "2026-11-02T17:30:00+08:00"
    assert b["starts_at"].endswith("T00:00:00+08:00")
    laixi = next(o for o in overdue if o["finding_id"] == s.laixi)
    assert laixi["leader_name"] is None  # the post is vacant
    video = next(o for o in overdue if o["finding_id"] == s.video)
    assert video["leader_name"] == (await head_of(factory, "shinan.zhanshan"))[0]

    assert [i["finding_id"] for i in b["exposure"]] == [s.video]
    assert b["recurrences"] == []


async def test_recurrences_of_the_week_are_listed(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector = await login("inspector")
    first, again = await post(client, inspector), await post(client, inspector)
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET recurrence_of = :a WHERE id = :b"),
            {"a": uuid.UUID(first["id"]), "b": uuid.UUID(again["id"])},
        )
    r = await client.get(URL, params={"week": this_week()}, headers=await login("supervisor"))
    recurrences = r.json()["recurrences"]
    assert [(i["finding_id"], i["recurrence_of"]) for i in recurrences] == [
        (again["id"], first["id"])
    ]


async def test_xlsx_and_html_renderings(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await scenario(client, login, factory, settings)
    supervisor = await login("supervisor")
    week = this_week()

    r = await client.get(URL, params={"week": week, "format": "xlsx"}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert f'filename="briefing-{week}.xlsx"' in r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["区市排名", "红黑榜", "逾期事项", "曝光问题", "反复问题",
                               "点位覆盖", "整改承诺", "逾期承诺"]  # fmt: skip
    ranking = list(book["区市排名"].iter_rows(values_only=True))
    assert ranking[0][:3] == ("排名", "区市", "得分")
    assert "市南区" in [row[1] for row in ranking]
    assert book["区市排名"].freeze_panes == "A2"
    lists = list(book["红黑榜"].iter_rows(values_only=True))
    assert [row[2] for row in lists if row[0] == "黑榜"] == ["市南区", "莱西市", "李沧区"]
    overdue = list(book["逾期事项"].iter_rows(values_only=True))
    assert overdue[1][0] == s.badaguan
    assert isinstance(overdue[1][5], datetime)
    assert overdue[1][8] == (await head_of(factory, "shinan.badaguan"))[0]
    assert "(空缺)" in [row[8] for row in overdue]

    # Accept picks the rendering when format is not given.
    r = await client.get(URL, params={"week": week}, headers={**supervisor, "Accept": XLSX})
    assert r.headers["content-type"] == XLSX

    r = await client.get(URL, params={"week": week, "format": "html"}, headers=supervisor)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for section in ("各区市工作情况", "红榜", "黑榜", "逾期时间最长", "新增曝光问题", "反复"):
        assert section in page
    assert (await head_of(factory, "shinan.badaguan"))[0] in page
    assert "岗位空缺" in page
    # The formula-like description is escaped text, never markup.
    assert "HYPERLINK(&#34;http://evil&#34;)" in page or "HYPERLINK(&quot;" in page


@pytest.mark.parametrize("week", ["2026-48", "2026-W54", "2025-W53", "W48", "2026-W00"])
async def test_a_bad_week_is_a_422_naming_week(
    client: AsyncClient, login: Login, week: str
) -> None:
    r = await client.get(URL, params={"week": week}, headers=await login("supervisor"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["week"]


async def test_who_may_read_and_regenerate(client: AsyncClient, login: Login) -> None:
    week = {"week": this_week()}
    for reader in ("supervisor", "admin", "leader.city"):
        r = await client.get(URL, params=week, headers=await login(reader))
        assert r.status_code == 200, reader
    for outsider in ("inspector", "handler.shinan"):
        assert (
            await client.get(URL, params=week, headers=await login(outsider))
        ).status_code == 403
    leader = await login("leader.city")
    assert (await client.post(URL, params=week, headers=leader)).status_code == 403


async def test_on_demand_regeneration_stores_one_edition_per_week(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    supervisor = await login("supervisor")
    week = {"week": "2026-W40"}
    first = await client.post(URL, params=week, headers=supervisor)
    assert first.status_code == 200, first.text
    second = await client.post(URL, params=week, headers=supervisor)
    assert second.json()["generated_at"] >= first.json()["generated_at"]
    r = await client.get(URL, params=week, headers=supervisor)
    assert r.headers["x-briefing-edition"] == "stored"
    assert r.json()["generated_at"] == second.json()["generated_at"]
    assert await editions(factory) == {"2026-W40": 1}


async def editions(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(
            select(WeeklyBriefing.week, func.count()).group_by(WeeklyBriefing.week)
        )
        return {str(week): int(n) for week, n in rows}


async def test_monday_job_stores_the_week_just_ended(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await scenario(client, login, factory, settings)
    # Next Monday 08:00 in Qingdao, one second past: the week of the scenario just ended.
    today = datetime.now(TZ).date()
    monday = today + timedelta(days=7 - today.weekday())
    now = datetime(monday.year, monday.month, monday.day, 8, 0, 1, tzinfo=TZ)
    ctx = job_context(sessionmaker=factory, settings=settings)
    assert await weekly_briefing(ctx, now) == this_week()
    assert await weekly_briefing(ctx, now) == this_week()  # a rerun replaces, never adds
    assert await editions(factory) == {this_week(): 1}

    r = await client.get(URL, params={"week": this_week()}, headers=await login("supervisor"))
    assert r.headers["x-briefing-edition"] == "stored"
    b = r.json()
    assert datetime.fromisoformat(b["generated_at"]) == now
    assert datetime.fromisoformat(b["as_of"]) == datetime.fromisoformat(b["ends_at"])
    assert [d["code"] for d in b["bottom"]] == ["shinan", "laixi", "licang"]
    assert b["overdue"][0]["finding_id"] == s.badaguan


def test_the_job_is_scheduled_monday_0800_in_the_city_whatever_the_machine_zone(
    settings: Settings,
) -> None:
    worker = build_worker(settings)
    assert worker["timezone"] == ZoneInfo(settings.timezone)
    (job,) = [c for c in worker["cron_jobs"] if c.name.endswith("weekly_briefing")]
    assert job.unique
    # arq computes the next run in the worker's zone: from Thursday noon in Qingdao, the
    # next run is Monday 08:00 there (00:00 UTC), not 08:00 UTC.
    job.calculate_next(datetime(2026, 11, 26, 12, 0, tzinfo=worker["timezone"]))
    assert job.next_run == datetime(2026, 11, 30, 8, 0, tzinfo=TZ)
    assert job.next_run.astimezone(UTC) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
