"""Token issue (OAuth2 password flow), rate-limited against password guessing, and the
caller's own password change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update

from services.core.identity.security import MIN_PASSWORD_LENGTH, hash_password, issue_access_token
from services.core.models import User

from ..deps import Caller, Session, State, utcnow
from ..login import password_user, retry_after
from ..problems import Problem
from ..state import AppState

router = APIRouter(tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)


def _token(state: AppState, user_id: int, version: int) -> TokenResponse:
    minutes = state.settings.access_token_minutes
    token = issue_access_token(user_id, version, state.jwt_secret, utcnow(), minutes)
    return TokenResponse(access_token=token, expires_in=minutes * 60)


def _throttled(seconds: int) -> Problem:
    return Problem(
        429,
        f"Too many failed logins for this account from your address; wait {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


@router.post("/auth/token", response_model=TokenResponse)
async def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: Session,
    state: State,
) -> TokenResponse:
    """Exchange a username and password for a short-lived bearer token."""
    wait = await retry_after(state, request, form.username)
    if wait is not None:
        raise _throttled(wait)
    user = await password_user(state, session, request, form.username, form.password)
    if user is None:
        raise Problem(
            401, "Unknown user or wrong password.", headers={"WWW-Authenticate": "Bearer"}
        )
    return _token(state, user.id, user.token_version)


@router.post("/auth/password", response_model=TokenResponse)
async def change_password(
    request: Request, body: PasswordChange, caller: Caller, session: Session, state: State
) -> TokenResponse:
    """Change the caller's own password. Every session and access token of theirs ends, and
    their API tokens are revoked (a device must be given a new one); the answer is a new
    access token for the caller."""
    wait = await retry_after(state, request, caller.username)
    if wait is not None:
        raise _throttled(wait)
    user = await password_user(state, session, request, caller.username, body.current_password)
    if user is None:
        message = "is not your current password"
        raise Problem(
            422,
            "The current password is wrong.",
            kind="validation",
            errors=[{"field": "current_password", "message": message}],
        )
    # The trigger of migration 0014 raises the token version and revokes the API tokens.
    version = await session.scalar(
        update(User)
        .where(User.id == user.id)
        .values(password_hash=hash_password(body.new_password))
        .returning(User.token_version)
    )
    if version is None:  # deleted since it was read
        raise Problem(401, "The token is invalid, expired or revoked.")
    return _token(state, user.id, version)
