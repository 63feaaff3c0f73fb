"""Exposure videos (曝光片): register a video with its segments, follow their progress."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.exposure.service import (
    NewSegment,
    NewVideo,
    SegmentRow,
    get_video,
    list_videos,
    progress_of,
    register,
    segments_of,
)
from services.core.exposure.service import Progress as ProgressCounts
from services.core.findings.queries import load_refs
from services.core.findings.rules import FindingError
from services.core.findings.sources import Way, reporting_roles
from services.core.identity.principal import Principal
from services.core.models import CLOCK_RUNNING, ExposureVideo
from services.core.platform.metrics import FINDINGS_INTAKE

from ..deps import Caller, Ref, Session, SettingsDep, require_roles, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..problems import Problem, problem_from
from ..schemas.exposure_videos import (
    ExposureVideoCreate,
    ExposureVideoOut,
    ExposureVideoPage,
    Progress,
    RectifyWithin,
    SegmentOut,
)
from ..schemas.findings import CategoryRef, Location, UnitRef
from ..schemas.wire import Timestamp
from .findings import make_clock

router = APIRouter(tags=["exposure videos"])

# Who may register a video: who may report its segments' source (services/core/findings/sources.py).
Registrar = Annotated[Principal, Depends(require_roles(*reporting_roles(Way.EXPOSURE_VIDEO)))]
URL = "/api/v1/exposure-videos"


def _new_video(body: ExposureVideoCreate) -> NewVideo:
    return NewVideo(
        id=body.id or uuid.uuid4(),
        title=body.title,
        publisher=body.publisher,
        aired_on=body.aired_on,
        url=body.url,
        rectify_within=body.rectify_within.model_dump(),
        policy=body.policy,
        segments=[
            NewSegment(
                id=s.id,
                offset=s.offset,
                category=s.category,
                description=s.description,
                lat=s.location.lat,
                lon=s.location.lon,
                address=s.location.address,
                unit=s.unit,
                point_type=s.point_type,
            )
            for s in body.segments
        ],
        canonical=body.model_dump(mode="json", exclude={"id"}),
    )


def _progress(p: ProgressCounts) -> Progress:
    return Progress(
        segments=p.segments,
        by_status=p.by_status,
        overdue=p.overdue,
        escalated=p.escalated,
        rectified=p.rectified,
        rectified_on_time=p.rectified_on_time,
    )


def _render(
    video: ExposureVideo,
    progress: ProgressCounts,
    tz: ZoneInfo,
    segments: list[SegmentOut] | None = None,
) -> ExposureVideoOut:
    return ExposureVideoOut(
        id=video.id,
        title=video.title,
        publisher=video.publisher,
        aired_on=video.aired_on,
        url=video.url,
        rectify_within=RectifyWithin.model_validate(video.rectify_within),
        policy=video.policy_code,
        due_at=video.due_at.astimezone(tz),
        created_at=video.created_at.astimezone(tz),
        progress=_progress(progress),
        segments=segments,
        links={"self": f"{URL}/{video.id}"},
    )


async def _segments(
    session: AsyncSession,
    rows: list[SegmentRow],
    caller: Principal,
    tz: ZoneInfo,
    now: datetime,
) -> list[SegmentOut]:
    refs = await load_refs(session, [r.finding for r in rows], caller)
    out = []
    for row in rows:
        f = row.finding
        unit = refs.units.get(f.responsible_unit_id) if f.responsible_unit_id else None
        category = refs.categories[f.category_id]
        out.append(
            SegmentOut(
                id=f.id,
                offset=f.video_offset,
                category=CategoryRef(code=category.code, name=category.name),
                description=f.description,
                location=Location(lat=f.lat, lon=f.lon, address=f.address),
                status=f.status,
                close_reason=f.close_reason,
                responsible_unit=UnitRef(code=unit.code, name=unit.name) if unit else None,
                due_at=f.due_at.astimezone(tz) if f.due_at else None,
                overdue=f.status in CLOCK_RUNNING and f.due_at is not None and f.due_at < now,
                escalation_level=row.escalation_level,
                recurrence_of=refs.link(f.recurrence_of),
                links={"self": f"/api/v1/findings/{f.id}"},
            )
        )
    return out


async def _detail(
    session: AsyncSession, video: ExposureVideo, caller: Principal, tz: ZoneInfo, now: datetime
) -> ExposureVideoOut:
    progress = await progress_of(session, [video.id], caller, now)
    rows = await segments_of(session, video.id, caller)
    return _render(video, progress[video.id], tz, await _segments(session, rows, caller, tz, now))


@router.post(
    "/exposure-videos",
    response_model=ExposureVideoOut,
    status_code=201,
    responses={200: {"model": ExposureVideoOut, "description": "identical replay"}},
)
async def create_exposure_video(
    body: ExposureVideoCreate,
    caller: Registrar,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
    response: Response,
) -> ExposureVideoOut:
    """Register an exposure video: one finding per segment, all due at the batch deadline
    (`rectify_within` working days from now) and escalated on the video's policy. The `id`
    is the idempotency key: a replay answers 200, the same id with another body 409."""
    clock = make_clock(ref, settings)
    window = timedelta(days=settings.recurrence_window_days)
    try:
        video, outcome = await register(
            session, _new_video(body), caller, clock, ref, recurrence_window=window
        )
    except FindingError as exc:
        problem = problem_from(exc)
        if exc.status == 409:
            problem.kind = "idempotency-conflict"
        raise problem from exc
    if outcome == "conflict":
        raise Problem(
            409,
            "This id is already used by a different exposure video; send a new id.",
            kind="idempotency-conflict",
            errors=[{"field": "id", "message": "already used with a different body"}],
        )
    if outcome == "replayed":
        response.status_code = 200
    else:
        FINDINGS_INTAKE.labels("exposure_video", "created").inc(len(body.segments))
    return await _detail(session, video, caller, clock.tz, clock.now)


_cursor_key = CursorKey[tuple[datetime, uuid.UUID]](Timestamp, uuid.UUID)


@router.get("/exposure-videos", response_model=ExposureVideoPage)
async def get_exposure_videos(
    caller: Caller, session: Session, settings: SettingsDep, page: PageDep
) -> ExposureVideoPage:
    """Videos with their progress, newest registration first. A unit sees the videos with a
    segment in its scope, counted over those segments only."""
    now = utcnow()
    fetched = await list_videos(
        session, caller, limit=page.limit + 1, after=page.after(_cursor_key)
    )
    rows, cursor = split_page(fetched, page.limit, lambda v: [v.created_at.isoformat(), str(v.id)])
    progress = await progress_of(session, [v.id for v in rows], caller, now)
    tz = ZoneInfo(settings.timezone)
    return ExposureVideoPage(
        items=[_render(v, progress[v.id], tz) for v in rows], next_cursor=cursor
    )


@router.get("/exposure-videos/{video_id}", response_model=ExposureVideoOut)
async def get_exposure_video(
    video_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> ExposureVideoOut:
    """One video, its progress and its segments (those in your scope)."""
    video = await get_video(session, video_id, caller)
    if video is None:
        raise Problem(404, f"No exposure video {video_id} in your scope.")
    return await _detail(session, video, caller, ZoneInfo(settings.timezone), utcnow())
