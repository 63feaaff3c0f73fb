"""Passwords (argon2), short-lived access tokens (JWT) and long-lived API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_TOKEN_PREFIX = "dbn_"  # noqa: S105 - a prefix, not a secret
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same cost as a real check, so a missing user is not told apart by timing.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(user_id: int, secret: str, now: datetime, minutes: int) -> str:
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_access_token(token: str, secret: str, now: datetime | None = None) -> int | None:
    """The user id of a valid, unexpired token; None for anything else."""
    checked = _checked(token, secret)
    if checked is None:
        return None
    user_id, expires = checked
    at = (now or datetime.now(UTC)).timestamp()
    return user_id if at < expires else None


# A client sends the same token with every request until it expires, and verifying it costs
# more than the rest of the authentication (PyJWT: ~7% of a report's CPU). What a token says
# never changes, so the verdict is kept (bounded); expiry is compared on every call, and
# whether the user is still active is read from the database on every request regardless.
@functools.lru_cache(maxsize=4096)
def _checked(token: str, secret: str) -> tuple[int, float] | None:
    """(user id, expiry as a Unix time) of a token signed with `secret`, or None."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp"], "verify_exp": False},
        )
        return int(claims["sub"]), float(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


def new_api_token() -> tuple[str, str]:
    """(secret shown once to the user, sha256 stored in the database)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
