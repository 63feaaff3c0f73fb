"""Request dependencies: one unit of work per request, the caller, role checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.callers import Known, read_caller
from services.core.identity.principal import Principal
from services.core.identity.security import API_TOKEN_PREFIX, hash_api_token, read_access_token
from services.core.platform.db import database_unreachable, driver_connection
from services.core.platform.settings import Settings
from services.core.reference.snapshot import Reference

from .problems import Problem
from .state import AppState

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.duban
    return state


async def get_state(request: Request) -> AppState:
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]


# The dependencies every request solves read the state from the request themselves, rather
# than through `State`: FastAPI's work per request grows with the edges of the graph.
async def get_settings(request: Request) -> Settings:
    return app_state(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed once when the endpoint returns, rolled back if it
    raises. The commit happens before the response is sent, so a client that saw 2xx can rely
    on the data being durable."""
    async with app_state(request).sessionmaker() as session:
        try:
            async with session.begin():
                yield session
        except Exception as exc:
            # A connection that broke under a statement run on the driver (the caller, the
            # intake) is not seen by SQLAlchemy: throw it away rather than pool it again.
            if database_unreachable(exc):
                with contextlib.suppress(Exception):
                    await session.invalidate()
            raise


# scope="function": the commit runs before the response is sent, not after it.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def utcnow() -> datetime:
    return datetime.now(UTC)


# An API token's use, recorded as it authenticates; its user, unless it is unknown or revoked.
RECORD_USE_SQL = """
UPDATE api_tokens SET last_used_at = $2
WHERE token_hash = $1 AND revoked_at IS NULL
RETURNING user_id
"""


async def access_token_caller(db: Any, token: str, secret: str) -> Known | None:
    """The caller of a signed access token (a bearer token or the dashboard's cookie), read
    on the driver connection `db`; None unless the token is valid now and not revoked: its
    version is still the user's (a logout, a password change or a deactivation raised it)."""
    claims = read_access_token(token, secret)
    found = await read_caller(db, claims.user_id) if claims is not None else None
    if found is None or claims is None or found.token_version != claims.version:
        return None
    return found


_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


# The dashboard's session cookie (services/api/ui/session.py) also authenticates reads, so
# its export links and photos work from the browser. Never writes: a cookie rides along on
# cross-site requests, a bearer token does not.
SESSION_COOKIE = "duban_session"
_COOKIE_METHODS = frozenset({"GET", "HEAD"})


async def authenticate(request: Request, db: Any, token: str | None) -> Principal:
    """The caller of `request`, from its bearer token (or, for reads, the dashboard's cookie),
    with the reference revision left in `request.state.config_revision`. On the driver
    connection `db`; an API token's use is recorded at once, whatever the request does next."""
    if not token and request.method in _COOKIE_METHODS:
        token = request.cookies.get(SESSION_COOKIE)
        if token and token.startswith(API_TOKEN_PREFIX):
            token = None
    if not token:
        raise Problem(
            401,
            "Authentication required: send Authorization: Bearer <token>.",
            headers=_UNAUTHENTICATED,
        )
    found: Known | None
    if token.startswith(API_TOKEN_PREFIX):
        # Revoked with the user's sessions on a password change or deactivation (0014).
        user_id = await db.fetchval(RECORD_USE_SQL, hash_api_token(token), utcnow())
        found = await read_caller(db, user_id) if user_id is not None else None
    else:
        found = await access_token_caller(db, token, app_state(request).jwt_secret)
    if found is None:
        raise Problem(401, "The token is invalid, expired or revoked.", headers=_UNAUTHENTICATED)
    request.state.config_revision = found.revision
    return found.principal


async def get_principal(
    request: Request,
    session: Session,
    token: Annotated[str | None, Depends(oauth2)],
) -> Principal:
    return await authenticate(request, await driver_connection(session), token)


Caller = Annotated[Principal, Depends(get_principal)]


async def get_reference(request: Request, session: Session, _principal: Caller) -> Reference:
    """The reference snapshot as of the revision read with the caller (`authenticate`)."""
    # `_principal`: the caller, and so the revision, is read first.
    return await app_state(request).references.at(session, request.state.config_revision)


Ref = Annotated[Reference, Depends(get_reference)]


def check_role(principal: Principal, allowed: frozenset[str]) -> Principal:
    if principal.role not in allowed:
        raise Problem(
            403,
            f"Role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}.",
        )
    return principal


def require_roles(*roles: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    allowed = frozenset(roles)

    async def check(principal: Caller) -> Principal:
        return check_role(principal, allowed)

    return check


Admin = Annotated[Principal, Depends(require_roles("admin"))]
