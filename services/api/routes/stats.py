"""The supervision office's ranking of units (DESIGN §7: GET /stats/units)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from services.core.identity.principal import Principal
from services.core.stats.queries import (
    FORMULA,
    REPORTED_LEVELS,
    Counts,
    suspension_report,
    unit_stats,
)

from ..deps import Session, SettingsDep, require_roles, utcnow
from ..problems import Problem
from ..schemas.findings import UnitRef
from ..schemas.stats import (
    StatLevel,
    SuspensionReport,
    UnitStatsOut,
    UnitStatsPage,
    UnitSuspensions,
    WeightedCounts,
)
from ..schemas.wire import Timestamp

router = APIRouter(prefix="/stats", tags=["supervision"])
Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]


def _by_level(counts: Counts) -> dict[str, int]:
    levels = dict.fromkeys(REPORTED_LEVELS, 0) | counts.escalations
    return {str(level): n for level, n in sorted(levels.items())}


def _rate(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _check_window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise Problem(
            422,
            "until must be later than since.",
            kind="validation",
            errors=[{"field": "until", "message": "must be later than since"}],
        )


@router.get("/units", response_model=UnitStatsPage)
async def get_unit_stats(
    _: Supervisor,
    session: Session,
    settings: SettingsDep,
    level: StatLevel = "district",
    since: Annotated[
        Timestamp | None, Query(description="findings reported / escalations fired at or after")
    ] = None,
    until: Annotated[Timestamp | None, Query(description="… and before")] = None,
) -> UnitStatsPage:
    """Every unit of the level, best first: counts, rates, escalations by level, score, rank.
    The formula is in the response and in the README."""
    _check_window(since, until)
    now = utcnow()
    stats = await unit_stats(session, level, since=since, until=until, now=now)
    tz = ZoneInfo(settings.timezone)
    items = []
    for s in stats:
        c, w = s.counts, s.weighted
        items.append(
            UnitStatsOut(
                unit=UnitRef(code=s.code, name=s.name),
                total=c.total,
                closed=c.closed,
                on_time=c.on_time,
                on_time_rate=_rate(c.on_time_rate),
                overdue_open=c.overdue_open,
                yellow_open=c.yellow_open,
                rework=c.rework,
                rework_rate=_rate(c.rework_rate),
                recurrences=c.recurrences,
                escalations=_by_level(c),
                weighted=WeightedCounts(
                    total=w.total,
                    closed=w.closed,
                    on_time=w.on_time,
                    overdue_open=w.overdue_open,
                    rework=w.rework,
                    recurrences=w.recurrences,
                    escalations=_by_level(w),
                ),
                tasks_due=s.tasks_due,
                tasks_done=s.tasks_done,
                coverage=_rate(s.coverage),
                transfers=s.transfers,
                returns=s.returns,
                score=s.score,
                rank=s.rank,
            )
        )
    return UnitStatsPage(
        level=level,
        since=since.astimezone(tz) if since else None,
        until=until.astimezone(tz) if until else None,
        generated_at=now.astimezone(tz),
        formula=FORMULA,
        items=items,
    )


@router.get("/suspensions", response_model=SuspensionReport)
async def get_suspensions(
    _: Supervisor,
    session: Session,
    settings: SettingsDep,
    since: Annotated[Timestamp | None, Query(description="requests made at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="… and before")] = None,
) -> SuspensionReport:
    """Suspensions (挂账) per responsible unit: asked, refused, approved, running, ended, and
    how many days they stopped the clock; the longest-suspended units first."""
    _check_window(since, until)
    now = utcnow()
    tz = ZoneInfo(settings.timezone)
    items = [
        UnitSuspensions(
            unit=UnitRef(code=r.code, name=r.name),
            district=UnitRef(code=r.district_code, name=r.district_name)
            if r.district_code and r.district_name
            else None,
            requested=r.requested,
            refused=r.refused,
            approved=r.approved,
            active=r.active,
            ended=r.ended,
            suspended_days=r.suspended_days,
            longest_days=r.longest_days,
        )
        for r in await suspension_report(session, since=since, until=until, now=now)
    ]
    return SuspensionReport(
        since=since.astimezone(tz) if since else None,
        until=until.astimezone(tz) if until else None,
        generated_at=now.astimezone(tz),
        items=items,
    )
