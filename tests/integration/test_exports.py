"""XLSX exports of the findings and escalation lists: what the office opens in Excel.

The escalation scenario of tests/integration/test_escalations_api.py (a 市南区 street 12
working days late, 李沧区 with two levels, 莱西市 with a vacant post, a 市南区 exposure video whose
description looks like a formula) is exported and read back with openpyxl.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from httpx import AsyncClient, Response
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.escalation_csv import HEADERS
from services.api.routes.exports import FINDING_HEADERS
from services.core.platform.settings import Settings
from tests.helpers import T2, Login, build

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TZ = ZoneInfo("Asia/Shanghai")


def sheet_of(r: Response) -> tuple[Any, list[tuple[Any, ...]]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    return ws, list(ws.iter_rows(values_only=True))


def column(rows: list[tuple[Any, ...]], header: str) -> list[Any]:
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]


async def test_findings_xlsx_has_chinese_headers_dates_and_a_frozen_header(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await build(client, login, factory, settings)
    supervisor = await login("supervisor")
    r = await client.get("/api/v1/findings", params={"format": "xlsx"}, headers=supervisor)
    ws, rows = sheet_of(r)
    assert rows[0] == FINDING_HEADERS
    assert ws.freeze_panes == "A2"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="findings-')
    assert "问题清单-" in unquote(disposition)
    assert r.headers["x-export-truncated"] == "false"
    ids = column(rows, "问题编号")
    assert {s.badaguan, s.xiaocun, s.laixi, s.video} <= set(ids)
    assert int(r.headers["x-export-rows"]) == len(ids)

    row = rows[1 + ids.index(s.badaguan)]
    due = row[FINDING_HEADERS.index("整改期限")]
    # A real Excel date, the wall-clock time in Qingdao: 2026-11-02 09:30 UTC is 17:30 there.
    assert isinstance(due, datetime)
    assert due == datetime(2026, 11, 2, 17, 30)
    assert isinstance(row[FINDING_HEADERS.index("上报时间")], datetime)
    assert row[FINDING_HEADERS.index("区市")] == "市南区"
    assert row[FINDING_HEADERS.index("是否逾期")] == "是"

    # The formula-like description stays text.
    video = rows[1 + ids.index(s.video)]
    assert video[FINDING_HEADERS.index("问题描述")].startswith("'=HYPERLINK")
    assert video[FINDING_HEADERS.index("来源")] == "曝光视频"


async def test_findings_xlsx_applies_filters_and_scope(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await build(client, login, factory, settings)
    supervisor = await login("supervisor")
    r = await client.get(
        "/api/v1/findings", params={"format": "xlsx", "district": "licang"}, headers=supervisor
    )
    _, rows = sheet_of(r)
    assert column(rows, "问题编号") == [s.xiaocun]

    badaguan = await login("handler.shinan.badaguan")
    _, rows = sheet_of(
        await client.get("/api/v1/findings", params={"format": "xlsx"}, headers=badaguan)
    )
    ids = column(rows, "问题编号")
    assert s.badaguan in ids
    assert s.xiaocun not in ids
    assert s.laixi not in ids
    assert set(column(rows, "区市")) == {"市南区"}

    r = await client.get(
        "/api/v1/findings", params={"format": "xlsx", "district": "nowhere"}, headers=supervisor
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "district"


async def test_escalations_xlsx_shares_the_csv_columns_with_filters_and_scope(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await build(client, login, factory, settings)
    supervisor = await login("supervisor")
    r = await client.get("/api/v1/escalations", params={"format": "xlsx"}, headers=supervisor)
    ws, rows = sheet_of(r)
    assert rows[0] == HEADERS
    assert ws.freeze_panes == "A2"
    assert 'filename="escalations-' in r.headers["content-disposition"]
    assert r.headers["x-export-truncated"] == "false"
    findings = column(rows, "问题编号")
    assert findings.count(s.badaguan) == 4
    assert findings.count(s.xiaocun) == 2

    fired = column(rows, "督办时间")
    assert all(isinstance(v, datetime) for v in fired)
    assert T2.astimezone(TZ).replace(tzinfo=None) in fired

    # The same rows as the CSV, cell for cell once the times are printed alike.
    csv = await client.get("/api/v1/escalations", params={"format": "csv"}, headers=supervisor)
    assert csv.text.count("\n") == len(rows)

    level4 = await client.get(
        "/api/v1/escalations", params={"format": "xlsx", "level": 4}, headers=supervisor
    )
    _, rows4 = sheet_of(level4)
    assert column(rows4, "问题编号") == [s.badaguan]
    assert column(rows4, "级别") == [4]

    xiaocun = await login("handler.licang.xiaocun")
    _, mine = sheet_of(
        await client.get("/api/v1/escalations", params={"format": "xlsx"}, headers=xiaocun)
    )
    assert set(column(mine, "问题编号")) == {s.xiaocun}
    assert set(column(mine, "区市")) == {"李沧区"}


async def test_an_empty_export_still_has_its_header(client: AsyncClient, login: Login) -> None:
    r = await client.get(
        "/api/v1/escalations",
        params={"format": "xlsx", "since": datetime(2030, 1, 1, tzinfo=UTC).isoformat()},
        headers=await login("supervisor"),
    )
    _, rows = sheet_of(r)
    assert rows == [HEADERS]
    assert r.headers["x-export-rows"] == "0"
