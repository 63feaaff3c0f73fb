"""Reads of the commitments ledger, every one filtered by the caller's scope in SQL: a unit
sees the commitments of its subtree, the campaign office, supervisors and admins the whole
city; another district's commitment is a 404."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.commitments.rules import AT_RISK_FROM, AT_RISK_LAG, CommitmentStatus, status
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import (
    Category,
    Commitment,
    CommitmentEscalation,
    CommitmentFinding,
    CommitmentProgress,
    ExposureVideo,
    Finding,
    Meeting,
    MeetingVideo,
    Person,
    PersonalSupervision,
    Unit,
)
from services.core.platform.errors import NotFound


def visible_commitments(principal: Principal) -> ColumnElement[bool]:
    """A commitment is visible to a caller whose subtree holds its unit."""
    if principal.city_wide:
        return true()
    subtree = select(Unit.id).where(Unit.path.startswith(principal.unit_path, autoescape=True))
    return Commitment.unit_id.in_(subtree)


def status_clause(now: datetime) -> ColumnElement[str]:
    """rules.status in SQL, for the lists' filter (the same thresholds)."""
    span = func.extract("epoch", Commitment.due_at - Commitment.created_at)
    elapsed = func.coalesce(
        func.extract("epoch", literal(now) - Commitment.created_at) / func.nullif(span, 0), 1
    )
    return case(
        (Commitment.accepted_at.is_not(None), CommitmentStatus.DONE.value),
        (Commitment.due_at < now, CommitmentStatus.OVERDUE.value),
        (
            or_(
                and_(elapsed >= AT_RISK_FROM, Commitment.percent < 100),
                Commitment.percent + AT_RISK_LAG < elapsed * 100,
            ),
            CommitmentStatus.AT_RISK.value,
        ),
        else_=CommitmentStatus.ON_TRACK.value,
    )


@dataclass(frozen=True)
class Supervisor:
    person_id: int
    name: str
    title: str | None
    since: datetime


@dataclass
class CommitmentView:
    """A commitment with what it is shown with."""

    commitment: Commitment
    meeting: Meeting
    unit_code: str
    unit_name: str
    district_code: str | None
    findings: list[uuid.UUID] = field(default_factory=list)
    supervisors: list[Supervisor] = field(default_factory=list)
    escalations: list[CommitmentEscalation] = field(default_factory=list)

    def status(self, now: datetime) -> CommitmentStatus:
        c = self.commitment
        return status(
            accepted=c.accepted_at is not None,
            percent=c.percent,
            start=c.created_at,
            due_at=c.due_at,
            now=now,
        )


@dataclass(frozen=True)
class Filters:
    meeting: int | None = None
    district: str | None = None
    unit: str | None = None
    status: str | None = None
    # Those a person has taken personal charge of.
    supervised_by: int | None = None
    video: uuid.UUID | None = None


async def commitments_page(
    session: AsyncSession,
    principal: Principal,
    filters: Filters,
    now: datetime,
    *,
    after: int | None,
    limit: int,
) -> list[CommitmentView]:
    """Commitments in id order, `limit` at most, after the id `after`."""
    district = select(Unit.id).where(Unit.code == filters.district).scalar_subquery()
    query = select(Commitment).where(visible_commitments(principal))
    if filters.meeting is not None:
        query = query.where(Commitment.meeting_id == filters.meeting)
    if filters.district is not None:
        query = query.where(Commitment.district_id == district)
    if filters.unit is not None:
        unit_path = select(Unit.path).where(Unit.code == filters.unit).scalar_subquery()
        subtree = select(Unit.id).where(func.starts_with(Unit.path, unit_path))
        query = query.where(Commitment.unit_id.in_(subtree))
    if filters.status is not None:
        query = query.where(status_clause(now) == filters.status)
    if filters.supervised_by is not None:
        query = query.where(
            Commitment.id.in_(
                select(PersonalSupervision.commitment_id).where(
                    PersonalSupervision.person_id == filters.supervised_by,
                    PersonalSupervision.ended_at.is_(None),
                )
            )
        )
    if filters.video is not None:
        query = query.where(
            Commitment.meeting_id.in_(
                select(MeetingVideo.meeting_id).where(MeetingVideo.video_id == filters.video)
            )
        )
    if after is not None:
        query = query.where(Commitment.id > after)
    rows = list(await session.scalars(query.order_by(Commitment.id).limit(limit)))
    return await views(session, principal, rows)


async def get_view(session: AsyncSession, principal: Principal, cid: int) -> CommitmentView:
    """One commitment; 404 when it does not exist or lies outside the caller's scope."""
    found = await session.scalar(
        select(Commitment).where(Commitment.id == cid, visible_commitments(principal))
    )
    if found is None:
        raise NotFound(f"No commitment {cid}.")
    return (await views(session, principal, [found]))[0]


async def views(
    session: AsyncSession, principal: Principal, rows: Sequence[Commitment]
) -> list[CommitmentView]:
    """The rows with their meeting, unit, district, the findings the caller may see,
    supervisors and fired levels: a few queries for the whole page."""
    if not rows:
        return []
    ids = [c.id for c in rows]
    meetings = {
        m.id: m
        for m in await session.scalars(
            select(Meeting).where(Meeting.id.in_({c.meeting_id for c in rows}))
        )
    }
    unit_ids = {c.unit_id for c in rows} | {c.district_id for c in rows if c.district_id}
    units = {
        u.id: (u.code, u.name)
        for u in (await session.execute(select(Unit.id, Unit.code, Unit.name).where(
            Unit.id.in_(unit_ids)
        )))
    }  # fmt: skip
    out = {
        c.id: CommitmentView(
            c,
            meetings[c.meeting_id],
            units[c.unit_id][0],
            units[c.unit_id][1],
            units[c.district_id][0] if c.district_id else None,
        )
        for c in rows
    }
    linked = await session.execute(
        select(CommitmentFinding.commitment_id, CommitmentFinding.finding_id)
        .join(Finding, Finding.id == CommitmentFinding.finding_id)
        .where(CommitmentFinding.commitment_id.in_(ids), visible_findings(principal))
        .order_by(CommitmentFinding.commitment_id, Finding.reported_at, Finding.id)
    )
    for cid, fid in linked:
        out[cid].findings.append(fid)
    for item_id, supervisor in await supervisors(session, commitments=ids):
        out[int(item_id)].supervisors.append(supervisor)
    fired = await session.scalars(
        select(CommitmentEscalation)
        .where(CommitmentEscalation.commitment_id.in_(ids))
        .order_by(CommitmentEscalation.commitment_id, CommitmentEscalation.level)
    )
    for e in fired:
        out[e.commitment_id].escalations.append(e)
    return [out[i] for i in ids]


async def supervisors(
    session: AsyncSession,
    *,
    commitments: Sequence[int] = (),
    findings: Sequence[uuid.UUID] = (),
) -> list[tuple[int | uuid.UUID, Supervisor]]:
    """The leaders in personal charge now of the commitments or findings named, as (item id,
    supervisor) in the order they took charge."""
    item = PersonalSupervision.commitment_id if commitments else PersonalSupervision.finding_id
    wanted: Sequence[object] = commitments or findings
    if not wanted:
        return []
    rows = await session.execute(
        select(item, Person.id, Person.name, Person.title, PersonalSupervision.started_at)
        .join(Person, Person.id == PersonalSupervision.person_id)
        .where(item.in_(wanted), PersonalSupervision.ended_at.is_(None))
        .order_by(PersonalSupervision.id)
    )
    return [(r[0], Supervisor(r[1], r[2], r[3], r[4])) for r in rows if r[0] is not None]


async def progress_of(session: AsyncSession, cid: int) -> list[CommitmentProgress]:
    """A commitment's progress reports, oldest first (the caller checked its scope)."""
    return list(
        await session.scalars(
            select(CommitmentProgress)
            .where(CommitmentProgress.commitment_id == cid)
            .order_by(CommitmentProgress.id)
        )
    )


async def meetings_page(session: AsyncSession, *, after: int | None, limit: int) -> list[Meeting]:
    """The meetings, newest first by id. A meeting (its date, title and kind) is the
    city's; the commitments it holds are listed by scope."""
    query = select(Meeting)
    if after is not None:
        query = query.where(Meeting.id < after)
    return list(await session.scalars(query.order_by(Meeting.id.desc()).limit(limit)))


async def meeting(session: AsyncSession, meeting_id: int) -> Meeting:
    found = await session.get(Meeting, meeting_id)
    if found is None:
        raise NotFound(f"No meeting {meeting_id}.")
    return found


async def meeting_videos(
    session: AsyncSession, principal: Principal, meeting_ids: Sequence[int]
) -> dict[int, list[uuid.UUID]]:
    """The videos each meeting reviewed, those only with a segment the caller may see (as
    the videos' own reads: a video none of whose segments is in scope is not named)."""
    out: dict[int, list[uuid.UUID]] = {}
    in_scope = (
        select(Finding.id)
        .where(Finding.exposure_video_id == MeetingVideo.video_id, visible_findings(principal))
        .exists()
    )
    rows = await session.execute(
        select(MeetingVideo.meeting_id, MeetingVideo.video_id)
        .where(MeetingVideo.meeting_id.in_(meeting_ids), in_scope)
        .order_by(MeetingVideo.meeting_id, MeetingVideo.video_id)
    )
    for mid, vid in rows:
        out.setdefault(mid, []).append(vid)
    return out


async def meeting_counts(
    session: AsyncSession, principal: Principal, ids: Sequence[int]
) -> dict[int, int]:
    """How many commitments of each meeting the caller may see."""
    rows = await session.execute(
        select(Commitment.meeting_id, func.count())
        .where(Commitment.meeting_id.in_(ids), visible_commitments(principal))
        .group_by(Commitment.meeting_id)
    )
    return {int(m): int(n) for m, n in rows}


@dataclass(frozen=True)
class DistrictCommitments:
    """A district's commitments at `as_of`, by status, and the levels fired in the week."""

    district_id: int
    by_status: dict[str, int]
    escalations: int


async def district_commitments(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime
) -> list[DistrictCommitments]:
    """Every district with a commitment recorded before `until`."""
    status_now = status_clause(as_of).label("status")
    counted = await session.execute(
        select(Commitment.district_id, status_now, func.count())
        .where(Commitment.created_at < until, Commitment.district_id.is_not(None))
        .group_by(Commitment.district_id, status_now)
    )
    by_district: dict[int, dict[str, int]] = {}
    for district_id, state, n in counted:
        counts = by_district.setdefault(district_id or 0, {s.value: 0 for s in CommitmentStatus})
        counts[str(state)] = int(n)
    fired = {
        d or 0: int(n)
        for d, n in await session.execute(
            select(CommitmentEscalation.district_id, func.count())
            .where(
                CommitmentEscalation.fired_at >= since,
                CommitmentEscalation.fired_at < until,
                CommitmentEscalation.district_id.is_not(None),
            )
            .group_by(CommitmentEscalation.district_id)
        )
    }
    return [DistrictCommitments(d, counts, fired.get(d, 0)) for d, counts in by_district.items()]


async def overdue_commitments(
    session: AsyncSession, as_of: datetime, limit: int
) -> list[CommitmentView]:
    """The longest-overdue commitments not done at `as_of` (city-wide: the briefing's items
    are filtered per reader)."""
    rows = list(
        await session.scalars(
            select(Commitment)
            .where(
                Commitment.accepted_at.is_(None) | (Commitment.accepted_at > as_of),
                Commitment.due_at < as_of,
            )
            .order_by(Commitment.due_at, Commitment.id)
            .limit(limit)
        )
    )
    return await views(session, _CITY, rows)


async def visible_ids(session: AsyncSession, principal: Principal, ids: set[int]) -> set[int]:
    """Those of `ids` the caller may see."""
    if not ids:
        return set()
    return set(
        await session.scalars(
            select(Commitment.id).where(Commitment.id.in_(ids), visible_commitments(principal))
        )
    )


# The briefing is gathered city-wide (each reader's copy is filtered when read).
_CITY = Principal(0, "", "supervisor", 0, "", "city", "/", None)


# ---- 回头看: what a follow-up exposure video revisits ----

# Metres per degree of latitude (and of longitude at the equator).
_METRES_PER_DEGREE = 111_320
# Earlier problems nearer than the category's duplicate radius, and at least this.
MIN_REVISIT_METRES = 50


@dataclass
class Earlier:
    finding: Finding
    relation: str  # recurrence_of | possible_recurrence_of | same_place
    video_title: str | None
    video_aired_on: Any


@dataclass
class Revisit:
    """A segment of the follow-up video, the earlier problems at its place (the same
    category, reported before it) and the commitments that covered them."""

    segment: Finding
    earlier: list[Earlier] = field(default_factory=list)
    commitments: list[CommitmentView] = field(default_factory=list)


async def revisits(
    session: AsyncSession, principal: Principal, video_id: uuid.UUID
) -> list[Revisit]:
    """For each segment of the video in the caller's scope: the earlier findings it
    revisits (its recurrence links, and the same category's findings within the category's
    duplicate radius reported before it, other videos' segments included), and the
    commitments that covered those (linked to them, or made by their responsible unit, or a
    unit above it, at a meeting that reviewed their video). Only what the caller may see."""
    segments = list(
        await session.scalars(
            select(Finding)
            .where(Finding.exposure_video_id == video_id, visible_findings(principal))
            .order_by(Finding.video_offset, Finding.id)
        )
    )
    if not segments:
        raise NotFound(f"No exposure video {video_id} in your scope.")
    out = [Revisit(s) for s in segments]
    for item in out:
        item.earlier = await _earlier(session, principal, item.segment)
        item.commitments = await _covering(session, principal, [e.finding for e in item.earlier])
    return out


async def _earlier(session: AsyncSession, principal: Principal, s: Finding) -> list[Earlier]:
    radius = select(Category.duplicate_radius_m).where(Category.id == s.category_id)
    metres = func.greatest(radius.scalar_subquery(), MIN_REVISIT_METRES)
    degrees = metres / _METRES_PER_DEGREE
    dlat = (Finding.lat - s.lat) * _METRES_PER_DEGREE
    dlon = (Finding.lon - s.lon) * _METRES_PER_DEGREE * func.cos(func.radians(s.lat))
    near = and_(
        Finding.category_id == s.category_id,
        Finding.lat.between(s.lat - degrees, s.lat + degrees),
        func.sqrt(dlat * dlat + dlon * dlon) <= metres,
        Finding.reported_at < s.reported_at,
        or_(Finding.exposure_video_id.is_(None), Finding.exposure_video_id != s.exposure_video_id),
    )
    linked = Finding.id.in_([i for i in (s.recurrence_of, s.possible_recurrence_of) if i])
    rows = await session.execute(
        select(Finding, ExposureVideo.title, ExposureVideo.aired_on)
        .outerjoin(ExposureVideo, ExposureVideo.id == Finding.exposure_video_id)
        .where(or_(linked, near), visible_findings(principal), Finding.id != s.id)
        .order_by(Finding.reported_at, Finding.id)
        .limit(LISTED_EARLIER)
    )
    found = []
    for f, title, aired in rows:
        relation = (
            "recurrence_of"
            if f.id == s.recurrence_of
            else "possible_recurrence_of"
            if f.id == s.possible_recurrence_of
            else "same_place"
        )
        found.append(Earlier(f, relation, title, aired))
    return found


LISTED_EARLIER = 50


async def _covering(
    session: AsyncSession, principal: Principal, earlier: Sequence[Finding]
) -> list[CommitmentView]:
    if not earlier:
        return []
    ids = [f.id for f in earlier]
    by_link = select(CommitmentFinding.commitment_id).where(CommitmentFinding.finding_id.in_(ids))
    unit = aliased(Unit)
    responsible = aliased(Unit)
    by_meeting = (
        select(Commitment.id)
        .join(MeetingVideo, MeetingVideo.meeting_id == Commitment.meeting_id)
        .join(Finding, Finding.exposure_video_id == MeetingVideo.video_id)
        .join(unit, unit.id == Commitment.unit_id)
        .join(responsible, responsible.id == Finding.responsible_unit_id)
        .where(Finding.id.in_(ids), func.starts_with(responsible.path, unit.path))
    )
    rows = list(
        await session.scalars(
            select(Commitment)
            .where(
                or_(Commitment.id.in_(by_link), Commitment.id.in_(by_meeting)),
                visible_commitments(principal),
            )
            .order_by(Commitment.id)
        )
    )
    return await views(session, principal, rows)
