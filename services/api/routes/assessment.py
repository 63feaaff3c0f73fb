"""Self-assessment rounds (自评自测): the campaign office opens a round, a district's handler
submits its scores, the district's head approves (shortfalls become findings) or returns
them; the office compares each district's own score with what its inspectors measured."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.assessment.queries import gaps, scores_of
from services.core.assessment.service import (
    NewRound,
    NewScore,
    approve,
    create_round,
    district_by_code,
    return_assessment,
    round_by_code,
    submit,
)
from services.core.identity.principal import Principal
from services.core.models import AssessmentRound, CriteriaSet, SelfAssessment, Unit
from services.core.platform.errors import NotFound

from ..deps import Caller, Ref, Session, SettingsDep, require_roles
from ..schemas.assessment import (
    AssessmentOut,
    GapList,
    GapOut,
    RoundCreate,
    RoundList,
    RoundOut,
    ScoreOut,
    Submission,
)
from ..schemas.wire import CodePath
from .findings import make_clock

router = APIRouter(prefix="/assessment-rounds", tags=["self-assessment"])
Office = Annotated[Principal, Depends(require_roles("dispatcher", "admin"))]


async def _round_out(session: AsyncSession, r: AssessmentRound, tz: ZoneInfo) -> RoundOut:
    set_code = await session.scalar(
        select(CriteriaSet.code).where(CriteriaSet.id == r.criteria_set_id)
    )
    return RoundOut(
        code=r.code, name=r.name, criteria_set=set_code or "", starts_on=r.starts_on,
        ends_on=r.ends_on, created_at=r.created_at.astimezone(tz),
    )  # fmt: skip


async def _assessment_out(
    session: AsyncSession,
    r: AssessmentRound,
    district: Unit,
    a: SelfAssessment,
    tz: ZoneInfo,
    findings: int | None = None,
) -> AssessmentOut:
    return AssessmentOut(
        round=r.code,
        district=district.code,
        status=a.status,
        submitted_at=a.submitted_at.astimezone(tz) if a.submitted_at else None,
        approved_at=a.approved_at.astimezone(tz) if a.approved_at else None,
        findings=findings,
        scores=[ScoreOut(**vars(s)) for s in await scores_of(session, a.id)],
    )


@router.post("", response_model=RoundOut, status_code=201)
async def post_round(
    body: RoundCreate, _: Office, session: Session, settings: SettingsDep, ref: Ref,
    response: Response,
) -> RoundOut:  # fmt: skip
    """Open a round against a criteria version; the same round again answers 200."""
    r, created = await create_round(
        session, NewRound(**body.model_dump()), make_clock(ref, settings)
    )
    if not created:
        response.status_code = 200
    return await _round_out(session, r, ZoneInfo(settings.timezone))


@router.get("", response_model=RoundList)
async def list_rounds(_: Caller, session: Session, settings: SettingsDep) -> RoundList:
    tz = ZoneInfo(settings.timezone)
    rounds = await session.scalars(select(AssessmentRound).order_by(AssessmentRound.id))
    return RoundList(items=[await _round_out(session, r, tz) for r in rounds])


@router.post("/{code}/districts/{district}/submit", response_model=AssessmentOut)
async def post_submit(
    code: CodePath, district: CodePath, body: Submission, caller: Caller, session: Session,
    settings: SettingsDep, ref: Ref,
) -> AssessmentOut:  # fmt: skip
    """The district's handler submits its scores per criterion (at a point of the district
    or over the district), again after a return."""
    r = await round_by_code(session, code)
    unit = await district_by_code(session, district, caller)
    scores = [NewScore(**s.model_dump()) for s in body.scores]
    a = await submit(session, r, unit, scores, caller, make_clock(ref, settings))
    return await _assessment_out(session, r, unit, a, ZoneInfo(settings.timezone))


@router.post("/{code}/districts/{district}/approve", response_model=AssessmentOut)
async def post_approve(
    code: CodePath, district: CodePath, caller: Caller, session: Session,
    settings: SettingsDep, ref: Ref,
) -> AssessmentOut:  # fmt: skip
    """The district's head approves: every shortfall becomes a finding (source
    self_assessment), routed and escalated like any other."""
    r = await round_by_code(session, code)
    unit = await district_by_code(session, district, caller)
    a, findings = await approve(
        session, r, unit, caller, make_clock(ref, settings), ref,
        recurrence_window=timedelta(days=settings.recurrence_window_days),
    )  # fmt: skip
    return await _assessment_out(session, r, unit, a, ZoneInfo(settings.timezone), findings)


@router.post("/{code}/districts/{district}/return", response_model=AssessmentOut)
async def post_return(
    code: CodePath, district: CodePath, caller: Caller, session: Session, settings: SettingsDep
) -> AssessmentOut:
    """The district's head sends the submission back to the handler."""
    r = await round_by_code(session, code)
    unit = await district_by_code(session, district, caller)
    a = await return_assessment(session, r, unit, caller)
    return await _assessment_out(session, r, unit, a, ZoneInfo(settings.timezone))


@router.get("/{code}/districts/{district}", response_model=AssessmentOut)
async def get_assessment(
    code: CodePath, district: CodePath, caller: Caller, session: Session, settings: SettingsDep
) -> AssessmentOut:
    r = await round_by_code(session, code)
    unit = await district_by_code(session, district, caller)
    a = await session.scalar(
        select(SelfAssessment).where(
            SelfAssessment.round_id == r.id, SelfAssessment.district_id == unit.id
        )
    )
    if a is None:
        raise NotFound(f"{district} has no self-assessment in round {code!r}.")
    return await _assessment_out(session, r, unit, a, ZoneInfo(settings.timezone))


@router.get("/{code}/gap", response_model=GapList)
async def get_gap(
    code: CodePath, caller: Caller, session: Session, settings: SettingsDep
) -> GapList:
    """Per district (of the caller's scope): the self-assessed percent of full marks beside
    what the inspections measured at the same points and criteria in the round's period; a
    district rating itself more than DUBAN_SELF_ASSESSMENT_GAP_POINTS above is flagged."""
    r = await round_by_code(session, code)
    threshold = settings.self_assessment_gap_points
    rows = await gaps(session, r, caller, ZoneInfo(settings.timezone), threshold)
    return GapList(
        round=r.code,
        threshold=threshold,
        items=[
            GapOut(
                district=g.code,
                name=g.name,
                status=g.status,
                self_percent=g.gap.self_percent,
                inspected_percent=g.gap.inspected_percent,
                compared=g.gap.compared,
                gap=g.gap.gap,
                flagged=g.gap.flagged,
            )
            for g in rows
        ],
    )
