"""`duban calendar import FILE`: a year's holidays and make-up working days, as the State
Council's notice announces them, entered in one go as calendar overrides.

FILE is CSV (UTF-8, a spreadsheet's BOM allowed) with the header `date,kind,name`: one line
per date, `kind` is `holiday` (a day off, 休) or `workday` (a make-up working day, 班), `name`
an optional note (国庆节, 春节调休上班 …). The whole file is checked first: one bad line and
nothing is stored, every bad line is named. Importing the same file again changes nothing.
Deadlines already set are not recomputed (services/core/calendar/store.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
from datetime import date
from zoneinfo import ZoneInfo

from services.core.calendar.store import ImportedOverrides, import_overrides
from services.core.platform.settings import Settings

from .common import CliError, in_transaction, live_endpoints

KINDS = {"holiday": "holiday", "休": "holiday", "workday": "workday", "班": "workday"}
NOTE_MAX = 200
MAX_ERRORS_SHOWN = 20

Entry = tuple[date, str, str | None]


def parse(text: str) -> tuple[list[Entry], list[str]]:
    """The file's entries, and what is wrong with it (line by line)."""
    rows = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [h.strip().lower() for h in rows.fieldnames or []]
    if header[:2] != ["date", "kind"]:
        return [], ["line 1: the header must be date,kind,name"]
    rows.fieldnames = header
    entries: list[Entry] = []
    errors: list[str] = []
    seen: dict[date, int] = {}
    for line, row in enumerate(rows, start=2):
        raw_day, raw_kind = (row.get("date") or "").strip(), (row.get("kind") or "").strip()
        note = (row.get("name") or "").strip() or None
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            errors.append(f"line {line}: date {raw_day!r} is not YYYY-MM-DD")
            continue
        kind = KINDS.get(raw_kind.lower())
        if kind is None:
            errors.append(f"line {line}: kind {raw_kind!r} is not holiday (休) or workday (班)")
            continue
        if note is not None and (len(note) > NOTE_MAX or not note.isprintable()):
            errors.append(f"line {line}: name is longer than {NOTE_MAX} or not printable")
            continue
        if day in seen:
            errors.append(f"line {line}: {day} is already on line {seen[day]}")
            continue
        seen[day] = line
        entries.append((day, kind, note))
    if not entries and not errors:
        errors.append("the file holds no dates")
    return entries, errors


def describe(result: ImportedOverrides, entries: list[Entry]) -> str:
    first, last = min(e[0] for e in entries), max(e[0] for e in entries)
    lines = [
        f"calendar overrides {first} to {last}: {result.created} added, {result.changed} "
        f"changed, {result.unchanged} already so",
        "Deadlines already set are not recomputed: "
        f"{result.deadlines_kept} open findings are due on or after {first} and keep their "
        "deadlines (an approved extension moves one). Deadlines set from now on count these "
        "days.",
    ]
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from None
    entries, errors = parse(text)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
        raise CliError(f"{args.file}: nothing imported: " + "; ".join(shown) + more)
    if args.dry_run:
        print(f"{args.file}: {len(entries)} dates, all valid (nothing stored: --dry-run)")
        return 0
    url = live_endpoints(settings).database_url
    tz = ZoneInfo(settings.timezone)
    result = asyncio.run(in_transaction(url, lambda s: import_overrides(s, entries, tz)))
    print(describe(result, entries))
    return 0
