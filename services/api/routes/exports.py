"""XLSX exports of the findings and escalation lists (`?format=xlsx` on the lists).

The lists' own handlers parse the filters and call here, so an export holds exactly what the
JSON pages would, in the caller's scope, newest first, without limit or cursor. An export
holds at most `EXPORT_MAX_ROWS` rows (the same cap as the escalation CSV);
`X-Export-Truncated: true` says more matched: narrow the filters (since/until) for the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.queries import EscalationRow
from services.core.findings.queries import FindingFilters, Refs, list_findings, load_refs
from services.core.findings.rules import light_of
from services.core.identity.principal import Principal
from services.core.models import CLOCK_RUNNING, Finding

from ..escalation_csv import FINDING_STATUSES, HEADERS, light_cell, values
from ..xlsx import XLSX_MEDIA_TYPE, Cell, attachment, local_naive, single_sheet

EXPORT_MAX_ROWS = 50_000
EXPORT_CHUNK = 2_000

SOURCES = {
    "inspection": "实地督查",
    "exposure_video": "曝光视频",
    "self_assessment": "自查",
    "public_report": "群众举报",
    "leader_assigned": "领导交办",
}
SEVERITIES = {"normal": "一般", "urgent": "紧急"}
CLOSE_REASONS = {"rectified": "整改销号", "invalid": "无效", "duplicate": "重复"}
FINDING_HEADERS = (
    "问题编号",
    "来源",
    "问题类别",
    "严重程度",
    "问题描述",
    "地址",
    "纬度",
    "经度",
    "区市",
    "属地单位",
    "责任单位",
    "状态",
    "办结方式",
    "是否逾期",
    "红黄绿灯",
    "发现时间",
    "上报时间",
    "上报人",
    "派遣时间",
    "整改期限",
    "提交时间",
    "销号时间",
    "返工次数",
    "延期次数",
    "复发自",
)
# Wider than their headers: ids, free text, unit names and times (the rest fit the header).
WIDE_COLUMNS = {
    "问题编号": 38,
    "复发自": 38,
    "问题类别": 16,
    "问题描述": 40,
    "批示": 40,
    "地址": 30,
    "属地单位": 18,
    "责任单位": 18,
    "督办对象": 12,
    "职务": 16,
    "督办单位": 18,
    "原因": 16,
    "红黄绿灯": 14,
} | {h: 20 for h in (*FINDING_HEADERS, *HEADERS) if h.endswith(("时间", "期限"))}


def _stamp(now: datetime, tz: ZoneInfo) -> str:
    return now.astimezone(tz).strftime("%Y%m%d-%H%M%S")


def _response(body: bytes, rows: int, truncated: bool, disposition: str) -> Response:
    headers = {
        "Content-Disposition": disposition,
        "X-Export-Rows": str(rows),
        "X-Export-Truncated": "true" if truncated else "false",
    }
    return Response(body, media_type=XLSX_MEDIA_TYPE, headers=headers)


def escalations_xlsx(
    rows: Sequence[EscalationRow], truncated: bool, tz: ZoneInfo, now: datetime
) -> Response:
    body = single_sheet(
        "督办清单", HEADERS, (values(r, tz, now) for r in rows), widths=WIDE_COLUMNS
    )
    stamp = _stamp(now, tz)
    return _response(
        body, len(rows), truncated, attachment(f"escalations-{stamp}", f"督办清单-{stamp}", "xlsx")
    )


def _finding_values(f: Finding, refs: Refs, tz: ZoneInfo, now: datetime) -> list[Cell]:
    def unit(unit_id: int | None) -> str:
        u = refs.units.get(unit_id) if unit_id else None
        return u.name if u else ""

    overdue = f.status in CLOCK_RUNNING and f.due_at is not None and f.due_at < now
    return [
        str(f.id),
        SOURCES.get(f.source, f.source),
        refs.categories[f.category_id].name,
        SEVERITIES.get(f.severity, f.severity),
        f.description,
        f.address or "",
        f.lat,
        f.lon,
        unit(f.district_id),
        unit(f.place_unit_id),
        unit(f.responsible_unit_id),
        FINDING_STATUSES.get(f.status, f.status),
        CLOSE_REASONS.get(f.close_reason, f.close_reason) if f.close_reason else "",
        "是" if overdue else "否",
        light_cell(light_of(f, now)),
        local_naive(f.observed_at, tz),
        local_naive(f.reported_at, tz),
        refs.usernames.get(f.reporter_id, ""),
        local_naive(f.dispatched_at, tz),
        local_naive(f.due_at, tz),
        local_naive(f.submitted_at, tz),
        local_naive(f.closed_at, tz),
        f.rework_count,
        f.extension_count,
        str(f.recurrence_of) if refs.link(f.recurrence_of) else "",
    ]


async def findings_xlsx(
    session: AsyncSession,
    caller: Principal,
    filters: FindingFilters,
    tz: ZoneInfo,
    now: datetime,
) -> Response:
    """Every finding the list would show (UnknownReference propagates, as for the JSON)."""
    found: list[Finding] = []
    after: tuple[datetime, uuid.UUID] | None = None
    # One row past the cap tells a complete export from a truncated one.
    while len(found) <= EXPORT_MAX_ROWS:
        want = min(EXPORT_CHUNK, EXPORT_MAX_ROWS + 1 - len(found))
        chunk = await list_findings(session, caller, filters, now=now, limit=want, after=after)
        found += chunk
        if len(chunk) < want:
            break
        after = (chunk[-1].reported_at, chunk[-1].id)
    truncated = len(found) > EXPORT_MAX_ROWS
    found = found[:EXPORT_MAX_ROWS]
    refs = await load_refs(session, found, caller)
    body = single_sheet(
        "问题清单",
        FINDING_HEADERS,
        (_finding_values(f, refs, tz, now) for f in found),
        widths=WIDE_COLUMNS,
    )
    stamp = _stamp(now, tz)
    return _response(
        body, len(found), truncated, attachment(f"findings-{stamp}", f"问题清单-{stamp}", "xlsx")
    )
