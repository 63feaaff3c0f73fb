"""Password checks, shared by the API's token endpoint, the dashboard's login form and the
password change: one budget of failed attempts per account and client address, and the same
work whatever the username, so that the time of an answer does not tell which exist."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.security import verify_password
from services.core.models import User
from services.core.platform.metrics import LOGIN_ATTEMPTS

from .state import AppState

WINDOW_SECONDS = 60


def _failures_key(username: str, request: Request) -> str:
    # The client's address as the connection has it, or as a trusted proxy reported it
    # (services/api/proxies.py): never a forwarding header from anyone else.
    host = request.client.host if request.client else "unknown"
    return f"duban:login-failures:{host}:{username.lower()}"


async def retry_after(state: AppState, request: Request, username: str) -> int | None:
    """Seconds to wait, when this address has used up the account's failed attempts."""
    key = _failures_key(username, request)
    if int(await state.redis.get(key) or 0) < state.settings.login_attempts_per_minute:
        return None
    LOGIN_ATTEMPTS.labels("throttled").inc()
    ttl: int = await state.redis.ttl(key)
    return max(ttl, 1)


async def password_user(
    state: AppState, session: AsyncSession, request: Request, username: str, password: str
) -> User | None:
    """The active user `username` if `password` is theirs; None (a failure counted) if not."""
    user = await session.scalar(select(User).where(User.username == username))
    # The hash is checked before anything else is looked at: an unknown or deactivated user
    # costs what a wrong password costs (verify_password works on a stand-in without a hash).
    matched = verify_password(user.password_hash if user is not None else None, password)
    if user is not None and user.active and matched:
        LOGIN_ATTEMPTS.labels("ok").inc()
        return user
    key = _failures_key(username, request)
    async with state.redis.pipeline(transaction=True) as pipe:
        # The window starts at the first failure (SET NX EX works on Redis 6 and 7).
        pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(key)
        await pipe.execute()
    LOGIN_ATTEMPTS.labels("failed").inc()
    return None
