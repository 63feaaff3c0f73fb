"""The commitments ledger (整改承诺台账): meetings, each unit's commitments, progress reports
and the office's review; and personal supervision (领导包案) of a commitment or a finding.
Every read is scoped: a unit sees its subtree's commitments, another's is a 404."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from services.core.commitments import photos, queries, service, supervision
from services.core.commitments.queries import CommitmentView, Filters
from services.core.commitments.rules import STATUSES
from services.core.evidence.service import EvidencePolicy
from services.core.evidence.storage import make_storage
from services.core.models import (
    CommitmentEscalation,
    CommitmentPhoto,
    CommitmentProgress,
    Meeting,
    PersonalSupervision,
)
from services.core.platform.errors import DomainError

from ..deps import Caller, Ref, Session, SettingsDep, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..schemas.commitments import (
    CommitmentBrief,
    CommitmentCreate,
    CommitmentOut,
    CommitmentPage,
    EarlierOut,
    LevelOut,
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    PersonOut,
    PhotoOut,
    ProgressCreate,
    ProgressList,
    ProgressOut,
    ReviewIn,
    RevisitOut,
    RevisitsOut,
    SupervisionIn,
    SupervisionList,
    SupervisionOut,
    SupervisorOut,
    UnitOut,
)
from ..schemas.wire import Code, Id, IdPath
from ..uploads import read_upload, stored_bytes
from .findings import make_clock

router = APIRouter(tags=["commitments"])
_id_key = CursorKey[int](Id)
StatusFilter = Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$")]


async def _meetings_out(
    session: Session, caller: Caller, rows: list[Meeting], tz: ZoneInfo
) -> list[MeetingOut]:
    ids = [m.id for m in rows]
    videos = await queries.meeting_videos(session, caller, ids)
    counts = await queries.meeting_counts(session, caller, ids)
    return [
        MeetingOut(
            id=m.id,
            held_on=m.held_on,
            title=m.title,
            kind=m.kind,
            videos=videos.get(m.id, []),
            commitments=counts.get(m.id, 0),
            created_at=m.created_at.astimezone(tz),
        )
        for m in rows
    ]


def _level(e: CommitmentEscalation, tz: ZoneInfo) -> LevelOut:
    return LevelOut(
        level=e.level, target=e.target, reason=e.reason, fired_at=e.fired_at.astimezone(tz),
        due_for=e.due_for.astimezone(tz), target_name=e.target_name,
        target_title=e.target_title, target_unit=e.target_unit_name,
    )  # fmt: skip


def commitment_out(v: CommitmentView, tz: ZoneInfo, now: datetime) -> CommitmentOut:
    c = v.commitment
    leader = (
        PersonOut(person_id=c.leader_person_id, name=c.leader_name or "", title=c.leader_title)
        if c.leader_person_id is not None
        else None
    )
    return CommitmentOut(
        id=c.id, meeting=c.meeting_id, meeting_title=v.meeting.title,
        unit=UnitOut(code=v.unit_code, name=v.unit_name), district=v.district_code,
        status_quo=c.status_quo, problems=c.problems, targets=c.targets, measures=c.measures,
        deadline=c.deadline, due_at=c.due_at.astimezone(tz), leader=leader, percent=c.percent,
        status=v.status(now).value,
        accepted_at=c.accepted_at.astimezone(tz) if c.accepted_at else None,
        findings=v.findings, personally_supervised=bool(v.supervisors),
        supervisors=[
            SupervisorOut(person_id=s.person_id, name=s.name, title=s.title,
                          since=s.since.astimezone(tz))
            for s in v.supervisors
        ],
        escalations=[_level(e, tz) for e in v.escalations],
        created_at=c.created_at.astimezone(tz), version=c.version,
    )  # fmt: skip


def _photo_out(cid: int, p: CommitmentPhoto, tz: ZoneInfo) -> PhotoOut:
    return PhotoOut(
        id=p.id, media_type=p.media_type, bytes=p.bytes, width=p.width, height=p.height,
        uploaded_at=p.uploaded_at.astimezone(tz),
        url=f"/api/v1/commitments/{cid}/progress/{p.progress_id}/photos/{p.id}",
    )  # fmt: skip


def _progress_out(
    p: CommitmentProgress, tz: ZoneInfo, shots: list[CommitmentPhoto] | None = None
) -> ProgressOut:
    return ProgressOut(
        id=p.id, commitment=p.commitment_id, text=p.content, percent=p.percent,
        reported_at=p.reported_at.astimezone(tz), review=p.review,
        reviewed_at=p.reviewed_at.astimezone(tz) if p.reviewed_at else None,
        review_note=p.review_note,
        photos=[_photo_out(p.commitment_id, shot, tz) for shot in shots or []],
    )  # fmt: skip


def _supervision_out(s: PersonalSupervision, tz: ZoneInfo) -> SupervisionOut:
    return SupervisionOut(
        id=s.id, person_id=s.person_id, finding=s.finding_id, commitment=s.commitment_id,
        note=s.note, started_at=s.started_at.astimezone(tz),
        ended_at=s.ended_at.astimezone(tz) if s.ended_at else None,
    )  # fmt: skip


@router.post("/meetings", response_model=MeetingOut, status_code=201)
async def post_meeting(
    body: MeetingCreate, caller: Caller, session: Session, settings: SettingsDep, ref: Ref
) -> MeetingOut:
    """The campaign office records a meeting and the exposure videos it reviewed."""
    new = service.NewMeeting(body.held_on, body.title, body.kind, body.videos)
    meeting = await service.create_meeting(session, new, caller, make_clock(ref, settings))
    return (await _meetings_out(session, caller, [meeting], ZoneInfo(settings.timezone)))[0]


@router.get("/meetings", response_model=MeetingPage)
async def list_meetings(
    caller: Caller, session: Session, settings: SettingsDep, page: PageDep
) -> MeetingPage:
    """Meetings, newest first; each with its commitments in the caller's scope counted."""
    rows = await queries.meetings_page(session, after=page.after(_id_key), limit=page.limit + 1)
    items, cursor = split_page(rows, page.limit, lambda m: [m.id])
    tz = ZoneInfo(settings.timezone)
    return MeetingPage(items=await _meetings_out(session, caller, items, tz), next_cursor=cursor)


@router.get("/meetings/{meeting_id}", response_model=MeetingOut)
async def get_meeting(
    meeting_id: IdPath, caller: Caller, session: Session, settings: SettingsDep
) -> MeetingOut:
    meeting = await queries.meeting(session, meeting_id)
    return (await _meetings_out(session, caller, [meeting], ZoneInfo(settings.timezone)))[0]


@router.post("/meetings/{meeting_id}/commitments", response_model=CommitmentOut, status_code=201)
async def post_commitment(
    meeting_id: IdPath, body: CommitmentCreate, caller: Caller, session: Session,
    settings: SettingsDep, ref: Ref,
) -> CommitmentOut:  # fmt: skip
    """A unit's commitment at the meeting: status quo, problems, targets, measures, a
    deadline (a date, or working days from the meeting) and the findings it covers; its
    leader is the unit's head now."""
    new = service.NewCommitment(
        unit=body.unit, status_quo=body.status_quo, problems=body.problems,
        targets=body.targets, measures=body.measures,
        deadline=body.deadline.model_dump(exclude_none=True), findings=body.findings,
    )  # fmt: skip
    created = await service.add_commitment(
        session, meeting_id, new, caller, make_clock(ref, settings)
    )
    view = await queries.get_view(session, caller, created.id)
    return commitment_out(view, ZoneInfo(settings.timezone), utcnow())


@router.get("/commitments", response_model=CommitmentPage)
async def list_commitments(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    meeting: Annotated[Id | None, Query()] = None,
    district: Annotated[Code | None, Query()] = None,
    unit: Annotated[Code | None, Query()] = None,
    status: StatusFilter = None,
    supervised_by: Annotated[Id | None, Query(description="a person id")] = None,
    video: Annotated[uuid.UUID | None, Query(description="made at a meeting on it")] = None,
) -> CommitmentPage:
    """The commitments in the caller's scope, in the order recorded."""
    now = utcnow()
    filters = Filters(meeting, district, unit, status, supervised_by, video)
    rows = await queries.commitments_page(
        session, caller, filters, now, after=page.after(_id_key), limit=page.limit + 1
    )
    items, cursor = split_page(rows, page.limit, lambda v: [v.commitment.id])
    tz = ZoneInfo(settings.timezone)
    return CommitmentPage(items=[commitment_out(v, tz, now) for v in items], next_cursor=cursor)


@router.get("/commitments/{commitment_id}", response_model=CommitmentOut)
async def get_commitment(
    commitment_id: IdPath, caller: Caller, session: Session, settings: SettingsDep
) -> CommitmentOut:
    view = await queries.get_view(session, caller, commitment_id)
    return commitment_out(view, ZoneInfo(settings.timezone), utcnow())


@router.post("/commitments/{commitment_id}/progress", response_model=ProgressOut, status_code=201)
async def post_progress(
    commitment_id: IdPath, body: ProgressCreate, caller: Caller, session: Session,
    settings: SettingsDep, ref: Ref,
) -> ProgressOut:  # fmt: skip
    """The unit reports what it has done and how far (percent); the office reviews it."""
    report = await service.report_progress(
        session, commitment_id, body.text, body.percent, caller, make_clock(ref, settings)
    )
    return _progress_out(report, ZoneInfo(settings.timezone))


@router.get("/commitments/{commitment_id}/progress", response_model=ProgressList)
async def list_progress(
    commitment_id: IdPath, caller: Caller, session: Session, settings: SettingsDep
) -> ProgressList:
    await queries.get_view(session, caller, commitment_id)
    tz = ZoneInfo(settings.timezone)
    reports = await queries.progress_of(session, commitment_id)
    shots = await photos.photos_of(session, [p.id for p in reports])
    return ProgressList(items=[_progress_out(p, tz, shots.get(p.id)) for p in reports])


@router.post(
    "/commitments/{commitment_id}/progress/{progress_id}/photos",
    response_model=PhotoOut,
    status_code=201,
    responses={
        200: {"description": "the same photo was already attached"},
        413: {"description": "larger than DUBAN_EVIDENCE_MAX_BYTES"},
        415: {"description": "not a JPEG, PNG or WebP"},
    },
)
async def post_progress_photo(
    commitment_id: IdPath, progress_id: IdPath, request: Request, response: Response,
    caller: Caller, session: Session, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG or WebP")],
) -> PhotoOut:  # fmt: skip
    """A photo of the unit's progress report, until the office reviewed it (multipart
    `file`; kept like a finding's evidence). The same photo again answers 200."""
    data = await read_upload(request, file, settings, frozenset({"file"}))
    shot, created = await photos.attach_photo(
        session, commitment_id, progress_id, data, caller, now=utcnow(),
        policy=EvidencePolicy.from_settings(settings), storage=make_storage(settings),
    )  # fmt: skip
    if not created:
        response.status_code = 200
    return _photo_out(commitment_id, shot, ZoneInfo(settings.timezone))


@router.get(
    "/commitments/{commitment_id}/progress/{progress_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_progress_photo(
    commitment_id: IdPath, progress_id: IdPath, photo_id: uuid.UUID, caller: Caller,
    session: Session, settings: SettingsDep,
) -> Response:  # fmt: skip
    """The stored photo (re-encoded, without metadata); 404 outside the caller's scope."""
    shot = await photos.visible_photo(session, caller, commitment_id, progress_id, photo_id)
    content = await stored_bytes(
        settings, shot.object_key, missing=f"The photo {photo_id} is missing from storage.",
        what="photo",
    )  # fmt: skip
    return Response(
        content=content, media_type=shot.media_type,
        headers={"ETag": f'"{shot.id}"', "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


@router.post(
    "/commitments/{commitment_id}/progress/{progress_id}/review", response_model=ProgressOut
)
async def post_review(
    commitment_id: IdPath, progress_id: IdPath, body: ReviewIn, caller: Caller,
    session: Session, settings: SettingsDep, ref: Ref,
) -> ProgressOut:  # fmt: skip
    """The campaign office accepts a report (at 100 % the commitment is done) or returns it
    with a note."""
    _, report = await service.review_progress(
        session, commitment_id, progress_id, body.decision == "accept", body.note, caller,
        make_clock(ref, settings),
    )  # fmt: skip
    return _progress_out(report, ZoneInfo(settings.timezone))


async def _take(
    item: supervision.Item, body: SupervisionIn | None, caller: Caller, session: Session,
    settings: SettingsDep, ref: Ref, response: Response,
) -> SupervisionOut:  # fmt: skip
    note = body.note if body else None
    charge, created = await supervision.take_charge(
        session, caller, item, note, make_clock(ref, settings)
    )
    response.status_code = 201 if created else 200
    return _supervision_out(charge, ZoneInfo(settings.timezone))


@router.post(
    "/commitments/{commitment_id}/supervision", response_model=SupervisionOut, status_code=201
)
async def post_commitment_supervision(
    commitment_id: IdPath, caller: Caller, session: Session, settings: SettingsDep, ref: Ref,
    response: Response, body: SupervisionIn | None = None,
) -> SupervisionOut:  # fmt: skip
    """The calling leader takes personal charge (包案); again: 200, nothing changes."""
    item = supervision.Item(commitment=commitment_id)
    return await _take(item, body, caller, session, settings, ref, response)


@router.delete("/commitments/{commitment_id}/supervision", response_model=SupervisionOut)
async def delete_commitment_supervision(
    commitment_id: IdPath, caller: Caller, session: Session, settings: SettingsDep, ref: Ref
) -> SupervisionOut:
    """The calling leader ends their charge; its record stays."""
    ended = await supervision.release(
        session, caller, supervision.Item(commitment=commitment_id), make_clock(ref, settings)
    )
    return _supervision_out(ended, ZoneInfo(settings.timezone))


@router.post("/findings/{finding_id}/supervision", response_model=SupervisionOut, status_code=201)
async def post_finding_supervision(
    finding_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep, ref: Ref,
    response: Response, body: SupervisionIn | None = None,
) -> SupervisionOut:  # fmt: skip
    """The calling leader takes personal charge of the finding (亲自督办)."""
    item = supervision.Item(finding=finding_id)
    return await _take(item, body, caller, session, settings, ref, response)


@router.delete("/findings/{finding_id}/supervision", response_model=SupervisionOut)
async def delete_finding_supervision(
    finding_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep, ref: Ref
) -> SupervisionOut:
    ended = await supervision.release(
        session, caller, supervision.Item(finding=finding_id), make_clock(ref, settings)
    )
    return _supervision_out(ended, ZoneInfo(settings.timezone))


@router.get("/supervision", response_model=SupervisionList)
async def my_supervision(
    caller: Caller, session: Session, settings: SettingsDep
) -> SupervisionList:
    """The findings and commitments the caller holds in personal charge (none for an account
    that is no person's)."""
    if caller.person_id is None:
        raise DomainError(403, "Only a leader holds items in personal charge.")
    tz = ZoneInfo(settings.timezone)
    held = await supervision.held_by(session, caller.person_id)
    return SupervisionList(items=[_supervision_out(s, tz) for s in held])


def _brief(v: CommitmentView, tz: ZoneInfo, now: datetime) -> CommitmentBrief:
    c = v.commitment
    return CommitmentBrief(
        id=c.id, meeting_title=v.meeting.title, unit=UnitOut(code=v.unit_code, name=v.unit_name),
        targets=c.targets, due_at=c.due_at.astimezone(tz), status=v.status(now).value,
        personally_supervised=bool(v.supervisors),
    )  # fmt: skip


@router.get("/exposure-videos/{video_id}/revisits", response_model=RevisitsOut)
async def get_revisits(
    video_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> RevisitsOut:
    """回头看: for a follow-up exposure video, each segment in the caller's scope with the
    earlier problems at its place (rectified or not) and the commitments that covered them."""
    tz, now = ZoneInfo(settings.timezone), utcnow()
    found = await queries.revisits(session, caller, video_id)
    return RevisitsOut(
        video=video_id,
        items=[
            RevisitOut(
                segment=r.segment.id,
                description=r.segment.description,
                status=r.segment.status,
                video_offset=r.segment.video_offset,
                earlier=[
                    EarlierOut(
                        finding=e.finding.id,
                        relation=e.relation,
                        description=e.finding.description,
                        status=e.finding.status,
                        close_reason=e.finding.close_reason,
                        reported_at=e.finding.reported_at.astimezone(tz),
                        video=e.video_title,
                        aired_on=e.video_aired_on,
                    )
                    for e in r.earlier
                ],
                commitments=[_brief(v, tz, now) for v in r.commitments],
            )
            for r in found
        ],
    )
