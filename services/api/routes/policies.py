"""Escalation policies for admins (DESIGN §6, §7), addressed by code.

A finding carries a snapshot of its policy from the moment it was dispatched, so editing or
replacing a policy here changes only findings dispatched afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.escalation.plans import DEFAULT_POLICY
from services.core.models import Category, EscalationPolicy
from services.core.platform.errors import Conflict, InvalidInput, NotFound, refuse_nulls
from services.core.platform.keyset import keyset

from ..deps import Admin, Session, utcnow
from ..pagination import PageDep, id_key, split_page
from ..schemas.policies import (
    PolicyCreate,
    PolicyOut,
    PolicyPage,
    PolicyUpdate,
    ladder_errors,
    normalised_levels,
)
from ..schemas.wire import CodePath

router = APIRouter(prefix="/escalation-policies", tags=["configuration"])


def _out(row: EscalationPolicy) -> PolicyOut:
    return PolicyOut.model_validate(row, from_attributes=True)


def _check_ladder(levels: list[dict[str, object]]) -> None:
    errors = ladder_errors(levels)
    if errors:
        raise InvalidInput(errors)


async def _policy_or_404(session: AsyncSession, code: str) -> EscalationPolicy:
    policy = await session.scalar(select(EscalationPolicy).where(EscalationPolicy.code == code))
    if policy is None:
        raise NotFound(f"No escalation policy with code {code!r}.")
    return policy


@router.get("", response_model=PolicyPage)
async def list_policies(session: Session, _: Admin, page: PageDep) -> PolicyPage:
    stmt = keyset(select(EscalationPolicy), EscalationPolicy.id, page.after(id_key), page.limit + 1)
    rows = (await session.scalars(stmt)).all()
    items, cursor = split_page(rows, page.limit, lambda p: [p.id])
    return PolicyPage(items=[_out(p) for p in items], next_cursor=cursor)


@router.get("/{code}", response_model=PolicyOut)
async def get_policy(code: CodePath, session: Session, _: Admin) -> PolicyOut:
    return _out(await _policy_or_404(session, code))


@router.post("", response_model=PolicyOut, status_code=201)
async def create_policy(body: PolicyCreate, session: Session, _: Admin) -> PolicyOut:
    _check_ladder(body.levels)
    conflict = f"An escalation policy with code {body.code!r} already exists."
    if await session.scalar(select(exists().where(EscalationPolicy.code == body.code))):
        raise Conflict(conflict)
    now = utcnow()
    policy = EscalationPolicy(
        code=body.code,
        name=body.name,
        reminder_at=body.reminder_at,
        levels=normalised_levels(body.levels),
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create took the code
        raise Conflict(conflict) from exc
    return _out(policy)


@router.patch("/{code}", response_model=PolicyOut)
async def update_policy(
    code: CodePath, body: PolicyUpdate, session: Session, _: Admin
) -> PolicyOut:
    """Change a policy. Findings already dispatched keep the ladder they were given."""
    fields = body.model_fields_set
    refuse_nulls(body.model_dump(exclude_unset=True), ("name", "levels"))
    policy = await _policy_or_404(session, code)
    if body.levels is not None:
        _check_ladder(body.levels)
        policy.levels = normalised_levels(body.levels)
    if body.name is not None:
        policy.name = body.name
    if "reminder_at" in fields:
        policy.reminder_at = body.reminder_at
    policy.updated_at = utcnow()
    await session.flush()
    return _out(policy)


@router.delete("/{code}", status_code=204, response_class=Response)
async def delete_policy(code: CodePath, session: Session, _: Admin) -> Response:
    policy = await _policy_or_404(session, code)
    if code == DEFAULT_POLICY:
        raise Conflict(
            f"{DEFAULT_POLICY!r} is the ladder of every category without a policy of its own; "
            "edit it instead of deleting it."
        )
    users = (
        await session.scalars(
            select(Category.code).where(Category.policy_code == code).order_by(Category.code)
        )
    ).all()
    if users:
        raise Conflict(
            f"Escalation policy {code!r} is still named by the categories "
            f"{', '.join(users)}; point them at another policy first."
        )
    await session.delete(policy)
    await session.flush()
    return Response(status_code=204)
