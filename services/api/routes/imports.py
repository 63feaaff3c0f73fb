"""Importing an office's files for admins (README "Put into service"): the organisation and
the catalogue from CSV or XLSX, boundaries from GeoJSON; all or nothing, re-import updates.

The body is bounded by DUBAN_IMPORT_MAX_BYTES (413 past it, before the file is read); the
file is parsed off the event loop, as a large workbook takes a while.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Query, Response, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.core.identity.store import Operator
from services.core.imports import readers
from services.core.imports.rules import KINDS, kinds
from services.core.imports.service import Outcome, apply, describe_errors, parse

from ..deps import Admin, Session, SettingsDep, utcnow
from ..problems import Problem
from ..xlsx import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/imports", tags=["configuration"])

ImportKind = Literal[
    "units", "people", "posts", "categories", "routing-rules", "policies", "boundaries",
    "point-types", "points", "criteria",
]  # fmt: skip
assert set(get_args(ImportKind)) == set(KINDS)  # noqa: S101 - keep the lists in step


class ImportOut(BaseModel):
    kind: str
    dry_run: bool = Field(description="true: nothing was written; the counts say what would be")
    rows: int
    created: list[str] = Field(description="the keys (codes) of what was created")
    updated: list[str] = Field(description="the keys of what was changed")
    unchanged: int


def _refusal(outcome: Outcome, tz: ZoneInfo) -> Problem:
    texts = describe_errors(outcome.kind, outcome.errors, tz)
    unit = "feature" if kinds(tz)[outcome.kind].geojson else "line"
    errors = []
    for error, message in zip(outcome.errors, texts, strict=True):
        where = "file" if error.line is None else f"{unit} {error.line}"
        errors.append(
            {"field": f"{where}: {error.column}" if error.column else where, "message": message}
        )
    return Problem(
        422,
        f"The file was not imported: {len(errors)} error(s), each named with its line and "
        "column. 文件未导入。",
        kind="validation",
        errors=errors,
    )


@router.post(
    "/{kind}",
    response_model=ImportOut,
    responses={
        413: {"description": "larger than DUBAN_IMPORT_MAX_BYTES"},
        422: {"description": "a row or the file refused: nothing was imported"},
    },
)
async def import_file(
    kind: ImportKind,
    session: Session,
    admin: Admin,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX (boundaries: GeoJSON)")],
    dry_run: Annotated[bool, Query(description="check and count, write nothing")] = False,
) -> ImportOut:
    """Import one file (multipart/form-data `file`): units, people, posts, categories,
    routing rules, escalation policies, unit boundaries, evaluation point types, points or criteria.
    Idempotent by code: an existing row is updated, the same file twice changes nothing.
    All or nothing: one bad row and nothing is written; every refused row is named with its
    line and column (Chinese and English)."""
    tz = ZoneInfo(settings.timezone)
    data = await file.read()
    parsed = await run_in_threadpool(parse, kind, data, tz)
    outcome = await apply(
        session,
        parsed,
        operator=Operator.api(admin.user_id, admin.username),
        now=utcnow(),
        dry_run=dry_run,
        source=(file.filename or kind)[:200],
    )
    if not outcome.ok:
        raise _refusal(outcome, tz)
    return ImportOut(
        kind=kind,
        dry_run=dry_run,
        rows=outcome.rows,
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
    )


_MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA_TYPE}


@router.get(
    "/{kind}/template",
    response_class=Response,
    responses={
        200: {
            "description": "the header and one example row",
            "content": {
                "text/csv": {},
                XLSX_MEDIA_TYPE: {},
                "application/geo+json": {},
            },
        }
    },
)
async def template(
    kind: ImportKind,
    _: Admin,
    settings: SettingsDep,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """An empty template for `kind`, with its headers (Chinese and English) and one example
    row; boundaries: a GeoJSON FeatureCollection with one example feature."""
    spec = kinds(ZoneInfo(settings.timezone))[kind]
    body = readers.template(spec, format)
    if spec.geojson:
        media, ext = "application/geo+json", "geojson"
    else:
        media, ext = _MEDIA[format], format
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{kind}.{ext}"'},
    )
