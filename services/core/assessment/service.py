"""Self-assessment rounds: the office opens a round against a criteria version; each district's
handler submits its scores per criterion (at points, or over the district); the district's
head approves them, and every shortfall becomes a finding with source `self_assessment` on
the district, routed and escalated like any other. Use cases flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.assessment.rules import (
    SUBMITTABLE,
    may_approve,
    may_submit,
    shortfall,
)
from services.core.findings.intake import IntakeTerms, NewFinding, report
from services.core.findings.rules import Clock, FindingError
from services.core.identity.principal import Principal
from services.core.models import (
    AssessmentRound,
    CriteriaSet,
    Criterion,
    EvaluationPoint,
    PointType,
    SelfAssessment,
    SelfAssessmentScore,
    Unit,
)
from services.core.platform.db import driver_connection
from services.core.platform.errors import Conflict, DomainError, InvalidInput, NotFound
from services.core.reference.snapshot import Reference

SOURCE = "self_assessment"
# A shortfall of a criterion that names no category is reported under this one.
FALLBACK_CATEGORY = "other"


@dataclass(frozen=True)
class NewRound:
    code: str
    name: str
    criteria_set: str
    starts_on: date
    ends_on: date


async def create_round(
    session: AsyncSession, new: NewRound, clock: Clock
) -> tuple[AssessmentRound, bool]:
    """A new round, or the same one again (False); another under a taken code is a 409."""
    set_id = await session.scalar(
        select(CriteriaSet.id).where(CriteriaSet.code == new.criteria_set)
    )
    errors = []
    if set_id is None:
        errors.append(("criteria_set", f"no criteria set {new.criteria_set!r}"))
    if new.ends_on < new.starts_on:
        errors.append(("ends_on", "must not be before starts_on"))
    if errors:
        raise InvalidInput(errors)
    existing = await session.scalar(select(AssessmentRound).where(AssessmentRound.code == new.code))
    if existing is not None:
        same = (existing.name, existing.criteria_set_id, existing.starts_on, existing.ends_on) == (
            new.name, set_id, new.starts_on, new.ends_on,
        )  # fmt: skip
        if not same:
            raise Conflict(f"The round code {new.code!r} is taken by another round.")
        return existing, False
    created = AssessmentRound(
        code=new.code, name=new.name, criteria_set_id=set_id, starts_on=new.starts_on,
        ends_on=new.ends_on, created_at=clock.now,
    )  # fmt: skip
    session.add(created)
    await session.flush()
    return created, True


async def round_by_code(session: AsyncSession, code: str) -> AssessmentRound:
    found = await session.scalar(select(AssessmentRound).where(AssessmentRound.code == code))
    if found is None:
        raise NotFound(f"No self-assessment round {code!r}.")
    return found


async def district_by_code(session: AsyncSession, code: str, principal: Principal) -> Unit:
    """The district; 404 when it is not one or lies outside the caller's scope."""
    unit = await session.scalar(select(Unit).where(Unit.code == code, Unit.kind == "district"))
    if unit is None or not principal.covers(unit.path):
        raise NotFound(f"No district {code!r}.")
    return unit


@dataclass(frozen=True)
class NewScore:
    criterion: str
    point: str | None
    score: float
    note: str | None = None


async def submit(
    session: AsyncSession,
    rnd: AssessmentRound,
    district: Unit,
    scores: Sequence[NewScore],
    principal: Principal,
    clock: Clock,
) -> SelfAssessment:
    """The district's scores, submitted by its handler (again after a return, replacing
    them); checked against the round's criteria and the district's points."""
    if not may_submit(principal, district.id):
        raise DomainError(403, "Only a handler of the district itself submits its self-assessment.")
    assessment = await session.scalar(
        select(SelfAssessment)
        .where(SelfAssessment.round_id == rnd.id, SelfAssessment.district_id == district.id)
        .with_for_update()
    )
    if assessment is not None and assessment.status not in SUBMITTABLE:
        raise Conflict(f"The self-assessment is {assessment.status}: it cannot be submitted again.")
    rows = await _checked(session, rnd, district, scores)
    if assessment is None:
        assessment = SelfAssessment(round_id=rnd.id, district_id=district.id, status="draft")
        session.add(assessment)
        await session.flush()
    else:
        await session.execute(
            delete(SelfAssessmentScore).where(SelfAssessmentScore.assessment_id == assessment.id)
        )
        assessment.version += 1
    for criterion_id, point_id, score, note in rows:
        session.add(
            SelfAssessmentScore(
                assessment_id=assessment.id,
                criterion_id=criterion_id,
                point_id=point_id,
                score=score,
                note=note,
            )
        )
    assessment.status = "submitted"
    assessment.submitted_by_id = principal.user_id
    assessment.submitted_at = clock.now
    await session.flush()
    return assessment


async def _checked(
    session: AsyncSession, rnd: AssessmentRound, district: Unit, scores: Sequence[NewScore]
) -> list[tuple[int, int | None, float, str | None]]:
    criteria = {
        c.code: c
        for c in await session.scalars(
            select(Criterion).where(Criterion.set_id == rnd.criteria_set_id)
        )
    }
    codes = [s.point for s in scores if s.point is not None]
    points = {
        str(code): (int(pid), str(t))
        for code, pid, t in await session.execute(
            select(EvaluationPoint.code, EvaluationPoint.id, PointType.code)
            .join(PointType, PointType.id == EvaluationPoint.point_type_id)
            .where(EvaluationPoint.code.in_(codes), EvaluationPoint.district_id == district.id)
        )
    }
    errors: list[tuple[str, str]] = []
    rows = []
    seen: set[tuple[str, str | None]] = set()
    for i, s in enumerate(scores):
        criterion = criteria.get(s.criterion)
        if criterion is None:
            errors.append((f"scores[{i}].criterion", f"no criterion {s.criterion!r} in this round"))
            continue
        if s.score > criterion.full_score:
            errors.append((f"scores[{i}].score", f"above the full score {criterion.full_score:g}"))
        point_id = None
        if s.point is not None:
            found = points.get(s.point)
            if found is None:
                errors.append((f"scores[{i}].point", f"no point {s.point!r} in this district"))
                continue
            point_id, type_code = found
            if criterion.point_types and type_code not in criterion.point_types:
                errors.append(
                    (f"scores[{i}].point", f"{s.criterion} does not apply to {type_code}")
                )
        if (s.criterion, s.point) in seen:
            errors.append((f"scores[{i}]", "scored twice"))
        seen.add((s.criterion, s.point))
        rows.append((criterion.id, point_id, s.score, s.note))
    if errors:
        raise InvalidInput(errors)
    return rows


async def approve(
    session: AsyncSession,
    rnd: AssessmentRound,
    district: Unit,
    principal: Principal,
    clock: Clock,
    ref: Reference,
    *,
    recurrence_window: timedelta,
) -> tuple[SelfAssessment, int]:
    """The head's approval: the assessment becomes the district's record and every shortfall
    a finding (source self_assessment) on the district, at the point when the score was
    given at one. Idempotent ids: a shortfall is reported once, whatever happens."""
    if not may_approve(principal, district.id):
        raise DomainError(403, "Only the head of the district approves its self-assessment.")
    assessment = await _assessment(session, rnd, district, lock=True)
    if assessment.status != "submitted":
        raise Conflict(
            f"The self-assessment is {assessment.status}: only a submitted one is approved."
        )
    rows = await session.execute(
        select(SelfAssessmentScore, Criterion, EvaluationPoint, Unit.code)
        .join(Criterion, Criterion.id == SelfAssessmentScore.criterion_id)
        .outerjoin(EvaluationPoint, EvaluationPoint.id == SelfAssessmentScore.point_id)
        .outerjoin(Unit, Unit.id == EvaluationPoint.place_unit_id)
        .where(SelfAssessmentScore.assessment_id == assessment.id)
        .order_by(SelfAssessmentScore.id)
    )
    terms = IntakeTerms(recurrence_window=recurrence_window)
    findings = 0
    for score, criterion, point, place_code in rows:
        if not shortfall(score.score, criterion.full_score):
            continue
        score.finding_id = await _report(
            session, assessment, score, criterion, point, place_code, district, principal,
            clock, ref, terms,
        )  # fmt: skip
        findings += 1
    assessment.status = "approved"
    assessment.approved_by_id = principal.user_id
    assessment.approved_at = clock.now
    await session.flush()
    return assessment, findings


async def return_assessment(
    session: AsyncSession, rnd: AssessmentRound, district: Unit, principal: Principal
) -> SelfAssessment:
    """The head sends it back to the handler for another submission."""
    if not may_approve(principal, district.id):
        raise DomainError(403, "Only the head of the district returns its self-assessment.")
    assessment = await _assessment(session, rnd, district, lock=True)
    if assessment.status != "submitted":
        raise Conflict(
            f"The self-assessment is {assessment.status}: only a submitted one is returned."
        )
    assessment.status = "returned"
    await session.flush()
    return assessment


async def _assessment(
    session: AsyncSession, rnd: AssessmentRound, district: Unit, *, lock: bool = False
) -> SelfAssessment:
    query = select(SelfAssessment).where(
        SelfAssessment.round_id == rnd.id, SelfAssessment.district_id == district.id
    )
    found = await session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"{district.code} has no self-assessment in round {rnd.code!r}.")
    return found


async def _report(
    session: AsyncSession,
    assessment: SelfAssessment,
    score: SelfAssessmentScore,
    criterion: Criterion,
    point: EvaluationPoint | None,
    place_code: str | None,
    district: Unit,
    principal: Principal,
    clock: Clock,
    ref: Reference,
    terms: IntakeTerms,
) -> uuid.UUID:
    lat, lon = (point.lat, point.lon) if point is not None else (district.lat, district.lon)
    if lat is None or lon is None:
        raise InvalidInput([("scores", f"{district.code} has no position for {criterion.code}")])
    where = f"{point.name}（测评点位 {point.code}）" if point is not None else district.name
    fid = uuid.uuid5(
        uuid.NAMESPACE_URL, f"duban:self_assessment:{assessment.id}:{criterion.id}:{score.point_id}"
    )
    new = NewFinding(
        id=fid,
        source=SOURCE,
        category=criterion.category_code or FALLBACK_CATEGORY,
        severity="normal",
        description=(
            f"自评自测失分：{criterion.name}（{criterion.code}）{score.score:g}/"
            f"{criterion.full_score:g}，{where}" + (f"。{score.note}" if score.note else "")
        ),
        lat=lat,
        lon=lon,
        address=point.address if point is not None else None,
        unit=place_code or district.code,
        point_type=None,
        observed_at=clock.now,
        canonical={"assessment": assessment.id, "score": score.id},
    )
    try:
        reported = await report(await driver_connection(session), new, principal, clock, terms, ref)
    except FindingError as exc:
        raise FindingError(exc.status, f"{criterion.code}: {exc.message}", "scores") from exc
    return reported.finding.id
