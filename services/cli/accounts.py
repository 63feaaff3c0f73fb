"""Users and API tokens from the command line. Each function is one command's work inside its
transaction: it validates, flushes and leaves the commit to the caller."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.security import MIN_PASSWORD_LENGTH, hash_password, new_api_token
from services.core.models import USER_ROLES, ApiToken, Unit, User

from .common import CliError

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class IssuedToken:
    id: int
    username: str
    name: str
    secret: str


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


async def add_user(
    session: AsyncSession, *, username: str, role: str, unit_code: str, password: str
) -> User:
    if not USERNAME.match(username):
        raise CliError(
            f"invalid username {username!r}: 1-64 letters, digits or . _ @ -, "
            "starting with a letter or digit"
        )
    if role not in USER_ROLES:
        raise CliError(f"unknown role {role!r}; one of: {', '.join(USER_ROLES)}")
    check_password(password)
    unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit_code))
    if unit_id is None:
        raise CliError(f"no unit with code {unit_code!r}")
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise CliError(f"user {username!r} already exists")
    user = User(
        username=username, role=role, unit_id=unit_id, password_hash=hash_password(password)
    )
    session.add(user)
    await session.flush()
    return user


async def issue_token(session: AsyncSession, *, username: str, name: str) -> IssuedToken:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise CliError(f"no user {username!r}")
    if not user.active:
        raise CliError(f"user {username!r} is deactivated")
    secret, token_hash = new_api_token()
    token = ApiToken(user_id=user.id, name=name, token_hash=token_hash)
    session.add(token)
    await session.flush()
    return IssuedToken(id=token.id, username=username, name=name, secret=secret)


async def revoke_token(session: AsyncSession, token_id: int, *, now: datetime) -> bool:
    """Revoke a token; False if it was already revoked (revoking twice is harmless)."""
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise CliError(f"no API token with id {token_id}")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    await session.flush()
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)
