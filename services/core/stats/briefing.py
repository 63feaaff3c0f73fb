"""The weekly briefing (通报) the supervision office circulates: the week's district
ranking with its red and black lists, the longest-overdue open items, the new exposure-video
items, the recurrences and the inspection coverage (`gather`); stored once generated
(`generate`), so the Monday edition stays what was sent even as the items move on.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from services.core.commitments.queries import (
    district_commitments,
    overdue_commitments,
    visible_ids,
)
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.inspection.queries import coverage_rows
from services.core.models import (
    CLOCK_RUNNING,
    Category,
    Escalation,
    ExposureVideo,
    Finding,
    Person,
    Post,
    Unit,
    WeeklyBriefing,
)
from services.core.stats.queries import (
    EXPOSURE_SOURCE,
    FORMULA,
    REPORTED_LEVELS,
    UnitStats,
    unit_stats,
)

OVERDUE_ITEMS = 10
LISTED_ITEMS = 200  # new exposure items and recurrences: more than a week ever has
HEAD_ROLE = "head"
# As DUBAN_BLIND_SPOT_DAYS's default; the worker and the API pass the setting.
DEFAULT_BLIND_SPOT_DAYS = 30
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    pass


def parse_week(value: str) -> tuple[int, int]:
    """`2026-W48` → (2026, 48); a week the year does not have raises WeekError."""
    match = _WEEK.match(value)
    if match is None:
        raise WeekError("expected an ISO week like 2026-W48")
    year, number = int(match[1]), int(match[2])
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        raise WeekError(f"{year} has no week {number}") from exc
    return year, number


def week_label(year: int, number: int) -> str:
    return f"{year:04d}-W{number:02d}"


def week_bounds(year: int, number: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    monday = date.fromisocalendar(year, number, 1)
    start = datetime.combine(monday, time(), tz)
    return start, datetime.combine(monday + timedelta(days=7), time(), tz)


def last_full_week(now: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """The week that ended most recently before `now`, in the city's zone."""
    year, number, _ = (now.astimezone(tz).date() - timedelta(days=7)).isocalendar()
    return year, number


class DistrictLine(BaseModel):
    code: str
    name: str
    rank: int
    score: float
    total: int
    closed: int
    on_time: int
    on_time_rate: float | None
    overdue_open: int
    rework: int
    recurrences: int
    escalations: dict[str, int]  # "1".."4" → escalations fired in the week at that level
    coverage: float | None = None  # inspection coverage counted in the score (None: not used)
    # Findings transferred away from the district's units, and returned by them, in the week.
    transfers: int = 0
    returns: int = 0


class CoverageLine(BaseModel):
    """A district's inspection coverage over the week (services/core/inspection)."""

    code: str
    name: str
    tasks_due: int
    tasks_done: int
    coverage: float | None
    overdue: int
    blind_spots: int


class _Item(BaseModel):
    """A finding as a briefing names it: its category, district and unit by name."""

    finding_id: uuid.UUID
    category: str
    description: str
    district: str
    responsible_unit: str


class OverdueItem(_Item):
    due_at: datetime
    days_overdue: float
    level: int  # the highest escalation level fired so far, 0 when none
    leader_name: str | None
    leader_title: str | None


class CommitmentLine(BaseModel):
    """A district's commitments (整改承诺) at the end of the week: how many by status, and
    the levels of their ladder fired in the week."""

    code: str
    name: str
    total: int
    on_track: int
    at_risk: int
    overdue: int
    done: int
    escalations: int


class CommitmentItem(BaseModel):
    """An overdue commitment: who pledged what, by when, who answers for it."""

    commitment_id: int
    meeting: str
    district: str
    unit: str
    targets: str
    due_at: datetime
    days_overdue: float
    percent: int
    level: int  # the highest level of its ladder fired so far, 0 when none
    leader_name: str | None
    personally_supervised_by: list[str] = []


class WeekItem(_Item):
    reported_at: datetime
    due_at: datetime | None
    status: str
    video: str | None = None  # the exposure video's title
    recurrence_of: uuid.UUID | None = None


# One ISO week in the city's zone, Monday 00:00 to the next Monday 00:00, for the findings
# reported in it: every district's figures, score and rank as the ranking computes them, and
# from the ranks the red list (红榜, ranks 1–3) and the black list (黑榜, the bottom three
# ranks), ties included; the longest-overdue open items (whenever reported) with the head of
# the responsible unit from the posts valid at generation time, who answers for the item
# today; the week's new exposure-video items and recurrences. "Overdue" is measured at the
# end of the week, or at generation time for the current week (`as_of`).
class Briefing(BaseModel):
    week: str
    starts_at: datetime
    ends_at: datetime
    as_of: datetime
    generated_at: datetime
    formula: str
    districts: list[DistrictLine]
    top: list[DistrictLine]  # 红榜: ranked 1–3, ties included, best first
    bottom: list[DistrictLine]  # 黑榜: the bottom three ranks, ties included, worst first
    overdue: list[OverdueItem]
    exposure: list[WeekItem]
    recurrences: list[WeekItem]
    # Inspection coverage per district: tasks due in the week and done, overdue now, and the
    # points nobody inspected for the blind-spot days (empty in editions from before it).
    coverage: list[CoverageLine] = []
    blind_spot_days: int | None = None
    # The commitments ledger per district and its longest-overdue commitments (empty in
    # editions from before it).
    commitments: list[CommitmentLine] = []
    overdue_commitments: list[CommitmentItem] = []


def _line(s: UnitStats) -> DistrictLine:
    return DistrictLine(
        code=s.code,
        name=s.name,
        rank=s.rank,
        score=s.score,
        total=s.counts.total,
        closed=s.counts.closed,
        on_time=s.counts.on_time,
        on_time_rate=s.counts.on_time_rate,
        overdue_open=s.counts.overdue_open,
        rework=s.counts.rework,
        recurrences=s.counts.recurrences,
        coverage=s.coverage,
        transfers=s.transfers,
        returns=s.returns,
        escalations={
            str(level): sum(n for lv, n in s.counts.escalations.items() if min(lv, 4) == level)
            for level in REPORTED_LEVELS
        },
    )


async def _districts(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime
) -> tuple[list[DistrictLine], list[DistrictLine], list[DistrictLine]]:
    """Every district best first, the red list best first, the black list worst first."""
    stats = await unit_stats(session, "district", since=since, until=until, now=as_of)
    lines = [_line(s) for s in stats]
    red = [line for s, line in zip(stats, lines, strict=True) if s.board == "red"]
    black = [line for s, line in zip(stats, lines, strict=True) if s.board == "black"]
    return lines, red, sorted(black, key=lambda d: (d.score, d.code))


_District = aliased(Unit)
_Responsible = aliased(Unit)


def _named(
    f: Finding, category: str, district: str | None, responsible: str | None
) -> dict[str, Any]:
    """The `_Item` fields of a row of `_finding_rows`."""
    return {
        "finding_id": f.id,
        "category": category,
        "description": f.description,
        "district": district or "",
        "responsible_unit": responsible or "",
    }


def _finding_rows(
    *extra: ColumnElement[Any] | InstrumentedAttribute[Any],
) -> Select[*tuple[Any, ...]]:
    """A finding with its category, district and responsible unit names, then `extra`."""
    return (
        select(Finding, Category.name, _District.name, _Responsible.name, *extra)
        .join(Category, Category.id == Finding.category_id)
        .outerjoin(_District, _District.id == Finding.district_id)
        .outerjoin(_Responsible, _Responsible.id == Finding.responsible_unit_id)
    )


async def _overdue(
    session: AsyncSession, as_of: datetime, now: datetime, tz: ZoneInfo
) -> list[OverdueItem]:
    level = (
        select(func.max(Escalation.level))
        .where(Escalation.finding_id == Finding.id)
        .scalar_subquery()
    )
    head = (
        select(Person.name, Person.title, Post.unit_id)
        .join(Post, Post.person_id == Person.id)
        .where(
            Post.role == HEAD_ROLE,
            Post.valid_from <= now,
            or_(Post.valid_to.is_(None), Post.valid_to > now),
        )
        .subquery()
    )
    stmt = (
        _finding_rows(level, head.c.name, head.c.title)
        .outerjoin(head, head.c.unit_id == Finding.responsible_unit_id)
        .where(Finding.status.in_(sorted(CLOCK_RUNNING)), Finding.due_at < as_of)
        .order_by(Finding.due_at, Finding.id)
        .limit(OVERDUE_ITEMS)
    )
    items: list[OverdueItem] = []
    seen: set[uuid.UUID] = set()
    for f, category, district, responsible, top, name, title in await session.execute(stmt):
        if f.id in seen:  # a unit with two heads: the first one named is enough
            continue
        seen.add(f.id)
        assert f.due_at is not None  # noqa: S101 - filtered above
        items.append(
            OverdueItem(
                **_named(f, category, district, responsible),
                due_at=f.due_at.astimezone(tz),
                days_overdue=round((as_of - f.due_at).total_seconds() / 86400, 1),
                level=top or 0,
                leader_name=name,
                leader_title=title,
            )
        )
    return items


async def _week_items(
    session: AsyncSession, since: datetime, until: datetime, tz: ZoneInfo, *, exposure: bool
) -> list[WeekItem]:
    stmt = _finding_rows(ExposureVideo.title).outerjoin(
        ExposureVideo, ExposureVideo.id == Finding.exposure_video_id
    )
    stmt = stmt.where(
        Finding.reported_at >= since,
        Finding.reported_at < until,
        or_(Finding.close_reason.is_(None), Finding.close_reason == "rectified"),
        Finding.source == EXPOSURE_SOURCE if exposure else Finding.recurrence_of.is_not(None),
    ).order_by(Finding.reported_at, Finding.id)
    return [
        WeekItem(
            **_named(f, category, district, responsible),
            reported_at=f.reported_at.astimezone(tz),
            due_at=f.due_at.astimezone(tz) if f.due_at is not None else None,
            status=f.status,
            video=video,
            recurrence_of=f.recurrence_of,
        )
        for f, category, district, responsible, video in await session.execute(
            stmt.limit(LISTED_ITEMS)
        )
    ]


async def _coverage(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime, blind_days: int
) -> list[CoverageLine]:
    rows = await coverage_rows(
        session, None, "district", since=since, until=until, now=as_of, blind_days=blind_days
    )
    return [
        CoverageLine(
            code=r.code,
            name=r.name,
            tasks_due=r.tasks_due,
            tasks_done=r.tasks_done,
            coverage=r.coverage,
            overdue=r.overdue,
            blind_spots=r.blind_spots,
        )
        for r in rows
        if r.code
    ]


async def _commitments(
    session: AsyncSession, since: datetime, until: datetime, as_of: datetime, tz: ZoneInfo
) -> tuple[list[CommitmentLine], list[CommitmentItem]]:
    per_district = await district_commitments(session, since, until, as_of)
    names = {
        u.id: (u.code, u.name)
        for u in await session.scalars(
            select(Unit).where(Unit.id.in_([d.district_id for d in per_district]))
        )
    }
    lines = sorted(
        (
            CommitmentLine(
                code=names[d.district_id][0],
                name=names[d.district_id][1],
                total=sum(d.by_status.values()),
                on_track=d.by_status["on_track"],
                at_risk=d.by_status["at_risk"],
                overdue=d.by_status["overdue"],
                done=d.by_status["done"],
                escalations=d.escalations,
            )
            for d in per_district
        ),
        key=lambda line: (-line.overdue, -line.at_risk, line.code),
    )
    items = [
        CommitmentItem(
            commitment_id=v.commitment.id,
            meeting=v.meeting.title,
            district=names.get(v.commitment.district_id or 0, ("", ""))[1],
            unit=v.unit_name,
            targets=v.commitment.targets,
            due_at=v.commitment.due_at.astimezone(tz),
            days_overdue=round((as_of - v.commitment.due_at).total_seconds() / 86400, 1),
            percent=v.commitment.percent,
            level=max((e.level for e in v.escalations), default=0),
            leader_name=v.commitment.leader_name,
            personally_supervised_by=[s.name for s in v.supervisors],
        )
        for v in await overdue_commitments(session, as_of, OVERDUE_ITEMS)
    ]
    return lines, items


async def gather(
    session: AsyncSession,
    year: int,
    number: int,
    tz: ZoneInfo,
    now: datetime,
    *,
    blind_days: int = DEFAULT_BLIND_SPOT_DAYS,
) -> Briefing:
    """The briefing of one ISO week, computed now from the database."""
    since, until = week_bounds(year, number, tz)
    as_of = min(until, now)
    districts, top, bottom = await _districts(session, since, until, as_of)
    commitments, overdue_pledges = await _commitments(session, since, until, as_of, tz)
    return Briefing(
        week=week_label(year, number),
        starts_at=since,
        ends_at=until,
        as_of=as_of.astimezone(tz),
        generated_at=now.astimezone(tz),
        formula=FORMULA,
        districts=districts,
        top=top,
        bottom=bottom,
        overdue=await _overdue(session, as_of, now, tz),
        exposure=await _week_items(session, since, until, tz, exposure=True),
        recurrences=await _week_items(session, since, until, tz, exposure=False),
        coverage=await _coverage(session, since, until, as_of, blind_days),
        blind_spot_days=blind_days,
        commitments=commitments,
        overdue_commitments=overdue_pledges,
    )


async def store(session: AsyncSession, briefing: Briefing) -> None:
    """Keep the briefing as the week's edition, replacing an earlier one of the same week."""
    payload = briefing.model_dump(mode="json")
    stmt = insert(WeeklyBriefing).values(
        week=briefing.week, generated_at=briefing.generated_at, payload=payload
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[WeeklyBriefing.week],
            set_={"generated_at": stmt.excluded.generated_at, "payload": stmt.excluded.payload},
        )
    )


async def load(session: AsyncSession, week: str) -> Briefing | None:
    payload = await session.scalar(
        select(WeeklyBriefing.payload).where(WeeklyBriefing.week == week)
    )
    return Briefing.model_validate(payload) if payload is not None else None


async def generate(
    session: AsyncSession,
    year: int,
    number: int,
    tz: ZoneInfo,
    now: datetime,
    *,
    blind_days: int = DEFAULT_BLIND_SPOT_DAYS,
) -> Briefing:
    """Gather and store: what the Monday job and an on-demand regeneration do."""
    briefing = await gather(session, year, number, tz, now, blind_days=blind_days)
    await store(session, briefing)
    return briefing


async def as_read_by(session: AsyncSession, briefing: Briefing, principal: Principal) -> Briefing:
    """The briefing as `principal` may read it: every district's figures and rank (the ranking
    is what the office circulates to all districts), but of the items only those of findings
    in their scope. A stored edition is city-wide, so this is decided when it is read."""
    if principal.city_wide:
        return briefing
    ids = {i.finding_id for i in briefing.overdue} | {
        i.finding_id for i in (*briefing.exposure, *briefing.recurrences)
    }
    visible = (
        set(
            await session.scalars(
                select(Finding.id).where(Finding.id.in_(ids), visible_findings(principal))
            )
        )
        if ids
        else set()
    )
    pledges = await visible_ids(
        session, principal, {i.commitment_id for i in briefing.overdue_commitments}
    )
    return briefing.model_copy(
        update={
            "overdue_commitments": [
                i for i in briefing.overdue_commitments if i.commitment_id in pledges
            ],
            "overdue": [i for i in briefing.overdue if i.finding_id in visible],
            "exposure": [i for i in briefing.exposure if i.finding_id in visible],
            "recurrences": [i for i in briefing.recurrences if i.finding_id in visible],
        }
    )
