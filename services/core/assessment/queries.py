"""Reads of the self-assessment rounds: a district's assessment with its scores, and per
district the self-assessed score beside what the inspections measured at the same points and
criteria in the round's period (the gap), in the caller's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.assessment.rules import Gap, Pair, gap
from services.core.identity.principal import Principal
from services.core.models import (
    AssessmentRound,
    Criterion,
    EvaluationPoint,
    Inspection,
    InspectionResult,
    SelfAssessment,
    SelfAssessmentScore,
    Unit,
)


@dataclass(frozen=True)
class ScoreRow:
    criterion: str
    point: str | None
    score: float
    full_score: float
    note: str | None
    finding: str | None


async def scores_of(session: AsyncSession, assessment_id: int) -> list[ScoreRow]:
    rows = await session.execute(
        select(
            Criterion.code,
            EvaluationPoint.code,
            SelfAssessmentScore.score,
            Criterion.full_score,
            SelfAssessmentScore.note,
            SelfAssessmentScore.finding_id,
        )
        .join(Criterion, Criterion.id == SelfAssessmentScore.criterion_id)
        .outerjoin(EvaluationPoint, EvaluationPoint.id == SelfAssessmentScore.point_id)
        .where(SelfAssessmentScore.assessment_id == assessment_id)
        .order_by(Criterion.position, Criterion.id, EvaluationPoint.code)
    )
    return [
        ScoreRow(str(c), p, float(s), float(f), n, str(fid) if fid else None)
        for c, p, s, f, n, fid in rows
    ]


def _in_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """The districts in the caller's subtree (all for city-wide callers)."""
    if principal.city_wide:
        return []
    return [Unit.path.startswith(principal.unit_path, autoescape=True)]


@dataclass(frozen=True)
class DistrictGap:
    code: str
    name: str
    status: str
    gap: Gap


async def gaps(
    session: AsyncSession,
    rnd: AssessmentRound,
    principal: Principal,
    tz: ZoneInfo,
    threshold: float,
) -> list[DistrictGap]:
    """Per district of the caller's scope with an assessment in the round: the self-assessed
    and the inspected percent over the (criterion, point) pairs both cover, and the flag."""
    since = datetime.combine(rnd.starts_on, time(0), tz)
    until = datetime.combine(rnd.ends_on, time(23, 59, 59, 999999), tz)
    results = (
        select(
            InspectionResult.criterion_id.label("criterion_id"),
            Inspection.point_id.label("point_id"),
            func.count().filter(InspectionResult.outcome == "pass").label("passed"),
            func.count().filter(InspectionResult.outcome == "fail").label("failed"),
        )
        .join(Inspection, Inspection.id == InspectionResult.inspection_id)
        .where(
            Inspection.criteria_set_id == rnd.criteria_set_id,
            Inspection.observed_at >= since,
            Inspection.observed_at <= until,
        )
        .group_by(InspectionResult.criterion_id, Inspection.point_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Unit.code,
            Unit.name,
            Unit.path,
            SelfAssessment.status,
            SelfAssessmentScore.score,
            Criterion.full_score,
            func.coalesce(results.c.passed, 0),
            func.coalesce(results.c.failed, 0),
        )
        .join(SelfAssessment, SelfAssessment.district_id == Unit.id)
        .join(SelfAssessmentScore, SelfAssessmentScore.assessment_id == SelfAssessment.id)
        .join(Criterion, Criterion.id == SelfAssessmentScore.criterion_id)
        .outerjoin(
            results,
            and_(
                results.c.criterion_id == SelfAssessmentScore.criterion_id,
                results.c.point_id == SelfAssessmentScore.point_id,
            ),
        )
        .where(SelfAssessment.round_id == rnd.id, *_in_scope(principal))
        .order_by(Unit.code)
    )
    by_district: dict[str, tuple[str, str, list[Pair]]] = {}
    for code, name, _path, status, score, full, passed, failed in rows:
        entry = by_district.setdefault(code, (name, status, []))
        entry[2].append(Pair(float(score), float(full), int(passed), int(failed)))
    return [
        DistrictGap(code, name, status, gap(pairs, threshold))
        for code, (name, status, pairs) in by_district.items()
    ]
