"""Supervision: the escalation list (JSON or CSV) and the leader's acknowledgement (批示)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.commitments.queries import supervisors
from services.core.escalation.acknowledge import acknowledge, acknowledge_event
from services.core.escalation.queries import (
    ESCALATION_STATUSES,
    EscalationFilters,
    EscalationRow,
    Key,
    filter_clauses,
    list_escalations,
    one_escalation,
    status_of,
)
from services.core.escalation.rules import Light
from services.core.evidence.attachments import claim, link, summary
from services.core.identity.principal import Principal
from services.core.models import Attachment
from services.core.notify.queries import delivery_state, receipts
from services.core.platform.errors import UnknownReference

from ..deps import Caller, Session, SettingsDep, utcnow
from ..escalation_csv import content_disposition, render_csv
from ..pagination import CursorKey, PageDep, split_page
from ..problems import Problem
from ..schemas.escalations import (
    AcknowledgeIn,
    AttemptOut,
    ChannelReceipt,
    EscalationOut,
    EscalationPage,
    EscalationStatus,
    FindingSummary,
    Reason,
    ReceiptsOut,
    RecipientReceipt,
    TargetOut,
)
from ..schemas.findings import CategoryRef, LightName, Source, UnitRef
from ..schemas.wire import BigId, Id, Timestamp, local
from ..xlsx import XLSX_MEDIA_TYPE
from . import exports

router = APIRouter(prefix="/escalations", tags=["supervision"])

# A CSV export holds at most this many rows, newest first; `X-Export-Truncated: true` says
# more matched (narrow the filters, e.g. by since/until, to get the rest).
CSV_MAX_ROWS = 50_000
CSV_CHUNK = 2_000
assert set(ESCALATION_STATUSES) == {"open", "acknowledged", "resolved"}  # noqa: S101

IdPath = Annotated[BigId, Path()]


def render(row: EscalationRow, tz: ZoneInfo, now: datetime) -> EscalationOut:
    e = row.escalation
    responsible = (
        UnitRef(code=row.responsible_code, name=row.responsible_name or "")
        if row.responsible_code is not None
        else None
    )
    district = (
        UnitRef(code=row.district_code, name=row.district_name or "")
        if row.district_code is not None
        else None
    )
    return EscalationOut(
        id=e.id,
        finding=FindingSummary(
            id=e.finding_id,
            category=CategoryRef(code=row.category_code, name=row.category_name),
            description=row.finding_description,
            responsible_unit=responsible,
            due_at=local(row.finding_due_at, tz),
            status=row.finding_status,
            light=row.light(now),
        ),
        level=e.level,
        target=TargetOut(
            kind=e.target,
            person_id=e.target_person_id,
            name=e.target_name,
            title=e.target_title,
            unit=UnitRef(code=row.target_unit_code, name=e.target_unit_name),
        ),
        reason=cast(Reason, e.reason),
        source=e.source,
        fired_at=e.fired_at.astimezone(tz),
        due_for=e.due_for.astimezone(tz),
        lag_seconds=round((e.fired_at - e.due_for).total_seconds(), 3),
        district=district,
        acknowledged_at=local(e.acknowledged_at, tz),
        acknowledged_by=row.acknowledged_by,
        instruction=e.instruction,
        resolved_at=local(e.resolved_at, tz),
        status=cast(EscalationStatus, status_of(e)),
    )


# (fired_at, id) of the last row.
cursor_key = CursorKey[Key](Timestamp, BigId)


@router.get(
    "",
    response_model=EscalationPage,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string"}},
            },
            "description": "the page as JSON, or with ?format=csv (or xlsx) every matching row "
            f"(at most {CSV_MAX_ROWS:,}) as UTF-8 CSV with a byte-order mark (or a workbook)",
        }
    },
)
async def get_escalations(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    district: Annotated[str | None, Query(max_length=64, description="district code")] = None,
    unit: Annotated[
        str | None, Query(max_length=64, description="responsible unit code (with its subtree)")
    ] = None,
    level: Annotated[int | None, Query(ge=1, le=9)] = None,
    status: EscalationStatus | None = None,
    source: Source | None = None,
    target_person: Annotated[Id | None, Query(description="person id of the target")] = None,
    since: Annotated[Timestamp | None, Query(description="fired at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="fired before")] = None,
    light: Annotated[
        LightName | None,
        Query(description="only escalations whose finding's traffic light is this now"),
    ] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> EscalationPage | Response:
    """Escalations in the caller's scope, newest first. Supervisors see all; a leader those
    addressed to them; anyone else those of their unit's subtree. With `format=csv` (or
    `xlsx`) every matching row (limit and cursor do not apply) up to the export cap comes as
    a CSV file (or an Excel workbook)."""
    filters = EscalationFilters(
        district,
        unit,
        level,
        status,
        source,
        target_person,
        since,
        until,
        Light(light) if light is not None else None,
    )
    now = utcnow()
    try:
        clauses = await filter_clauses(session, filters, now=now)
    except UnknownReference as exc:
        raise Problem(
            422, str(exc), kind="validation", errors=[{"field": exc.field, "message": str(exc)}]
        ) from exc
    tz = ZoneInfo(settings.timezone)
    if format != "json":
        return await _export(session, caller, clauses, tz, now, format)
    after = page.after(cursor_key)
    fetched = await list_escalations(session, caller, clauses, after=after, limit=page.limit + 1)
    rows, cursor = split_page(
        fetched, page.limit, lambda r: [r.escalation.fired_at.isoformat(), r.escalation.id]
    )
    items = [render(r, tz, now) for r in rows]
    return EscalationPage(items=await _mark_supervised(session, items), next_cursor=cursor)


async def _mark_supervised(
    session: AsyncSession, items: list[EscalationOut]
) -> list[EscalationOut]:
    """The mark of personal supervision (领导包案) on each finding a leader holds."""
    for finding_id, leader in await supervisors(session, findings=[e.finding.id for e in items]):
        for item in items:
            if item.finding.id == finding_id:
                item.finding.personally_supervised_by.append(leader.name)
    return items


async def _export(
    session: AsyncSession,
    caller: Principal,
    clauses: list[ColumnElement[bool]],
    tz: ZoneInfo,
    now: datetime,
    format: Literal["csv", "xlsx"],
) -> Response:
    rows: list[EscalationRow] = []
    after: Key | None = None
    # One row past the cap tells a complete export from a truncated one.
    while len(rows) <= CSV_MAX_ROWS:
        want = min(CSV_CHUNK, CSV_MAX_ROWS + 1 - len(rows))
        chunk = await list_escalations(session, caller, clauses, after=after, limit=want)
        rows += chunk
        if len(chunk) < want:
            break
        after = chunk[-1].key
    truncated = len(rows) > CSV_MAX_ROWS
    rows = rows[:CSV_MAX_ROWS]
    if format == "xlsx":
        return exports.escalations_xlsx(rows, truncated, tz, now)
    headers = {
        "Content-Disposition": content_disposition(now, tz),
        "X-Export-Rows": str(len(rows)),
        "X-Export-Truncated": "true" if truncated else "false",
    }
    return Response(
        render_csv(rows, tz, now), media_type="text/csv; charset=utf-8", headers=headers
    )


@router.post("/{escalation_id}/acknowledge", response_model=EscalationOut)
async def post_acknowledge(
    escalation_id: IdPath,
    body: AcknowledgeIn,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
) -> EscalationOut:
    """The target's acknowledgement with an instruction (批示): once per escalation. It is
    recorded in the finding's audit trail and does not stop the later levels. The reply may
    carry photos and files uploaded to the finding first (`attachments`)."""
    files: list[Attachment] = []
    if body.attachments:
        found = await one_escalation(session, caller, escalation_id)
        if found is None:
            raise Problem(404, f"No escalation {escalation_id} in your scope.")
        files = await claim(session, found.escalation.finding_id, body.attachments, caller)
    extra = {"attachments": [summary(a) for a in files]} if files else None
    e = await acknowledge(session, escalation_id, caller, body.instruction, utcnow(), extra)
    if files:
        await link(session, files, await acknowledge_event(session, e))
    row = await one_escalation(session, caller, escalation_id)
    assert row is not None  # noqa: S101 - just acknowledged in this transaction
    return render(row, ZoneInfo(settings.timezone), utcnow())


@router.get("/{escalation_id}/receipts", response_model=ReceiptsOut)
async def get_receipts(
    escalation_id: IdPath, caller: Caller, session: Session, settings: SettingsDep
) -> ReceiptsOut:
    """What became of the escalation's messages, per recipient (its target, and the work
    groups of the units it went to): sent, delivered (where the provider tells), opened,
    acknowledged, each channel tried in the fallback order, and every attempt with the
    provider's answer. In the caller's scope, as the list."""
    row = await one_escalation(session, caller, escalation_id)
    if row is None:
        raise Problem(404, f"No escalation {escalation_id} in your scope.")
    tz = ZoneInfo(settings.timezone)
    e = row.escalation
    found = await receipts(session, e.id, utcnow())
    recipients = [
        RecipientReceipt(
            kind=r.kind,
            person_id=r.person_id,
            unit_id=r.unit_id,
            name=r.name,
            state=r.state,
            sent_at=local(r.sent_at, tz),
            delivered_at=local(r.delivered_at, tz),
            opened_at=local(r.opened_at, tz),
            acknowledged_at=local(e.acknowledged_at, tz)
            if r.kind == "person" and r.person_id == e.target_person_id
            else None,
            inbox_sent_at=local(r.inbox_sent_at, tz),
            channels=[
                ChannelReceipt(
                    notification_id=c.notification_id,
                    channel=c.channel,
                    target=c.target,
                    rank=c.rank,
                    status=c.status,
                    next_attempt_at=local(c.next_attempt_at, tz),
                    sent_at=local(c.sent_at, tz),
                    delivered_at=local(c.delivered_at, tz),
                    opened_at=local(c.opened_at, tz),
                    digest_id=c.digest_id,
                    last_error=c.last_error,
                    attempts=[
                        AttemptOut(
                            at=a.at.astimezone(tz),
                            finished_at=local(a.finished_at, tz),
                            outcome=a.outcome,
                            provider_code=a.provider_code,
                            answer=a.answer,
                        )
                        for a in c.attempts
                    ],
                )
                for c in r.channels
            ],
        )
        for r in found
    ]
    return ReceiptsOut(escalation_id=e.id, delivery=delivery_state(found), recipients=recipients)
