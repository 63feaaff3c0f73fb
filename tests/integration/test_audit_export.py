"""The audit export (GET /findings/events): the events of a filtered set of findings, in the
caller's scope, as CSV and XLSX, with a row limit."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from httpx import AsyncClient, Response
from openpyxl import load_workbook

from services.api.audit_export import AUDIT_HEADERS
from tests.helpers import Login, act, assert_problem, fields, post

EXPORT = "/api/v1/findings/events"


def csv_rows(r: Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    reader = csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))
    assert tuple(reader.fieldnames or ()) == AUDIT_HEADERS
    return list(reader)


async def _two_districts(client: AsyncClient, login: Login) -> tuple[dict[str, Any], str]:
    """A 市南区 finding accepted and returned (report, accept, the unit's request to return, the
    dispatcher's approval: 4 events or more) and a
    李沧区 one just reported."""
    inspector = await login("inspector")
    shinan = await post(client, inspector)
    handler = await login("handler.shinan.badaguan")
    r = await act(client, handler, shinan["id"], "accept", note="收到")
    assert r.status_code == 200, r.text
    r = await act(client, handler, shinan["id"], "return", note="=不归我们管")
    assert r.status_code == 200, r.text
    r = await act(client, await login("dispatcher"), shinan["id"], "approve_return", note="同意")
    assert r.status_code == 200, r.text
    licang = await post(
        client, inspector, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322}
    )
    return shinan, licang["id"]


async def test_events_of_the_filtered_findings_in_the_order_written(
    client: AsyncClient, login: Login
) -> None:
    shinan, licang = await _two_districts(client, login)
    supervisor = await login("supervisor")
    trail = (await client.get(f"/api/v1/findings/{shinan['id']}/events", headers=supervisor)).json()

    rows = csv_rows(await client.get(EXPORT, params={"district": "shinan"}, headers=supervisor))
    assert {r["问题编号"] for r in rows} == {shinan["id"]}
    # Every event of its trail, oldest first, with who did what and the note.
    assert [int(r["事件编号"]) for r in rows] == [e["id"] for e in trail["items"]]
    by_action = {r["操作"]: r for r in rows}
    assert by_action["签收整改"]["操作人"] == "handler.shinan.badaguan"
    assert by_action["签收整改"]["说明"] == "收到"
    asked = by_action["申请退回"]
    # A note that looks like a formula stays text.
    assert asked["说明"] == "'=不归我们管"
    assert (asked["原状态"], asked["新状态"]) == ("已签收", "已签收")
    returned = by_action["同意退回"]
    assert returned["操作人"] == "dispatcher"
    assert returned["原状态"] == "已签收"
    assert returned["新状态"] == "待派遣"
    assert "shinan.badaguan" in returned["详情"]

    # The same filters as the list: the 市南区 one was returned, the 李沧区 one is assigned.
    reported = csv_rows(await client.get(EXPORT, params={"status": "reported"}, headers=supervisor))
    assert {r["问题编号"] for r in reported} == {shinan["id"]}
    everything = csv_rows(await client.get(EXPORT, headers=supervisor))
    assert {r["问题编号"] for r in everything} == {shinan["id"], licang}


async def test_the_callers_scope_and_role(client: AsyncClient, login: Login) -> None:
    shinan, licang = await _two_districts(client, login)
    # The 市南区 head sees 市南区's findings only, whatever the filters ask.
    leader = await login("leader.shinan")
    r = await client.get(EXPORT, headers=leader)
    ids = {row["问题编号"] for row in csv_rows(r)}
    assert shinan["id"] in ids
    assert licang not in ids
    assert int(r.headers["x-export-rows"]) == len(csv_rows(r))
    # A handler or an inspector exports no audit trail.
    for user in ("handler.shinan", "inspector"):
        assert_problem(await client.get(EXPORT, headers=await login(user)), 403)
    # A filter naming nothing is a 422 naming it, as on the list.
    r = await client.get(EXPORT, params={"category": "no_such"}, headers=leader)
    assert "category" in fields(r)


@pytest.mark.parametrize("settings_overrides", [{"audit_export_max_rows": 2}])
async def test_the_row_limit_is_kept_and_said(client: AsyncClient, login: Login) -> None:
    shinan, _ = await _two_districts(client, login)
    supervisor = await login("supervisor")
    params = {"district": "shinan"}
    r = await client.get(EXPORT, params=params, headers=supervisor)
    rows = csv_rows(r)
    assert len(rows) == 2
    assert r.headers["x-export-rows"] == "2"
    assert r.headers["x-export-truncated"] == "true"
    # The first two events written, not any two.
    trail = (await client.get(f"/api/v1/findings/{shinan['id']}/events", headers=supervisor)).json()
    assert [int(row["事件编号"]) for row in rows] == [e["id"] for e in trail["items"][:2]]

    r = await client.get(EXPORT, params={**params, "format": "xlsx"}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert r.headers["x-export-truncated"] == "true"
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    sheet = list(ws.iter_rows(values_only=True))
    assert sheet[0] == AUDIT_HEADERS
    assert [row[0] for row in sheet[1:]] == [e["id"] for e in trail["items"][:2]]


async def test_xlsx_has_the_same_rows_as_the_csv(client: AsyncClient, login: Login) -> None:
    await _two_districts(client, login)
    dispatcher = await login("dispatcher")
    r = await client.get(EXPORT, params={"format": "csv"}, headers=dispatcher)
    from_csv = [int(row["事件编号"]) for row in csv_rows(r)]
    assert r.headers["x-export-truncated"] == "false"
    r = await client.get(EXPORT, params={"format": "xlsx"}, headers=dispatcher)
    assert r.status_code == 200, r.text
    assert (
        "审计记录-" in r.headers["content-disposition"]
        or "filename*" in r.headers["content-disposition"]
    )
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    assert ws.freeze_panes == "A2"
    assert [row[0] for row in list(ws.iter_rows(values_only=True))[1:]] == from_csv
    assert int(r.headers["x-export-rows"]) == len(from_csv)
