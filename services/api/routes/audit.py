"""The audit export: the events of any filtered set of findings, for the supervision office
and the discipline commission (services/api/audit_export.py)."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import text

from services.core.findings.queries import audit_clauses, count_audit_events
from services.core.platform.errors import UnknownReference

from .. import audit_export
from ..deps import Caller, SettingsDep, app_state, check_role, utcnow
from ..xlsx import XLSX_MEDIA_TYPE, attachment
from .findings import Filters, unknown_reference

router = APIRouter(tags=["findings"])

# The office (dispatchers, supervisors, admins) and leaders, the discipline commission's
# among them; each sees only the findings of their scope.
AUDIT_ROLES = frozenset({"dispatcher", "supervisor", "admin", "leader"})
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA_TYPE}


@router.get(
    "/findings/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string"}},
            },
            "description": "every event of the matching findings, oldest first, at most "
            "DUBAN_AUDIT_EXPORT_MAX_ROWS; X-Export-Rows and X-Export-Truncated say how many",
        }
    },
)
async def export_audit(
    request: Request,
    caller: Caller,
    settings: SettingsDep,
    filters: Filters,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> StreamingResponse:
    """The audit trail of every finding GET /findings would list with the same filters, in
    the caller's scope: one row per event, in the order they were written."""
    check_role(caller, AUDIT_ROLES)
    cap = settings.audit_export_max_rows
    tz = ZoneInfo(settings.timezone)
    now = utcnow()
    # A session of its own, held while the response streams: one read-only snapshot for the
    # count and every row (closed by the stream, or here if it never starts).
    session = app_state(request).sessionmaker()
    try:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await session.execute(text("SET TRANSACTION READ ONLY"))
        where = await audit_clauses(session, caller, filters, now)
        total = await count_audit_events(session, where, cap + 1)
    except UnknownReference as exc:
        await session.close()
        raise unknown_reference(exc) from exc
    except BaseException:
        await session.close()
        raise
    rows = min(total, cap)
    stream = audit_export.csv_stream if format == "csv" else audit_export.xlsx_stream
    stamp = now.astimezone(tz).strftime("%Y%m%d-%H%M%S")
    headers = {
        "Content-Disposition": attachment(f"audit-{stamp}", f"审计记录-{stamp}", format),
        "X-Export-Rows": str(rows),
        "X-Export-Truncated": "true" if total > cap else "false",
    }
    return StreamingResponse(
        stream(session, caller, where, rows, tz), media_type=MEDIA_TYPES[format], headers=headers
    )
