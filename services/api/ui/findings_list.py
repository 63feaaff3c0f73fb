"""The findings list at /ui/findings: every filter of `GET /api/v1/findings`, paged the same
way, each row with its light, and export links that hand the same filters to the API's
export (so the workbook holds exactly the list as filtered, scoped in SQL the same way)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from services.core.findings.queries import FindingFilters, list_findings, load_refs
from services.core.findings.rules import light_of
from services.core.models import STATUSES, Category
from services.core.platform.errors import UnknownReference

from ..deps import Session, State, utcnow
from ..routes.audit import AUDIT_ROLES
from ..routes.findings import finding_key
from .pages import (
    PAGE_SIZE,
    UiCaller,
    api_query,
    common_field,
    cursor_after,
    list_context,
    list_params,
    read_form,
    render,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

FILTER_NAMES = (
    "status",
    "source",
    "category",
    "unit",
    "district",
    "overdue",
    "light",
    "possible_recurrence",
    "since",
    "until",
    "bbox",
)
_BOOLS = {"true": True, "false": False}


def _bbox(raw: str) -> tuple[float, float, float, float]:
    parts = [float(p) for p in raw.split(",")]
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise ValueError(raw)
    return parts[0], parts[1], parts[2], parts[3]


def parse_filters(params: dict[str, str], tz: ZoneInfo) -> tuple[FindingFilters, str | None]:
    """The form's values as the API's filters; the name of the first bad field, if any."""

    def field(name: str, raw: str) -> Any:
        if name in ("overdue", "possible_recurrence"):
            return _BOOLS[raw]
        if name == "bbox":
            return _bbox(raw)
        return common_field(name, raw, tz, STATUSES)

    values, bad = read_form(params, FILTER_NAMES, field)
    return FindingFilters(**values), bad


async def category_choices(session: Session) -> list[tuple[str, str]]:
    rows = await session.execute(select(Category.code, Category.name).order_by(Category.code))
    return [(r[0], r[1]) for r in rows]


@router.get("/findings")
async def findings_page(
    request: Request, caller: UiCaller, session: Session, state: State
) -> Response:
    tz = ZoneInfo(state.settings.timezone)
    now = utcnow()
    params = list_params(request, FILTER_NAMES)
    filters, bad = parse_filters(params, tz)
    rows: list[Any] = []
    last: list[Any] | None = None
    refs = None
    if bad is None:
        try:
            fetched = await list_findings(
                session,
                caller,
                filters,
                now=now,
                limit=PAGE_SIZE + 1,
                after=cursor_after(params, finding_key),
            )
        except UnknownReference as exc:
            bad, fetched = exc.field, []
        rows = fetched[:PAGE_SIZE]
        refs = await load_refs(session, rows, caller)
        if len(fetched) > PAGE_SIZE:
            last = [rows[-1].reported_at.isoformat(), str(rows[-1].id)]
    api = urlencode(api_query(filters, FILTER_NAMES))
    context = {
        **await list_context(session, "/ui/findings", params, bad, last),
        "rows": [(f, light_of(f, now)) for f in rows],
        "refs": refs,
        "xlsx_url": f"/api/v1/findings?format=xlsx&{api}".rstrip("&"),
        # The audit export of the same findings, for the roles the API gives it to.
        "audit_urls": {
            fmt: f"/api/v1/findings/events?format={fmt}&{api}".rstrip("&")
            for fmt in ("csv", "xlsx")
        }
        if caller.role in AUDIT_ROLES
        else None,
        "categories": await category_choices(session),
        "statuses": STATUSES,
    }
    return render(request, "ui/findings.html", context, caller, status=422 if bad else 200)
