"""The few reads only the dashboard needs, each filtered by the caller's scope in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from services.core.escalation.rules import Light, light
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import Category, Escalation, Finding, Unit
from services.core.stats.queries import CLOSED, EXPOSURE_SOURCE, Window, closed_reported_in

MAP_POINTS = 3000
# Inlined, not bound: the planner matches it against ix_findings_exposure's predicate.
EXPOSURE: ColumnClause[str] = literal_column(f"'{EXPOSURE_SOURCE}'", String())
TREND_WEEKS = 8


@dataclass(frozen=True)
class ExposureByDistrict:
    segments: int
    rectified: int


async def exposure_by_district(session: AsyncSession) -> dict[int, ExposureByDistrict]:
    """Exposure-video segments and how many are rectified, per district (supervisors only:
    the caller checks the role, as GET /stats/units does)."""
    rows = await session.execute(
        select(
            Finding.district_id,
            func.count(),
            func.count().filter(Finding.close_reason == "rectified"),
        )
        .where(Finding.source == EXPOSURE, Finding.district_id.is_not(None))
        .group_by(Finding.district_id)
    )
    return {r[0]: ExposureByDistrict(r[1], r[2]) for r in rows if r[0] is not None}


@dataclass(frozen=True)
class Week:
    start: datetime  # local Monday 00:00
    reported: int
    escalations: int


def trend_weeks(now: datetime, tz: ZoneInfo, weeks: int = TREND_WEEKS) -> list[Window]:
    """The last `weeks` local weeks, Monday 00:00 to Monday 00:00, the current one last."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    starts = [monday - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    return [(s, s + timedelta(weeks=1)) for s in starts]


async def plan_with_parameters(session: AsyncSession) -> None:
    """Plan every statement of this transaction for its own parameters.

    The overview's counts are prepared statements whose parameters are the week bounds:
    after five runs PostgreSQL switches them to a generic plan that cannot see how few rows
    the bounds hold, and that plan is far slower than planning each run afresh
    (bench/ANALYSIS.md §8, §15)."""
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def weekly_trend(
    session: AsyncSession, weeks: Sequence[Window], open_reported: Sequence[int]
) -> list[Week]:
    """Findings reported and escalations fired per week. The open findings reported come
    from the caller (`stats.ranking` counts them in its pass over the open findings)."""
    closed = await closed_reported_in(session, weeks)
    # One pass over the weeks' escalations, compared with the bounds (no zone conversion
    # per row).
    fired = (
        await session.execute(
            select(
                *(
                    func.count().filter(Escalation.fired_at >= a, Escalation.fired_at < b)
                    for a, b in weeks
                )
            ).where(Escalation.fired_at >= weeks[0][0], Escalation.fired_at < weeks[-1][1])
        )
    ).one()
    return [
        Week(start, c + o, int(e))
        for (start, _), c, o, e in zip(weeks, closed, open_reported, fired, strict=True)
    ]


@dataclass(frozen=True)
class MapPoint:
    id: uuid.UUID
    lat: float
    lon: float
    # The traffic light now; None while the clock does not run (reported, submitted).
    light: Light | None
    description: str
    status: str


async def open_points(session: AsyncSession, principal: Principal, now: datetime) -> list[MapPoint]:
    """Open findings in scope, the most overdue first, at most MAP_POINTS."""
    rows = await session.execute(
        select(
            Finding.id,
            Finding.lat,
            Finding.lon,
            Finding.status,
            Finding.due_at,
            Finding.yellow_at,
            Finding.description,
        )
        .where(Finding.status != CLOSED, visible_findings(principal))
        .order_by(Finding.due_at.asc().nulls_last(), Finding.id)
        .limit(MAP_POINTS)
    )
    return [MapPoint(r[0], r[1], r[2], light(r[3], r[4], r[5], now), r[6], r[3]) for r in rows]


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    lat: float
    lon: float


async def districts(session: AsyncSession) -> list[Place]:
    rows = await session.execute(
        select(Unit.code, Unit.name, Unit.lat, Unit.lon)
        .where(Unit.kind == "district", Unit.lat.is_not(None), Unit.lon.is_not(None))
        .order_by(Unit.code)
    )
    return [Place(r[0], r[1], r[2], r[3]) for r in rows if r[2] is not None and r[3] is not None]


async def district_choices(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Unit.code, Unit.name).where(Unit.kind == "district").order_by(Unit.code)
    )
    return [(r[0], r[1]) for r in rows]


@dataclass(frozen=True)
class FindingView:
    finding: Finding
    category: str
    responsible: str | None
    district: str | None


async def one_finding(
    session: AsyncSession, principal: Principal, finding_id: uuid.UUID
) -> FindingView | None:
    row = (
        await session.execute(
            select(Finding, Category.name)
            .join(Category, Category.id == Finding.category_id)
            .where(Finding.id == finding_id, visible_findings(principal))
        )
    ).first()
    if row is None:
        return None
    finding, category = row
    names = {
        u.id: u.name
        for u in (
            await session.execute(
                select(Unit).where(
                    Unit.id.in_(
                        [i for i in (finding.responsible_unit_id, finding.district_id) if i]
                    )
                )
            )
        ).scalars()
    }
    return FindingView(
        finding,
        category,
        names.get(finding.responsible_unit_id or 0),
        names.get(finding.district_id or 0),
    )
