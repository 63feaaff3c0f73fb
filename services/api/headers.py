"""The security headers of every answer: what a browser may load into a page, framing,
sniffing, referrers and caching.

Dashboard pages and API answers load nothing from another origin and may not be framed;
everything but the dashboard's static files is `no-store`, so nothing read with a session
outlives it in a cache. The interactive docs (/docs, /redoc) are the one exception: FastAPI's
pages load Swagger UI and ReDoc from a CDN with an inline script, so those paths alone allow
that (they hold no one's data).
"""

from __future__ import annotations

import base64
import hashlib
import re

_BASE = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
# connect-src 'self': the dashboard runs no script, but a page's own requests (the browser
# tests fetch an export link with the session cookie) stay possible, to this origin only.
STRICT_CSP = f"default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; {_BASE}"
_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'none'; script-src {_CDN} 'unsafe-inline'; "
    f"style-src {_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; "
    f"connect-src 'self'; worker-src blob:; {_BASE}"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
STATIC_PREFIX = "/ui/static/"
REFERRER_POLICY = "no-referrer"

_Header = tuple[bytes, bytes]
_EVERYWHERE: tuple[_Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", REFERRER_POLICY.encode()),
)
_NO_STORE: _Header = (b"cache-control", b"no-store")
_STRICT = (*_EVERYWHERE, (b"content-security-policy", STRICT_CSP.encode()), _NO_STORE)
_DOCS = (*_EVERYWHERE, (b"content-security-policy", DOCS_CSP.encode()), _NO_STORE)
_STATIC = (*_EVERYWHERE, (b"content-security-policy", STRICT_CSP.encode()))


def for_path(path: str) -> tuple[_Header, ...]:
    """The headers an answer on `path` gets, unless its endpoint set the same header itself
    (the briefing's printable page sets a policy that admits its own inline stylesheet)."""
    if path in DOCS_PATHS:
        return _DOCS
    if path.startswith(STATIC_PREFIX):
        return _STATIC
    return _STRICT


def add(headers: list[_Header], path: str) -> list[_Header]:
    """`headers` (an ASGI response's, lower-case names) with the security headers added."""
    present = {name.lower() for name, _ in headers}
    return headers + [h for h in for_path(path) if h[0] not in present]


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def policy_for_inline_styles(html: str) -> str:
    """The strict policy, plus the exact inline stylesheets of `html` (by their SHA-256): for
    a page meant to be saved or printed whole, such as the weekly briefing."""
    digests = [
        base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        for css in _STYLE.findall(html)
    ]
    styles = " ".join(f"'sha256-{d}'" for d in digests)
    return STRICT_CSP.replace("style-src 'self'", f"style-src 'self' {styles}".rstrip())
