"""The accountability ledger (per person, per post), the discipline commission's 问责 records
and a 批示's follow-up deadline (README "Accountability")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Response

from services.core.accountability import queries, service
from services.core.accountability.pack import Subject
from services.core.accountability.rules import ACTION_NAMES, LEDGER_READERS, Figures
from services.core.calendar.store import load_city_clock
from services.core.evidence.storage import make_storage
from services.core.identity.principal import Principal
from services.core.platform.keys import pack_signing_key

from ..deps import Caller, Session, SettingsDep, require_roles, utcnow
from ..pagination import PageDep, id_key, split_page
from ..problems import Problem
from ..schemas.accountability import (
    CommitmentFiguresOut,
    CommitmentLedgerEscalationOut,
    FiguresOut,
    FollowUpIn,
    FollowUpOut,
    FollowUps,
    LedgerEscalationOut,
    LedgerOut,
    LedgerRole,
    PackIn,
    RecordIn,
    RecordOut,
    RecordPage,
    ShareOut,
    TenureOut,
)
from ..schemas.wire import BigId, CodePath, Id, IdPath, Timestamp, local

router = APIRouter(prefix="/accountability", tags=["accountability"])
Reader = Annotated[Principal, Depends(require_roles(*sorted(LEDGER_READERS)))]
DEFAULT_PERIOD = timedelta(days=30)
Since = Annotated[Timestamp | None, Query(description="escalations fired at or after")]
Until = Annotated[Timestamp | None, Query(description="… and before (default: now)")]


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or utcnow()
    return since or end - DEFAULT_PERIOD, end


def _figures(f: Figures) -> FiguresOut:
    return FiguresOut(
        received=f.received,
        by_level={str(level): f.by_level.get(level, 0) for level in range(1, 5)},
        delivered=f.delivered,
        opened=f.opened,
        acknowledged=f.acknowledged,
        median_ack_working_hours=f.median_ack_hours,
        instructions=f.instructions,
        rectified_after_instruction=f.rectified_after_instruction,
        median_rectify_working_hours=f.median_rectify_hours,
        follow_ups=FollowUps(**f.follow_ups),
        open_after_level_4=f.open_after_top_level,
        commitments=CommitmentFiguresOut(
            received=f.commitments.received,
            by_level={str(k): v for k, v in f.commitments.by_level.items()},
            delivered=f.commitments.delivered,
            opened=f.commitments.opened,
            open_after_last_level=f.commitments.open_after_last_level,
        ),
    )


def render_ledger(ledger: service.Ledger, tz: ZoneInfo) -> LedgerOut:
    return LedgerOut(
        subject=ledger.subject,
        name=ledger.name,
        since=local(ledger.since, tz),
        until=local(ledger.until, tz),
        totals=_figures(ledger.totals),
        shares=[
            ShareOut(
                person_id=s.person_id,
                person_name=s.person_name,
                unit_name=s.unit_name,
                role=s.role,
                figures=_figures(s.figures),
                escalations=[
                    LedgerEscalationOut(
                        id=e.escalation_id,
                        finding_id=str(e.finding_id),
                        level=e.level,
                        fired_at=local(e.fired_at, tz),
                        delivered=e.delivered,
                        opened=e.opened,
                        acknowledged_at=local(e.acknowledged_at, tz),
                        instruction=e.instruction,
                        follow_up_due=local(e.follow_up_due, tz),
                        rectified_at=local(e.rectified_at, tz),
                        still_open=e.still_open,
                    )
                    for e in s.escalations
                ],
                commitment_escalations=[
                    CommitmentLedgerEscalationOut(
                        id=e.escalation_id,
                        commitment_id=e.commitment_id,
                        level=e.level,
                        fired_at=local(e.fired_at, tz),
                        delivered=e.delivered,
                        opened=e.opened,
                        still_open=e.still_open,
                    )
                    for e in s.commitment_escalations
                ],
            )
            for s in ledger.shares
        ],
        tenures=[
            TenureOut(
                post_id=t.post_id,
                unit=t.unit_code,
                unit_name=t.unit_name,
                role=t.role,
                person_id=t.person_id,
                person_name=t.person_name,
                valid_from=local(t.valid_from, tz),
                valid_to=local(t.valid_to, tz),
            )
            for t in ledger.tenures
        ],
    )


@router.get("/ledger/people/{person_id}", response_model=LedgerOut)
async def person_ledger(
    person_id: IdPath,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    since: Since = None,
    until: Until = None,
) -> LedgerOut:
    """A person's ledger: the escalations they received over the period, split by the post
    they held when each fired. The discipline commission, supervisors and admins read every
    person's; anyone else only their own (404 otherwise)."""
    start, end = _period(since, until)
    clock = await load_city_clock(session, settings)
    ledger = await service.person_ledger(session, caller, person_id, start, end, clock, utcnow())
    return render_ledger(ledger, ZoneInfo(settings.timezone))


@router.get("/ledger/posts/{unit}/{role}", response_model=LedgerOut)
async def post_ledger(
    unit: CodePath,
    role: Annotated[LedgerRole, Path()],
    _: Reader,
    session: Session,
    settings: SettingsDep,
    since: Since = None,
    until: Until = None,
) -> LedgerOut:
    """A post's ledger (a unit's head, a district's city leader …): split by who held it
    when each escalation fired, with the post's history of holders."""
    start, end = _period(since, until)
    clock = await load_city_clock(session, settings)
    ledger = await service.post_ledger(session, unit, role, start, end, clock, utcnow())
    return render_ledger(ledger, ZoneInfo(settings.timezone))


def render_record(r: queries.RecordView, tz: ZoneInfo) -> RecordOut:
    return RecordOut(
        id=r.id,
        action=r.action,
        action_name=ACTION_NAMES[r.action],
        person=r.person_id,
        person_name=r.person_name,
        unit=r.unit_code,
        unit_name=r.unit_name,
        decided_on=r.decided_on,
        summary=r.summary,
        created_by=r.created_by,
        created_at=local(r.created_at, tz),
        escalations=r.escalation_ids,
        commitments=r.commitment_ids,
    )


@router.post("/records", response_model=RecordOut, status_code=201)
async def create_record(
    body: RecordIn, caller: Caller, session: Session, settings: SettingsDep
) -> RecordOut:
    """The discipline commission records an action (提醒谈话, 约谈, 通报批评, 诫勉, 问责 …)
    against a person or a unit, with the escalations (and commitments) that led to it."""
    view = await service.create_record(
        session,
        caller,
        action=body.action,
        person_id=body.person,
        unit_code=body.unit,
        decided_on=body.decided_on,
        summary=body.summary,
        escalation_ids=body.escalations,
        commitment_ids=body.commitments,
        now=utcnow(),
    )
    return render_record(view, ZoneInfo(settings.timezone))


@router.get("/records", response_model=RecordPage)
async def list_records(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    person: Annotated[Id | None, Query()] = None,
) -> RecordPage:
    """The records the caller may see, newest first: all of them for the discipline
    commission and admins, one's own (or one's unit's, as its head) for anyone else."""
    rows = await queries.records(
        session,
        caller,
        utcnow(),
        person_id=person,
        after=page.after(id_key),
        limit=page.limit + 1,
    )
    items, cursor = split_page(rows, page.limit, lambda r: [r.id])
    tz = ZoneInfo(settings.timezone)
    return RecordPage(items=[render_record(r, tz) for r in items], next_cursor=cursor)


@router.get("/records/{record_id}", response_model=RecordOut)
async def get_record(
    record_id: IdPath, caller: Caller, session: Session, settings: SettingsDep
) -> RecordOut:
    view = await service.one_record(session, caller, record_id, utcnow())
    return render_record(view, ZoneInfo(settings.timezone))


@router.put("/follow-ups/{escalation_id}", response_model=FollowUpOut)
async def set_follow_up(
    escalation_id: Annotated[BigId, Path()],
    body: FollowUpIn,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
) -> FollowUpOut:
    """The leader who gave the 批示 sets the date by which the item must be rectified; the
    ledger tracks it (met, missed, pending)."""
    f = await service.set_follow_up(session, caller, escalation_id, body.due_at, utcnow())
    tz = ZoneInfo(settings.timezone)
    return FollowUpOut(
        escalation_id=f.escalation_id,
        due_at=local(f.due_at, tz),
        set_at=local(f.set_at, tz),
    )


PACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "the signed evidence pack",
    }
}


@router.post("/evidence-packs", response_class=Response, responses=PACK_RESPONSES)
async def make_evidence_pack(
    body: PackIn, caller: Caller, session: Session, settings: SettingsDep
) -> Response:
    """One ZIP for the discipline commission: the report (HTML and PDF, Chinese) — a
    commitment's pledge, progress and own escalations when it is the subject; each
    finding's timeline, escalations with their receipts and 批示, photos with their flags —
    the photos, the rows as CSV, and a manifest of SHA-256 sums, signed with the server's
    key (`duban verify-pack FILE` checks it). Taking a pack is recorded."""
    kinds = ("finding", "commitment", "unit", "person")
    chosen = [name for name in kinds if getattr(body, name) is not None]
    if len(chosen) != 1:
        raise Problem(
            422,
            "Name exactly one of finding, commitment, unit and person.",
            kind="validation",
            errors=[
                {"field": "finding", "message": "exactly one of finding, commitment, unit, person"}
            ],
        )
    subject = Subject(
        chosen[0], body.finding, body.unit, body.person, body.since, body.until, body.commitment
    )
    name, archive = await service.make_pack(
        session,
        caller,
        subject,
        storage=make_storage(settings),
        key=pack_signing_key(settings),
        tz=ZoneInfo(settings.timezone),
        font_path=settings.pdf_font,
        now=utcnow(),
    )
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
