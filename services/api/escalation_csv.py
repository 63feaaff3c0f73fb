"""The escalation list as a spreadsheet the supervision office opens in Excel.

UTF-8 with a byte-order mark (without it Excel reads the Chinese as mojibake), Chinese column
headers, local times as `YYYY-MM-DD HH:MM:SS`. Free text that starts like a formula is
prefixed with an apostrophe so a spreadsheet never evaluates what a reporter typed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from services.core.escalation.queries import EscalationRow, status_of
from services.core.escalation.rules import Light

from .xlsx import local_naive, safe_text

BOM = "\ufeff"
HEADERS = (
    "督办编号",
    "问题编号",
    "问题类别",
    "问题描述",
    "区市",
    "责任单位",
    "级别",
    "督办对象",
    "职务",
    "督办单位",
    "原因",
    "应督办时间",
    "督办时间",
    "延迟(秒)",
    "整改期限",
    "问题状态",
    "红黄绿灯",
    "状态",
    "批示时间",
    "批示人",
    "批示",
    "销号时间",
)
REASONS = {"overdue": "逾期未整改", "vacant_post": "岗位空缺(转市文明办)"}
STATUSES = {"open": "待批示", "acknowledged": "已批示", "resolved": "已销号"}
FINDING_STATUSES = {
    "reported": "待派遣",
    "assigned": "已派遣",
    "accepted": "已签收",
    "submitted": "待复核",
    "suspended": "挂账中",
    "closed": "已销号",
}
# The traffic light in words as well as colour: a spreadsheet shows no colour.
LIGHTS = {Light.GREEN: "绿灯", Light.YELLOW: "黄灯(即将超期)", Light.RED: "红灯(已超期)"}


def light_cell(light: Light | None) -> str:
    """The light as the exports write it; empty while the finding's clock does not run."""
    return LIGHTS[light] if light is not None else ""


def values(
    row: EscalationRow, tz: ZoneInfo, now: datetime
) -> list[str | int | float | datetime | None]:
    """One row's cells under HEADERS, shared by the CSV and the XLSX export; the finding's
    light as of `now`."""
    e = row.escalation
    return [
        e.id,
        str(e.finding_id),
        safe_text(row.category_name),
        safe_text(row.finding_description),
        safe_text(row.district_name),
        safe_text(row.responsible_name),
        e.level,
        safe_text(e.target_name),
        safe_text(e.target_title),
        safe_text(e.target_unit_name),
        REASONS.get(e.reason, e.reason),
        local_naive(e.due_for, tz),
        local_naive(e.fired_at, tz),
        round((e.fired_at - e.due_for).total_seconds(), 3),
        local_naive(row.finding_due_at, tz),
        FINDING_STATUSES.get(row.finding_status, row.finding_status),
        light_cell(row.light(now)),
        STATUSES[status_of(e)],
        local_naive(e.acknowledged_at, tz),
        safe_text(row.acknowledged_by),
        safe_text(e.instruction),
        local_naive(e.resolved_at, tz),
    ]


def _cells(row: EscalationRow, tz: ZoneInfo, now: datetime) -> list[str | int | float]:
    return [
        v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else "" if v is None else v
        for v in values(row, tz, now)
    ]


def render_csv(rows: Iterable[EscalationRow], tz: ZoneInfo, now: datetime) -> bytes:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(_cells(row, tz, now))
    return out.getvalue().encode("utf-8")


def content_disposition(now: datetime, tz: ZoneInfo) -> str:
    stamp = now.astimezone(tz).strftime("%Y%m%d-%H%M%S")
    # An ASCII name for old clients, the Chinese one (RFC 6266 filename*) for the rest.
    return (
        f'attachment; filename="escalations-{stamp}.csv"; '
        f"filename*=UTF-8''{quote(f'督办清单-{stamp}.csv')}"
    )
