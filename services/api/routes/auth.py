"""Token issue (OAuth2 password flow), rate-limited against password guessing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from services.core.metrics import LOGIN_ATTEMPTS
from services.core.models import User
from services.core.security import issue_access_token, verify_password

from ..deps import Session, State, utcnow
from ..problems import Problem

router = APIRouter(tags=["auth"])

_WINDOW_SECONDS = 60


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


def _limit_key(username: str, request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return f"duban:login-failures:{host}:{username.lower()}"


@router.post("/auth/token", response_model=TokenResponse)
async def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: Session,
    state: State,
) -> TokenResponse:
    """Exchange a username and password for a short-lived bearer token."""
    key = _limit_key(form.username, request)
    failures = int(await state.redis.get(key) or 0)
    limit = state.settings.login_attempts_per_minute
    if failures >= limit:
        LOGIN_ATTEMPTS.labels("throttled").inc()
        ttl = await state.redis.ttl(key)
        raise Problem(
            429,
            f"Too many failed logins for this account from your address; wait {max(ttl, 1)} s.",
            headers={"Retry-After": str(max(ttl, 1))},
        )
    user = (
        await session.execute(select(User).where(User.username == form.username))
    ).scalar_one_or_none()
    if user is None or not user.active or not verify_password(user.password_hash, form.password):
        async with state.redis.pipeline(transaction=True) as pipe:
            # The window starts at the first failure (SET NX EX works on Redis 6 and 7).
            pipe.set(key, 0, ex=_WINDOW_SECONDS, nx=True)
            pipe.incr(key)
            await pipe.execute()
        LOGIN_ATTEMPTS.labels("failed").inc()
        raise Problem(
            401, "Unknown user or wrong password.", headers={"WWW-Authenticate": "Bearer"}
        )
    LOGIN_ATTEMPTS.labels("ok").inc()
    minutes = state.settings.access_token_minutes
    token = issue_access_token(user.id, state.jwt_secret, utcnow(), minutes)
    return TokenResponse(access_token=token, expires_in=minutes * 60)
