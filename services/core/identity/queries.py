"""Users and API tokens as an operator lists them (`duban user list`, `duban token list`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ApiToken, Person, Unit, User


@dataclass(frozen=True)
class UserRow:
    username: str
    role: str
    unit: str
    active: bool
    person: str | None
    open_tokens: int
    created_at: datetime


@dataclass(frozen=True)
class TokenRow:
    id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def list_users(session: AsyncSession) -> list[UserRow]:
    open_tokens = (
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            User.username, User.role, Unit.code, User.active, Person.name, open_tokens,
            User.created_at,
        )
        .join(Unit, Unit.id == User.unit_id)
        .outerjoin(Person, Person.id == User.person_id)
        .order_by(User.username)
    )  # fmt: skip
    return [UserRow(*row) for row in rows]


async def list_tokens(session: AsyncSession, username: str | None = None) -> list[TokenRow]:
    stmt = (
        select(
            ApiToken.id, User.username, ApiToken.name, ApiToken.created_at,
            ApiToken.last_used_at, ApiToken.revoked_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id)
    )  # fmt: skip
    if username is not None:
        stmt = stmt.where(User.username == username)
    return [TokenRow(*row) for row in await session.execute(stmt)]
