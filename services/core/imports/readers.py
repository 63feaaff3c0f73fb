"""Import files as rows: CSV (UTF-8, with or without BOM, or GB18030 as Excel saves it on a
Chinese Windows), XLSX (the first worksheet) and GeoJSON (boundaries); and the empty
templates an office fills in.

A header cell names its column by the column's key (`code`), its Chinese name (`单位编码`)
or both, as the templates write them (`单位编码 code`). Lines are counted as the office sees
them: the CSV line, the worksheet row, the GeoJSON feature (all from 1).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .rules import MAX_ROWS, Kind, RowError, missing_columns

XLSX_MAGIC = b"PK\x03\x04"
# A worksheet is a zip of XML: its size unpacked is bounded before anything is parsed, so a
# small upload cannot unpack into gigabytes (a "zip bomb").
MAX_XLSX_UNPACKED = 256 * 1024 * 1024
_ASCII_WORD = re.compile(r"[A-Za-z_]+")


@dataclass
class Table:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _file_error(zh: str, en: str) -> Table:
    return Table(errors=[RowError(None, None, zh, en)])


def _column_key(kind: Kind, cell: Any) -> str | None:
    label = str(cell).strip() if cell is not None else ""
    if not label:
        return None
    by_key = {c.key.lower(): c.key for c in kind.columns}
    by_zh = {c.zh: c.key for c in kind.columns}
    if label.lower() in by_key:
        return by_key[label.lower()]
    if label in by_zh:
        return by_zh[label]
    words = [w.lower() for w in _ASCII_WORD.findall(label.replace("-", "_"))]
    for word in reversed(words):
        if word in by_key:
            return by_key[word]
    return next((key for zh, key in by_zh.items() if label.startswith(zh)), None)


def _table(kind: Kind, lines: list[tuple[int, list[Any]]]) -> Table:
    if not lines:
        return _file_error(
            "文件为空：第一行须为列名", "the file is empty: the first line names the columns"
        )
    header_line, header = lines[0]
    keys: list[str | None] = []
    errors: list[RowError] = []
    for cell in header:
        key = _column_key(kind, cell)
        if key is None and cell is not None and str(cell).strip():
            errors.append(
                RowError(
                    header_line, None, f"未知的列 {str(cell)!r}", f"unknown column {str(cell)!r}"
                )
            )
        elif key is not None and key in keys:
            errors.append(RowError(header_line, key, "此列出现两次", "the column appears twice"))
        keys.append(key)
    errors += missing_columns(kind, [k for k in keys if k])
    if errors:
        return Table(errors=errors)
    table = Table()
    for line, cells in lines[1:]:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        if len(table.rows) >= MAX_ROWS:
            return _file_error(
                f"超过 {MAX_ROWS} 行：请分成几个文件", f"more than {MAX_ROWS} rows: split the file"
            )
        row = {k: (cells[i] if i < len(cells) else None) for i, k in enumerate(keys) if k}
        if len(cells) > len(keys) and any(c not in (None, "") for c in cells[len(keys) :]):
            table.errors.append(RowError(line, None, "列数多于表头", "more cells than columns"))
        table.rows.append((line, row))
    return table


def _decode(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def read_csv(kind: Kind, data: bytes) -> Table:
    content = _decode(data)
    if content is None:
        return _file_error(
            "无法识别编码：请存为 UTF-8 的 CSV", "unknown encoding: save the CSV as UTF-8"
        )
    # Commas as a rule; a header with none but tabs or semicolons names the other kind.
    first = content.split("\n", 1)[0]
    delimiter = next((d for d in (",", "\t", ";") if d in first), ",")
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    lines: list[tuple[int, list[Any]]] = []
    try:
        for cells in reader:
            lines.append((reader.line_num, list(cells)))
            if len(lines) > MAX_ROWS + 1:
                break
    except csv.Error as exc:
        return _file_error(f"CSV 格式错误：{exc}", f"malformed CSV: {exc}")
    return _table(kind, lines)


def read_xlsx(kind: Kind, data: bytes) -> Table:
    # openpyxl (and the numpy and Pillow it loads) only when a workbook comes: a second of a
    # `duban import` of a CSV file's start otherwise.
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_XLSX_UNPACKED:
                return _file_error("工作簿解压后过大", "the workbook unpacks to too much data")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    # An uploaded workbook is anyone's bytes: whatever openpyxl cannot make of them (its
    # errors are many and not one family) is a file it cannot read, never a server error.
    except Exception as exc:
        return _file_error(f"无法读取工作簿：{exc}", f"not a readable XLSX workbook: {exc}")
    lines: list[tuple[int, list[Any]]] = []
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            lines.append((number, list(cells)))
            if len(lines) > MAX_ROWS + 1:
                break
    except Exception as exc:
        return _file_error(f"无法读取工作表：{exc}", f"not a readable worksheet: {exc}")
    finally:
        workbook.close()
    return _table(kind, lines)


def read_geojson(kind: Kind, data: bytes) -> Table:
    content = _decode(data)
    try:
        document = json.loads(content) if content is not None else None
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, Mapping) and document.get("type") == "Feature":
        document = {"type": "FeatureCollection", "features": [document]}
    if not isinstance(document, Mapping) or not isinstance(document.get("features"), list):
        return _file_error("须为 GeoJSON FeatureCollection", "must be a GeoJSON FeatureCollection")
    features = document["features"]
    if len(features) > MAX_ROWS:
        return _file_error(f"超过 {MAX_ROWS} 个要素", f"more than {MAX_ROWS} features")
    table = Table()
    for number, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        props = props if isinstance(props, Mapping) else {}
        unit = props.get("code", props.get("unit"))
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        table.rows.append((number, {"code": unit, "geometry": geometry}))
    return table


def read(kind: Kind, data: bytes) -> Table:
    """The rows of an import file, its format recognised from its bytes."""
    if kind.geojson:
        return read_geojson(kind, data)
    if data.startswith(XLSX_MAGIC):
        return read_xlsx(kind, data)
    return read_csv(kind, data)


# ---- templates ----

FORMATS = ("csv", "xlsx")


def template(kind: Kind, fmt: str) -> bytes:
    """An empty template: the header and one example row, which imports as it is where the
    units it names exist (the demo's)."""
    if kind.geojson:
        return _geojson_template()
    header = [c.header for c in kind.columns]
    example = [c.example for c in kind.columns]
    if fmt == "xlsx":
        return _xlsx_template(kind, header, example)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow(example)
    # With a BOM, as Excel expects to recognise UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx_template(kind: Kind, header: list[str], example: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # noqa: S101 - a new workbook has one sheet
    sheet.title = kind.zh
    sheet.append(header)
    sheet.append(example)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, column in enumerate(kind.columns):
        sheet.column_dimensions[chr(ord("A") + i)].width = max(14, len(column.header) + 4)
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("说明 notes")
    notes.append(["列 column", "必填 required", "说明 meaning"])
    for column in kind.columns:
        notes.append([column.header, "是 yes" if column.required else "", column.help])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


EXAMPLE_BOUNDARY = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": "shinan.badaguan", "name": "八大关街道"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [120.3460, 36.0480],
                        [120.3660, 36.0480],
                        [120.3660, 36.0610],
                        [120.3460, 36.0610],
                        [120.3460, 36.0480],
                    ]
                ],
            },
        }
    ],
}


def _geojson_template() -> bytes:
    return json.dumps(EXAMPLE_BOUNDARY, ensure_ascii=False, indent=2).encode("utf-8")
