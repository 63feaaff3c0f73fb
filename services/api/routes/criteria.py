"""The evaluation criteria (测评标准): versioned indicator trees, imported with
POST /imports/criteria; every caller may read them (inspectors check against them)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter

from services.core.inspection.queries import criteria_of, criteria_set, criteria_sets
from services.core.models import Criterion

from ..deps import Caller, Session, SettingsDep
from ..schemas.inspection import CriteriaSetList, CriteriaSetOut, CriterionOut
from ..schemas.wire import CodePath

router = APIRouter(tags=["inspection"])


def render_criteria(criteria: list[Criterion]) -> list[CriterionOut]:
    codes = {c.id: c.code for c in criteria}
    parents = {c.parent_id for c in criteria}
    return [
        CriterionOut(
            code=c.code,
            name=c.name,
            parent=codes.get(c.parent_id) if c.parent_id is not None else None,
            full_score=c.full_score,
            point_types=c.point_types,
            check_items=c.check_items,
            method=c.method,
            category=c.category_code,
            leaf=c.id not in parents,
        )
        for c in criteria
    ]


@router.get("/criteria-sets", response_model=CriteriaSetList)
async def list_criteria_sets(_: Caller, session: Session, settings: SettingsDep) -> CriteriaSetList:
    """Every version of the criteria, oldest first."""
    tz = ZoneInfo(settings.timezone)
    return CriteriaSetList(
        items=[
            CriteriaSetOut(code=s.code, name=s.name, created_at=s.created_at.astimezone(tz))
            for s in await criteria_sets(session)
        ]
    )


@router.get("/criteria-sets/{code}", response_model=CriteriaSetOut)
async def get_criteria_set(
    code: CodePath, _: Caller, session: Session, settings: SettingsDep
) -> CriteriaSetOut:
    """One version with its indicators, parents before children."""
    found = await criteria_set(session, code)
    return CriteriaSetOut(
        code=found.code,
        name=found.name,
        created_at=found.created_at.astimezone(ZoneInfo(settings.timezone)),
        criteria=render_criteria(await criteria_of(session, found.id)),
    )
