"""Passwords (argon2), short-lived access tokens (JWT) and long-lived API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_TOKEN_PREFIX = "dbn_"  # noqa: S105 - a prefix, not a secret
_ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _stand_in_hash() -> str:
    """A hash of nothing anyone knows, with the hasher's parameters, made once."""
    return _hasher.hash(secrets.token_urlsafe(32))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches. Without a hash (no such user, no password set) the same
    work is done against a stand-in, so that the answer takes as long as a wrong password
    and does not tell which usernames exist."""
    try:
        matched = _hasher.verify(password_hash or _stand_in_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and bool(password_hash)


class AccessClaims(NamedTuple):
    user_id: int
    # The user's token version when the token was issued: the token is good only while the
    # user's is the same (services/core/identity/callers.py).
    version: int


def issue_access_token(user_id: int, version: int, secret: str, now: datetime, minutes: int) -> str:
    claims = {
        "sub": str(user_id),
        "ver": version,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_access_token(token: str, secret: str, now: datetime | None = None) -> AccessClaims | None:
    """The claims of a valid, unexpired token; None for anything else. Whether the token has
    been revoked is the caller's read's to tell (its version against the user's)."""
    checked = _checked(token, secret)
    if checked is None:
        return None
    claims, expires = checked
    at = (now or datetime.now(UTC)).timestamp()
    return claims if at < expires else None


# A client sends the same token with every request until it expires, and verifying it costs
# more than the rest of the authentication (bench/ANALYSIS.md §6). What a token says
# never changes, so the verdict is kept (bounded); expiry is compared on every call, and
# whether the user is still active and the token's version still theirs is read from the
# database on every request regardless, so the cache never outlives a revocation.
@functools.lru_cache(maxsize=4096)
def _checked(token: str, secret: str) -> tuple[AccessClaims, float] | None:
    """(claims, expiry as a Unix time) of a token signed with `secret`, or None."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "sub", "ver"], "verify_exp": False},
        )
        version = claims["ver"]
        if type(version) is not int:
            return None
        return AccessClaims(int(claims["sub"]), version), float(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


def new_api_token() -> tuple[str, str]:
    """(secret shown once to the user, sha256 stored in the database)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
