"""Spreadsheets the supervision office opens in Excel (openpyxl, write-only mode).

Every sheet has Chinese headers in a bold, frozen first row, an auto-filter, and column widths
that fit the headers. Times are real Excel dates: Excel has no time zones, so they are written
as the wall-clock time in the city's zone (what the office reads on its own clocks). Text that
starts like a formula is prefixed with an apostrophe, as in the CSV: openpyxl would otherwise
store it as a formula and Excel would evaluate what a reporter typed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

# openpyxl (and Pillow, which it loads) is imported when a spreadsheet is made, not by every
# start of the API: tenths of a second of each.
if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
PERCENT_FORMAT = "0.0%"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HEADER_FILL_COLOUR = "DDEBF7"
MIN_WIDTH, MAX_WIDTH = 8, 60

Cell = str | int | float | datetime | None


def safe_text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def local_naive(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """The wall-clock time in the city's zone, without tzinfo (which Excel cannot store)."""
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


def _width(header: str) -> int:
    # CJK characters take two columns in Excel's default font.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in header) + 2


class Sheet:
    """One write-only worksheet: the header row first, then data rows."""

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        headers: Sequence[str],
        widths: Mapping[str, int] | None = None,
        percent_columns: Iterable[int] = (),
    ) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment, Font, PatternFill
        from openpyxl.utils import get_column_letter

        self._cell = WriteOnlyCell
        self.ws: WriteOnlyWorksheet = workbook.create_sheet(title)
        self.width = len(headers)
        self.percent = frozenset(percent_columns)
        # Frozen panes, widths and the filter must be set before the first row is written.
        self.ws.freeze_panes = "A2"
        for i, header in enumerate(headers, start=1):
            want = (widths or {}).get(header) or _width(header)
            letter = get_column_letter(i)
            self.ws.column_dimensions[letter].width = max(MIN_WIDTH, min(MAX_WIDTH, want))
        self.ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}1"
        cells = []
        for header in headers:
            cell = WriteOnlyCell(self.ws, value=header)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor=_HEADER_FILL_COLOUR)
            cell.alignment = Alignment(horizontal="center")
            cells.append(cell)
        self.ws.append(cells)

    def append(self, values: Sequence[Cell]) -> None:
        cells = []
        for index, value in enumerate(values):
            cell = self._cell(self.ws, value=safe_text(value) if isinstance(value, str) else value)
            if isinstance(value, datetime):
                cell.number_format = DATE_FORMAT if value.time() == time() else DATETIME_FORMAT
            elif index in self.percent and isinstance(value, float):
                cell.number_format = PERCENT_FORMAT
            cells.append(cell)
        self.ws.append(cells)


def new_workbook() -> Workbook:
    from openpyxl import Workbook

    return Workbook(write_only=True)


def to_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def single_sheet(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]], widths: Mapping[str, int]
) -> bytes:
    workbook = new_workbook()
    sheet = Sheet(workbook, title, headers, widths)
    for row in rows:
        sheet.append(row)
    return to_bytes(workbook)


def attachment(ascii_stem: str, chinese_stem: str, extension: str) -> str:
    """Content-Disposition: an ASCII name for old clients, the Chinese one (RFC 6266
    filename*) for the rest."""
    return (
        f'attachment; filename="{ascii_stem}.{extension}"; '
        f"filename*=UTF-8''{quote(f'{chinese_stem}.{extension}')}"
    )
