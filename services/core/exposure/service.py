"""Exposure videos (曝光片): registration of a video with its segments, and its progress.

Every segment is an ordinary finding (source `exposure_video`) that goes through the findings
intake with the video's terms: the batch deadline — `rectify_within` working days counted from
registration, the same moment for every segment whatever its category — and the video's
escalation policy, snapshotted like any other. Registration is idempotent on the video's id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.plans import UnknownPolicy
from services.core.findings.intake import IntakeTerms, NewFinding, Outcome, report, request_hash
from services.core.findings.rules import Clock, FindingError
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import CLOCK_RUNNING, Escalation, ExposureVideo, Finding, Status
from services.core.platform.db import driver_connection
from services.core.reference.snapshot import Reference

SOURCE = "exposure_video"
MAX_SEGMENTS = 200
_OFFSET = re.compile(r"(?:(?P<h>\d{1,2}):(?P<m2>[0-5]\d)|(?P<m>\d{1,3})):(?P<s>[0-5]\d)")


def parse_offset(text: str) -> tuple[str, int]:
    """ "3:15" → ("03:15", 195); "1:02:03" → ("01:02:03", 3723). Where in the video the
    problem is shown, zero-padded as it was written (mm:ss or hh:mm:ss)."""
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a position in the video as mm:ss or hh:mm:ss")
    seconds = int(match["s"])
    if match["h"] is not None:
        hours, minutes = int(match["h"]), int(match["m2"])
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}", hours * 3600 + minutes * 60 + seconds
    minutes = int(match["m"])
    return f"{minutes:02d}:{seconds:02d}", minutes * 60 + seconds


def offset_seconds(offset: str | None) -> int:
    return parse_offset(offset)[1] if offset else 0


def segment_id(video_id: uuid.UUID, index: int) -> uuid.UUID:
    """The default id of a segment: the same on every replay of the video, so a replay
    creates nothing new."""
    return uuid.uuid5(video_id, f"segment:{index}")


@dataclass(frozen=True)
class NewSegment:
    id: uuid.UUID | None
    offset: str
    category: str
    description: str
    lat: float
    lon: float
    address: str | None
    unit: str | None
    point_type: str | None


@dataclass(frozen=True)
class NewVideo:
    id: uuid.UUID
    title: str
    publisher: str | None
    aired_on: date
    url: str | None
    rectify_within: dict[str, Any]
    policy: str
    segments: Sequence[NewSegment]
    # The canonical request, hashed with the creator: a replay must match it exactly.
    canonical: dict[str, Any] = field(repr=False)


def _segment_error(index: int, exc: FindingError) -> FindingError:
    where = f"segments[{index}]"
    field_name = f"{where}.{exc.field}" if exc.field else where
    return FindingError(exc.status, f"Segment {index}: {exc.message}", field_name)


async def register(
    session: AsyncSession,
    video: NewVideo,
    creator: Principal,
    clock: Clock,
    ref: Reference,
    *,
    recurrence_window: timedelta,
) -> tuple[ExposureVideo, Outcome]:
    """Store the video and one finding per segment, or recognise a replay of one stored."""
    digest = request_hash(video.canonical, creator.user_id)
    existing = await session.get(ExposureVideo, video.id)
    if existing is not None:
        return existing, ("replayed" if existing.request_hash == digest else "conflict")
    if len(video.segments) > MAX_SEGMENTS:
        raise FindingError(422, f"A video holds at most {MAX_SEGMENTS} segments.", "segments")
    if video.aired_on > clock.now.astimezone(clock.tz).date():
        raise FindingError(422, "aired_on lies in the future.", "aired_on")
    try:
        ref.plan(video.policy)
    except UnknownPolicy as exc:
        raise FindingError(422, f"Unknown escalation policy {video.policy!r}.", "policy") from exc
    try:
        due = clock.due(clock.now, video.rectify_within)
    except ValueError as exc:
        raise FindingError(422, str(exc), "rectify_within") from exc
    ids = [s.id or segment_id(video.id, i) for i, s in enumerate(video.segments)]
    for i, sid in enumerate(ids):
        if sid in ids[:i]:
            raise FindingError(422, f"Segment id {sid} is used twice.", f"segments[{i}].id")

    # ON CONFLICT: concurrent copies of one registration make one row; the losers wait for the
    # winner's commit and read its row as a replay.
    inserted = (
        await session.execute(
            insert(ExposureVideo)
            .values(
                id=video.id,
                title=video.title,
                publisher=video.publisher,
                aired_on=video.aired_on,
                url=video.url,
                rectify_within=video.rectify_within,
                policy_code=video.policy,
                due_at=due,
                created_by_id=creator.user_id,
                request_hash=digest,
                created_at=clock.now,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(ExposureVideo.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        winner = await session.get(ExposureVideo, video.id, populate_existing=True)
        assert winner is not None  # noqa: S101 - the conflicting row exists by definition
        return winner, ("replayed" if winner.request_hash == digest else "conflict")

    # The problems were on screen on the day it aired at the latest.
    observed = min(datetime.combine(video.aired_on, time(0), tzinfo=clock.tz), clock.now)
    for index, (segment, sid) in enumerate(zip(video.segments, ids, strict=True)):
        offset, _ = parse_offset(segment.offset)
        new = NewFinding(
            id=sid,
            source=SOURCE,
            category=segment.category,
            severity="normal",
            description=segment.description,
            lat=segment.lat,
            lon=segment.lon,
            address=segment.address,
            unit=segment.unit,
            point_type=segment.point_type,
            observed_at=observed,
            canonical={"exposure_video": str(video.id), "index": index, **asdict(segment)},
        )
        terms = IntakeTerms(
            recurrence_window=recurrence_window,
            due_at=due,
            policy=video.policy,
            exposure_video_id=video.id,
            video_offset=offset,
        )
        try:
            db = await driver_connection(session)
            outcome = (await report(db, new, creator, clock, terms, ref)).outcome
        except FindingError as exc:
            raise _segment_error(index, exc) from exc
        if outcome != "created":
            raise FindingError(
                409,
                f"Segment {index}: id {sid} already belongs to another finding.",
                f"segments[{index}].id",
            )
    await session.flush()
    stored = await session.get(ExposureVideo, video.id)
    assert stored is not None  # noqa: S101
    return stored, "created"


def _visible_video(principal: Principal) -> ColumnElement[bool]:
    """A unit-scoped caller sees a video with at least one segment in their scope."""
    return exists().where(
        Finding.exposure_video_id == ExposureVideo.id, visible_findings(principal)
    )


async def get_video(
    session: AsyncSession, video_id: uuid.UUID, principal: Principal
) -> ExposureVideo | None:
    stmt = select(ExposureVideo).where(ExposureVideo.id == video_id)
    if not principal.city_wide:
        stmt = stmt.where(_visible_video(principal))
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_videos(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[ExposureVideo]:
    """Newest registration first; `after` is the (created_at, id) of the previous page's last."""
    stmt = select(ExposureVideo)
    if not principal.city_wide:
        stmt = stmt.where(_visible_video(principal))
    if after is not None:
        stmt = stmt.where(tuple_(ExposureVideo.created_at, ExposureVideo.id) < tuple_(*after))
    stmt = stmt.order_by(ExposureVideo.created_at.desc(), ExposureVideo.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


@dataclass
class Progress:
    """How far a video's segments (those in the caller's scope) have come."""

    segments: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Status})
    overdue: int = 0
    escalated: int = 0
    rectified: int = 0
    rectified_on_time: int = 0


def _escalated() -> ColumnElement[bool]:
    return exists().where(Escalation.finding_id == Finding.id)


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Finding.status.in_(list(CLOCK_RUNNING)), Finding.due_at < now)


_RECTIFIED = and_(Finding.status == Status.CLOSED, Finding.close_reason == "rectified")


async def progress_of(
    session: AsyncSession,
    video_ids: Sequence[uuid.UUID],
    principal: Principal,
    now: datetime,
) -> dict[uuid.UUID, Progress]:
    """Per video, in one query over the segments the caller may see."""
    if not video_ids:
        return {}
    rows = await session.execute(
        select(
            Finding.exposure_video_id,
            Finding.status,
            func.count(),
            func.count().filter(_overdue(now)),
            func.count().filter(_escalated()),
            func.count().filter(_RECTIFIED),
            func.count().filter(_RECTIFIED, Finding.submitted_at <= Finding.due_at),
        )
        .where(Finding.exposure_video_id.in_(list(video_ids)), visible_findings(principal))
        .group_by(Finding.exposure_video_id, Finding.status)
    )
    result = {vid: Progress() for vid in video_ids}
    for vid, status, total, overdue, escalated, rectified, on_time in rows:
        p = result[cast(uuid.UUID, vid)]  # not NULL: the WHERE picks one of video_ids
        p.segments += total
        p.by_status[status] = total
        p.overdue += overdue
        p.escalated += escalated
        p.rectified += rectified
        p.rectified_on_time += on_time
    return result


@dataclass(frozen=True)
class SegmentRow:
    finding: Finding
    escalation_level: int | None  # the highest level fired, if any


async def segments_of(
    session: AsyncSession, video_id: uuid.UUID, principal: Principal
) -> list[SegmentRow]:
    """The video's segments the caller may see, in the order they appear in the video."""
    top_level = (
        select(func.max(Escalation.level))
        .where(Escalation.finding_id == Finding.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Finding, top_level).where(
            Finding.exposure_video_id == video_id, visible_findings(principal)
        )
    )
    segments = [SegmentRow(f, level) for f, level in rows]
    segments.sort(key=lambda s: (offset_seconds(s.finding.video_offset), str(s.finding.id)))
    return segments
