"""User and API-token administration (`duban user …`, `duban token …`). Each function is one
command's work inside its transaction: it checks, writes, records an audit event with the
operator (services/core/identity/store.py), flushes, and leaves the commit to the caller.

Disabling a user and setting a password end the user's sessions and revoke their API tokens
in the same transaction: a trigger does it (migration 0014), whoever makes the change. A
new role or unit takes effect on the user's next request, since every request reads the
caller afresh (services/core/identity/callers.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.security import MIN_PASSWORD_LENGTH, hash_password, new_api_token
from services.core.identity.store import Operator, record
from services.core.models import USER_ROLES, ApiToken, Unit, User

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AdminError(ValueError):
    """A request the operator can fix; the message says how, in one line."""


@dataclass(frozen=True)
class IssuedToken:
    id: int
    username: str
    name: str
    secret: str


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise AdminError(
            f"invalid username {username!r}: 1-64 letters, digits or . _ @ -, "
            "starting with a letter or digit"
        )


def check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise AdminError(f"unknown role {role!r}; one of: {', '.join(USER_ROLES)}")


async def unit_id_of(session: AsyncSession, code: str) -> int:
    unit_id = await session.scalar(select(Unit.id).where(Unit.code == code))
    if unit_id is None:
        raise AdminError(f"no unit with code {code!r}")
    return unit_id


async def user_named(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        raise AdminError(f"no user {username!r}")
    return user


async def add_user(
    session: AsyncSession,
    operator: Operator,
    *,
    username: str,
    role: str,
    unit_code: str,
    password: str,
) -> User:
    check_username(username)
    check_role(role)
    check_password(password)
    unit_id = await unit_id_of(session, unit_code)
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AdminError(f"user {username!r} already exists")
    user = User(
        username=username, role=role, unit_id=unit_id, password_hash=hash_password(password)
    )
    session.add(user)
    await session.flush()
    await record(session, operator, "user.add", username, {"role": role, "unit": unit_code})
    return user


async def set_active(
    session: AsyncSession, operator: Operator, username: str, *, active: bool
) -> bool:
    """Enable or disable a user; False if they already were. Disabling ends every session
    and revokes every API token of theirs at once (the trigger); enabling brings none back."""
    user = await user_named(session, username)
    if user.active == active:
        return False
    open_tokens = await _open_tokens(session, user.id)
    user.active = active
    await session.flush()
    payload = {} if active else {"api_tokens_revoked": open_tokens}
    await record(session, operator, "user.enable" if active else "user.disable", username, payload)
    return True


async def reset_password(
    session: AsyncSession, operator: Operator, username: str, password: str
) -> int:
    """Set a new password; returns how many API tokens were revoked with the old sessions."""
    check_password(password)
    user = await user_named(session, username)
    open_tokens = await _open_tokens(session, user.id)
    user.password_hash = hash_password(password)
    await session.flush()
    # Never the password, nor its hash.
    await record(
        session, operator, "user.reset_password", username, {"api_tokens_revoked": open_tokens}
    )
    return open_tokens


async def set_role(session: AsyncSession, operator: Operator, username: str, role: str) -> bool:
    check_role(role)
    user = await user_named(session, username)
    if user.role == role:
        return False
    before = user.role
    user.role = role
    await session.flush()
    await record(session, operator, "user.set_role", username, {"from": before, "to": role})
    return True


async def set_unit(
    session: AsyncSession, operator: Operator, username: str, unit_code: str
) -> bool:
    user = await user_named(session, username)
    unit_id = await unit_id_of(session, unit_code)
    if user.unit_id == unit_id:
        return False
    before = await session.scalar(select(Unit.code).where(Unit.id == user.unit_id))
    user.unit_id = unit_id
    await session.flush()
    await record(session, operator, "user.set_unit", username, {"from": before, "to": unit_code})
    return True


async def issue_token(
    session: AsyncSession, operator: Operator, *, username: str, name: str
) -> IssuedToken:
    user = await user_named(session, username)
    if not user.active:
        raise AdminError(f"user {username!r} is disabled")
    secret, token_hash = new_api_token()
    token = ApiToken(user_id=user.id, name=name, token_hash=token_hash)
    session.add(token)
    await session.flush()
    await record(session, operator, "token.issue", username, {"token": token.id, "name": name})
    return IssuedToken(id=token.id, username=username, name=name, secret=secret)


async def revoke_token(
    session: AsyncSession, operator: Operator, token_id: int, *, now: datetime
) -> bool:
    """Revoke a token; False if it was already revoked (revoking twice is harmless)."""
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise AdminError(f"no API token with id {token_id}")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    await session.flush()
    username = await session.scalar(select(User.username).where(User.id == token.user_id))
    await record(
        session, operator, "token.revoke", username or "", {"token": token_id, "name": token.name}
    )
    return True


async def _open_tokens(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    )
    return int(count or 0)
