"""The weekly briefing (通报) as JSON, an Excel workbook or a printable HTML page.

Who reads it: supervisors, admins and leaders. The district ranking is what the office
circulates to every district, so every reader gets all of it; the items (overdue, exposure,
recurrences) name findings, so a leader whose scope is not the whole city gets only those in
their scope. Who regenerates it: supervisors and admins.

GET serves the stored edition of the week (written by the Monday 08:00 job or by a POST) and,
for a week without one, the figures computed on the spot (`X-Briefing-Edition: live`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.core.identity.principal import Principal
from services.core.stats.briefing import (
    Briefing,
    DistrictLine,
    WeekError,
    as_read_by,
    gather,
    generate,
    last_full_week,
    load,
    parse_week,
    week_label,
)

from ..deps import Session, SettingsDep, require_roles, utcnow
from ..escalation_csv import FINDING_STATUSES
from ..headers import policy_for_inline_styles
from ..problems import Problem
from ..schemas.wire import IsoWeek
from ..xlsx import XLSX_MEDIA_TYPE, Sheet, attachment, local_naive, new_workbook, to_bytes

if TYPE_CHECKING:
    from openpyxl import Workbook

router = APIRouter(prefix="/briefings", tags=["supervision"])

Reader = Annotated[Principal, Depends(require_roles("supervisor", "admin", "leader"))]
Editor = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]
Format = Literal["json", "xlsx", "html"]
WeekQuery = Annotated[
    IsoWeek | None,
    Query(
        description="ISO week in the city's zone, e.g. 2026-W48; default: the last full week",
    ),
]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

DISTRICT_HEADERS = (
    "排名",
    "区市",
    "得分",
    "问题数",
    "整改销号",
    "按期整改",
    "按期率",
    "逾期未改",
    "返工",
    "反复",
    "一级督办",
    "二级督办",
    "三级督办",
    "四级督办",
    "转办",
    "回退",
)
OVERDUE_HEADERS = (
    "问题编号",
    "问题类别",
    "问题描述",
    "区市",
    "责任单位",
    "整改期限",
    "逾期天数",
    "督办级别",
    "责任领导",
    "职务",
)
ITEM_HEADERS = (
    "问题编号",
    "问题类别",
    "问题描述",
    "区市",
    "责任单位",
    "上报时间",
    "整改期限",
    "状态",
)
WIDTHS = {
    "区市": 14,
    "问题编号": 38,
    "问题描述": 40,
    "责任单位": 20,
    "整改期限": 20,
    "上报时间": 20,
    "曝光片": 30,
    "复发自": 38,
    "职务": 20,
}


def _week(value: str | None, tz: ZoneInfo) -> tuple[int, int]:
    if value is None:
        return last_full_week(utcnow(), tz)
    try:
        return parse_week(value)
    except WeekError as exc:
        raise Problem(
            422,
            f"week: {exc}.",
            kind="validation",
            errors=[{"field": "week", "message": str(exc)}],
        ) from exc


def _format(explicit: Format | None, request: Request) -> Format:
    if explicit is not None:
        return explicit
    accept = request.headers.get("accept", "")
    if XLSX_MEDIA_TYPE in accept:
        return "xlsx"
    if "text/html" in accept:
        return "html"
    return "json"


def _district_cells(d: DistrictLine) -> list[str | int | float | datetime | None]:
    return [
        d.rank,
        d.name,
        d.score,
        d.total,
        d.closed,
        d.on_time,
        d.on_time_rate,
        d.overdue_open,
        d.rework,
        d.recurrences,
        *(d.escalations.get(str(level), 0) for level in (1, 2, 3, 4)),
        d.transfers,
        d.returns,
    ]


def render_xlsx(b: Briefing, tz: ZoneInfo) -> bytes:
    workbook = new_workbook()
    rate = {DISTRICT_HEADERS.index("按期率")}
    ranking = Sheet(workbook, "区市排名", DISTRICT_HEADERS, WIDTHS, percent_columns=rate)
    for d in b.districts:
        ranking.append(_district_cells(d))
    lists = Sheet(workbook, "红黑榜", ("榜单", *DISTRICT_HEADERS), WIDTHS, {1 + min(rate)})
    for label, lines in (("红榜", b.top), ("黑榜", b.bottom)):
        for d in lines:
            lists.append([label, *_district_cells(d)])
    overdue = Sheet(workbook, "逾期事项", OVERDUE_HEADERS, WIDTHS)
    for o in b.overdue:
        overdue.append(
            [
                str(o.finding_id),
                o.category,
                o.description,
                o.district,
                o.responsible_unit,
                local_naive(o.due_at, tz),
                o.days_overdue,
                o.level,
                o.leader_name or "(空缺)",
                o.leader_title or "",
            ]
        )
    exposure = Sheet(workbook, "曝光问题", (*ITEM_HEADERS, "曝光片"), WIDTHS)
    recurrences = Sheet(workbook, "反复问题", (*ITEM_HEADERS, "复发自"), WIDTHS)
    for sheet, items, last in (
        (exposure, b.exposure, "video"),
        (recurrences, b.recurrences, "recurrence_of"),
    ):
        for i in items:
            extra = getattr(i, last)
            sheet.append(
                [
                    str(i.finding_id),
                    i.category,
                    i.description,
                    i.district,
                    i.responsible_unit,
                    local_naive(i.reported_at, tz),
                    local_naive(i.due_at, tz),
                    FINDING_STATUSES.get(i.status, i.status),
                    str(extra) if extra is not None else "",
                ]
            )
    coverage = Sheet(
        workbook, "点位覆盖",
        ("区市", "应巡任务", "已巡任务", "覆盖率", "逾期任务", "盲区点位"), WIDTHS, {3},
    )  # fmt: skip
    for c in b.coverage:
        coverage.append([c.name, c.tasks_due, c.tasks_done, c.coverage, c.overdue, c.blind_spots])
    _commitment_sheets(workbook, b, tz)
    return to_bytes(workbook)


def _commitment_sheets(workbook: Workbook, b: Briefing, tz: ZoneInfo) -> None:
    """The commitments ledger per district, and the overdue commitments."""
    ledger = Sheet(
        workbook, "整改承诺",
        ("区市", "承诺事项", "按进度推进", "存在风险", "逾期未完成", "已验收", "本周督办"), WIDTHS,
    )  # fmt: skip
    for c in b.commitments:
        ledger.append([c.name, c.total, c.on_track, c.at_risk, c.overdue, c.done, c.escalations])
    headers = ("编号", "区市", "承诺单位", "整改目标", "完成时限", "逾期天数", "进度", "督办级别",
               "责任领导", "领导包案")  # fmt: skip
    overdue = Sheet(workbook, "逾期承诺", headers, WIDTHS)
    for i in b.overdue_commitments:
        overdue.append(
            [i.commitment_id, i.district, i.unit, i.targets, local_naive(i.due_at, tz),
             i.days_overdue, i.percent, i.level, i.leader_name or "(空缺)",
             "、".join(i.personally_supervised_by)]
        )  # fmt: skip


def render_html(b: Briefing, tz: ZoneInfo) -> str:
    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value is not None else ""

    return _templates.get_template("briefing.html").render(
        b=b,
        local=local,
        statuses=FINDING_STATUSES,
        period=f"{local(b.starts_at, '%Y-%m-%d')} 至 "
        f"{local(b.ends_at - timedelta(days=1), '%Y-%m-%d')}",
    )


def _respond(b: Briefing, fmt: Format, tz: ZoneInfo, edition: str) -> Response:
    headers = {"X-Briefing-Edition": edition}
    if fmt == "xlsx":
        headers["Content-Disposition"] = attachment(
            f"briefing-{b.week}", f"督办通报-{b.week}", "xlsx"
        )
        return Response(render_xlsx(b, tz), media_type=XLSX_MEDIA_TYPE, headers=headers)
    if fmt == "html":
        html = render_html(b, tz)
        # The page carries its own stylesheet, to print or save whole: admitted by its hash.
        headers["Content-Security-Policy"] = policy_for_inline_styles(html)
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)
    return Response(b.model_dump_json(), media_type="application/json", headers=headers)


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "model": Briefing,
        "content": {
            XLSX_MEDIA_TYPE: {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
        "description": "JSON, or with ?format=xlsx (or an Accept of the spreadsheet type) "
        "an Excel workbook, or with ?format=html (or Accept: text/html) a printable page",
    }
}


@router.get("/weekly", response_model=Briefing, responses=_RESPONSES)
async def get_weekly(
    request: Request,
    caller: Reader,
    session: Session,
    settings: SettingsDep,
    week: WeekQuery = None,
    format: Annotated[Format | None, Query()] = None,
) -> Response:
    """The week's briefing: per-district figures and ranks, the red and black lists (the top
    and the bottom three ranks, ties included, no district on both), the longest-overdue open
    items with their responsible leaders, and the new exposure-video items and recurrences of
    the week."""
    tz = ZoneInfo(settings.timezone)
    year, number = _week(week, tz)
    stored = await load(session, week_label(year, number))
    if stored is not None:
        mine = await as_read_by(session, stored, caller)
        return _respond(mine, _format(format, request), tz, "stored")
    live = await gather(session, year, number, tz, utcnow(), blind_days=settings.blind_spot_days)
    return _respond(await as_read_by(session, live, caller), _format(format, request), tz, "live")


@router.post("/weekly", response_model=Briefing)
async def post_weekly(
    caller: Editor, session: Session, settings: SettingsDep, week: WeekQuery = None
) -> Briefing:
    """Regenerate and store the week's edition now (the Monday job does the same)."""
    tz = ZoneInfo(settings.timezone)
    year, number = _week(week, tz)
    return await generate(session, year, number, tz, utcnow(), blind_days=settings.blind_spot_days)
