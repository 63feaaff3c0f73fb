"""The dashboard's cookie session: the API's own short-lived JWT, carried in an HttpOnly,
SameSite=Lax cookie, plus a CSRF token derived from it for the forms that POST.

The login form has no session yet to derive its CSRF token from, so the login page sets a
random nonce of its own in a second cookie (HttpOnly, SameSite=Strict, the login path only)
and the form carries its HMAC: a page of another site can neither read the nonce nor forge
the HMAC, so it cannot log a browser in to an account of its choosing."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import Request, Response

from ..deps import SESSION_COOKIE

COOKIE = SESSION_COOKIE
LANG_COOKIE = "duban_lang"
LOGIN_COOKIE = "duban_login"
LOGIN_PATH = "/ui/login"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _mac(secret: str, purpose: bytes, value: str) -> str:
    return hmac.new(secret.encode(), purpose + value.encode(), hashlib.sha256).hexdigest()


def csrf_token(session_token: str, secret: str) -> str:
    """Bound to the session cookie, so it is stateless and changes with every login; a page
    of another site can read neither."""
    return _mac(secret, b"csrf:", session_token)


def csrf_ok(request: Request, secret: str, submitted: str) -> bool:
    token = request.cookies.get(COOKIE)
    if not token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(token, secret), submitted)


def _secure(request: Request) -> bool:
    # The scheme is the connection's, or a trusted proxy's word (services/api/proxies.py).
    return request.url.scheme == "https"


def login_nonce(request: Request) -> str:
    """The browser's login nonce if it sent a well-formed one, otherwise a new one (kept for
    the browser, so that two login tabs do not invalidate each other's form)."""
    sent = request.cookies.get(LOGIN_COOKIE, "")
    return sent if _NONCE.match(sent) else secrets.token_urlsafe(32)


def login_csrf_token(nonce: str, secret: str) -> str:
    return _mac(secret, b"login-csrf:", nonce)


def login_csrf_ok(request: Request, secret: str, submitted: str) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not _NONCE.match(nonce) or not submitted:
        return False
    return hmac.compare_digest(login_csrf_token(nonce, secret), submitted)


def set_login_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def set_session(response: Response, request: Request, token: str, minutes: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
