"""Inspection plans (巡查计划, and one-off 摸底排查 rounds) and the tasks they generate on the
working-day calendar: the campaign office plans, every inspector reads their own tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.principal import Principal
from services.core.inspection.queries import (
    TaskFilter,
    TaskRow,
    plan_by_code,
    plan_task_counts,
    plans,
    task,
    tasks_page,
)
from services.core.inspection.service import NewPlan, create_plan
from services.core.models import CriteriaSet, InspectionPlan
from services.core.sync.queries import current_snapshot
from services.core.sync.rules import Token
from services.core.sync.service import tasks_page as sync_tasks

from ..deps import Caller, Ref, Session, SettingsDep, require_roles, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..schemas.findings import Removed
from ..schemas.inspection import PlanCreate, PlanList, PlanOut, TaskOut, TaskPage
from ..schemas.wire import BigId, Code, CodePath, Timestamp
from ..sync import UpdatedSince, sync_token
from .findings import make_clock

router = APIRouter(tags=["inspection"])
Planner = Annotated[Principal, Depends(require_roles("dispatcher", "admin"))]
task_key = CursorKey[tuple[datetime, int]](Timestamp, BigId)


async def _plan_out(session: AsyncSession, plan: InspectionPlan, tz: ZoneInfo) -> PlanOut:
    set_code = await session.get(CriteriaSet, plan.criteria_set_id)
    tasks, done, overdue = await plan_task_counts(session, plan.id, utcnow())
    return PlanOut(
        code=plan.code,
        name=plan.name,
        kind=plan.kind,
        criteria_set=set_code.code if set_code else "",
        starts_on=plan.starts_on,
        ends_on=plan.ends_on,
        units=plan.units,
        frequencies=plan.frequencies,
        assignees=plan.assignees,
        tasks=tasks,
        done=done,
        overdue=overdue,
        created_at=plan.created_at.astimezone(tz),
    )


@router.post(
    "/inspection-plans",
    response_model=PlanOut,
    status_code=201,
    responses={200: {"description": "the same plan again: nothing changed"}},
)
async def post_plan(
    body: PlanCreate,
    planner: Planner,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
    response: Response,
) -> PlanOut:
    """Create a plan and generate its tasks: for every active point of a type it names, in
    the units' subtrees, one task per week or month (or once) of the period, opening on the
    period's first working day and due at the end of its last (a week of holiday has none).
    Idempotent by code."""
    new = NewPlan(**body.model_dump())
    outcome = await create_plan(session, new, planner.user_id, make_clock(ref, settings))
    if not outcome.created:
        response.status_code = 200
    return await _plan_out(session, outcome.plan, ZoneInfo(settings.timezone))


@router.get("/inspection-plans", response_model=PlanList)
async def list_plans(_: Caller, session: Session, settings: SettingsDep) -> PlanList:
    tz = ZoneInfo(settings.timezone)
    return PlanList(items=[await _plan_out(session, p, tz) for p in await plans(session)])


@router.get("/inspection-plans/{code}", response_model=PlanOut)
async def get_plan(code: CodePath, _: Caller, session: Session, settings: SettingsDep) -> PlanOut:
    return await _plan_out(session, await plan_by_code(session, code), ZoneInfo(settings.timezone))


def render_task(r: TaskRow, tz: ZoneInfo, now: datetime) -> TaskOut:
    t = r.task
    status: Literal["open", "done", "overdue"] = (
        "done" if t.done_at is not None else "overdue" if t.due_at < now else "open"
    )

    def local(v: datetime | None) -> datetime | None:
        return v.astimezone(tz) if v is not None else None

    return TaskOut(
        id=t.id,
        plan=r.plan_code,
        point=r.point_code,
        point_name=r.point_name,
        assignee=r.assignee,
        opens_at=t.opens_at.astimezone(tz),
        due_at=t.due_at.astimezone(tz),
        status=status,
        done_at=local(t.done_at),
        inspection=t.inspection_id,
        reminded_at=local(t.reminded_at),
        escalated_at=local(t.escalated_at),
    )


@router.get("/inspection-tasks", response_model=TaskPage)
async def list_tasks(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    plan: Annotated[Code | None, Query()] = None,
    district: Annotated[Code | None, Query()] = None,
    mine: Annotated[bool, Query(description="only the tasks assigned to the caller")] = False,
    status: Annotated[Literal["open", "done", "overdue"] | None, Query()] = None,
    due_after: Annotated[Timestamp | None, Query()] = None,
    due_before: Annotated[Timestamp | None, Query()] = None,
    updated_since: UpdatedSince = None,
) -> TaskPage:
    """Inspection tasks, soonest due first: the caller's own, and those at the points of the
    caller's subtree (city-wide roles: all). With `updated_since`, a phone's sync as on
    GET /findings: the tasks written since (the other filters do not apply), and in
    `removed` those given to another inspector that the caller no longer sees."""
    now = utcnow()
    tz = ZoneInfo(settings.timezone)
    if updated_since is not None:
        found = await sync_tasks(
            session, caller, sync_token(updated_since, page.cursor), page.limit
        )
        return TaskPage(
            items=[render_task(r, tz, now) for r in found.changed],
            next_cursor=found.next_page.encode() if found.next_page else None,
            removed=[Removed(id=str(i), reason="out_of_scope") for i, _ in found.removed],
            sync_cursor=found.next_sync.encode() if found.next_sync else None,
        )
    start = None if page.cursor is not None else Token(await current_snapshot(session))
    f = TaskFilter(plan, district, mine, status, due_after, due_before)
    rows = await tasks_page(
        session, caller, f, now, after=page.after(task_key), limit=page.limit + 1
    )
    items, cursor = split_page(rows, page.limit, lambda r: [r.task.due_at.isoformat(), r.task.id])
    return TaskPage(
        items=[render_task(r, tz, now) for r in items],
        next_cursor=cursor,
        sync_cursor=start.encode() if start else None,
    )


@router.get("/inspection-tasks/{task_id}", response_model=TaskOut)
async def get_task(
    task_id: Annotated[BigId, Path()], caller: Caller, session: Session, settings: SettingsDep
) -> TaskOut:
    return render_task(await task(session, caller, task_id), ZoneInfo(settings.timezone), utcnow())
