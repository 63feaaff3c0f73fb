"""The dashboard's cookie session: the API's own short-lived JWT, carried in an HttpOnly,
SameSite=Lax cookie, plus a CSRF token derived from it for the forms that POST."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from services.core.security import read_access_token

from ..deps import SESSION_COOKIE

COOKIE = SESSION_COOKIE
LANG_COOKIE = "duban_lang"


def csrf_token(session_token: str, secret: str) -> str:
    """Bound to the session cookie, so it is stateless and changes with every login; a page
    of another site can read neither."""
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, secret: str, submitted: str) -> bool:
    token = request.cookies.get(COOKIE)
    if not token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(token, secret), submitted)


def cookie_user(request: Request, secret: str) -> int | None:
    token = request.cookies.get(COOKIE)
    return read_access_token(token, secret) if token else None


def set_session(response: Response, request: Request, token: str, minutes: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
