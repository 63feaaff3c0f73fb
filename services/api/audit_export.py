"""The audit export: every event of a filtered set of findings, as CSV or XLSX, for the
supervision office and the discipline commission (`GET /api/v1/findings/events`).

Streamed: events are read in chunks of `CHUNK` on one read-only REPEATABLE READ transaction,
so the count sent in `X-Export-Rows` and the rows written are the same snapshot even while
findings move on. The CSV goes out row by row; the workbook is written by openpyxl's
write-only mode to a temporary file as the chunks arrive, then sent in pieces, so neither
holds the export in memory. At most `DUBAN_AUDIT_EXPORT_MAX_ROWS` events: one row past the
cap is counted to say `X-Export-Truncated: true`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.findings.queries import AuditRow, audit_events
from services.core.identity.principal import Principal
from services.core.identity.scope import event_links, hidden_findings, without_hidden
from services.core.models import Category, Unit

from .escalation_csv import BOM, FINDING_STATUSES
from .ui.i18n import translator
from .xlsx import Cell, Sheet, local_naive, new_workbook, safe_text

CHUNK = 1_000
# The workbook leaves in pieces of this size.
PIECE = 64 * 1024
AUDIT_HEADERS = (
    "事件编号",
    "问题编号",
    "问题类别",
    "区市",
    "责任单位",
    "时间",
    "操作人",
    "操作",
    "原状态",
    "新状态",
    "说明",
    "附件",
    "详情",
)
WIDTHS = {"问题编号": 38, "问题类别": 16, "责任单位": 18, "时间": 20, "说明": 40, "附件": 30}
WIDTHS |= {"详情": 60}
# Keys of the payload with a column of their own.
_OWN_COLUMNS = ("note", "attachments")
_ACTION = translator("zh")


def action_name(action: str) -> str:
    return _ACTION(f"ev_{action}")


class Names:
    """Unit and category names by id, read once per export."""

    def __init__(self, units: Mapping[int, str], categories: Mapping[int, str]) -> None:
        self.units = units
        self.categories = categories

    def unit(self, unit_id: int | None) -> str:
        return self.units.get(unit_id, "") if unit_id is not None else ""

    @classmethod
    async def read(cls, session: AsyncSession) -> Names:
        units = {r.id: r.name for r in await session.execute(select(Unit.id, Unit.name))}
        categories = {
            r.id: r.name for r in await session.execute(select(Category.id, Category.name))
        }
        return cls(units, categories)


def _attachments(payload: Mapping[str, Any]) -> str:
    items = payload.get("attachments")
    if not isinstance(items, list):
        return ""
    return "; ".join(str(a.get("name", "")) for a in items if isinstance(a, dict))


def values(row: AuditRow, payload: Mapping[str, Any], names: Names, tz: ZoneInfo) -> list[Cell]:
    """One event's cells under AUDIT_HEADERS; `payload` already without hidden links."""
    e = row.event
    rest = {k: v for k, v in payload.items() if k not in _OWN_COLUMNS}
    note = payload.get("note")
    return [
        e.id,
        str(e.finding_id),
        names.categories.get(row.category_id, ""),
        names.unit(row.district_id),
        names.unit(row.responsible_unit_id),
        local_naive(e.at, tz),
        row.actor or "",
        action_name(e.action),
        FINDING_STATUSES.get(e.from_status, e.from_status) if e.from_status else "",
        FINDING_STATUSES.get(e.to_status, e.to_status) if e.to_status else "",
        note if isinstance(note, str) else "",
        _attachments(payload),
        json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else "",
    ]


async def _chunks(
    session: AsyncSession,
    caller: Principal,
    where: Sequence[ColumnElement[bool]],
    rows: int,
    tz: ZoneInfo,
) -> AsyncIterator[list[list[Cell]]]:
    """The export's rows, a chunk at a time, the trail's links to findings the caller may not
    see left out as on GET /findings/{id}/events."""
    names = await Names.read(session)
    after, written = 0, 0
    while written < rows:
        chunk = await audit_events(session, where, after=after, limit=min(CHUNK, rows - written))
        if not chunk:
            return
        links = (link for r in chunk for link in event_links(r.event.payload))
        hidden = await hidden_findings(session, caller, links)
        yield [values(r, without_hidden(r.event.payload, hidden), names, tz) for r in chunk]
        after = chunk[-1].event.id
        written += len(chunk)


def _csv_line(cells: Sequence[Cell]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(
        [
            v.strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(v, datetime)
            else safe_text(v)
            if isinstance(v, str)
            else ""
            if v is None
            else v
            for v in cells
        ]
    )
    return out.getvalue()


async def csv_stream(
    session: AsyncSession,
    caller: Principal,
    where: Sequence[ColumnElement[bool]],
    rows: int,
    tz: ZoneInfo,
) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark (Excel), one chunk of rows per piece; closes `session`."""
    try:
        yield (BOM + _csv_line(AUDIT_HEADERS)).encode()
        async for chunk in _chunks(session, caller, where, rows, tz):
            yield "".join(_csv_line(cells) for cells in chunk).encode()
    finally:
        await session.close()


def _append_all(sheet: Sheet, chunk: list[list[Cell]]) -> None:
    for cells in chunk:
        sheet.append(cells)


async def xlsx_stream(
    session: AsyncSession,
    caller: Principal,
    where: Sequence[ColumnElement[bool]],
    rows: int,
    tz: ZoneInfo,
) -> AsyncIterator[bytes]:
    """The workbook (write-only: rows go to openpyxl's temporary file, not memory), built off
    the event loop chunk by chunk, then sent in pieces; closes `session`."""
    try:
        workbook = new_workbook()
        sheet = Sheet(workbook, "审计记录", AUDIT_HEADERS, WIDTHS)
        async for chunk in _chunks(session, caller, where, rows, tz):
            await asyncio.to_thread(_append_all, sheet, chunk)
    finally:
        await session.close()
    with tempfile.TemporaryFile() as out:
        await asyncio.to_thread(workbook.save, out)
        out.seek(0)
        read: Callable[[IO[bytes]], bytes] = lambda f: f.read(PIECE)  # noqa: E731
        while piece := await asyncio.to_thread(read, out):
            yield piece
