"""The security headers of every answer: what a browser may load into a page, framing,
sniffing, referrers and caching.

The dashboard is server-rendered with one stylesheet and no script, so its policy allows its
own stylesheet, its own images (the photos) and its own forms, nothing from another origin,
and no framing (clickjacking). API answers get the same policy: a JSON or image answer
opened in a browser loads nothing. Everything but the dashboard's static files is `no-store`:
a page or an answer read with a session must not outlive it in a cache.

The interactive API docs (/docs, /redoc) are served from this origin too (services/api/docs.py:
the viewers ship with duban under /docs-assets/). Their policy admits scripts and stylesheets
from this origin only and no inline script; it differs from the strict one in two places
alone: images may also be `data:` URIs (Swagger UI's icons are inlined in its stylesheet; a
`data:` URI is no request), and ReDoc's page admits the <style> elements ReDoc generates by a
nonce made for that answer. ReDoc's search index runs in a worker it makes from its own code
(a `blob:` URL, again no request).
"""

from __future__ import annotations

import base64
import hashlib
import re

_BASE = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
# connect-src 'self': the dashboard runs no script, but a page's own requests (the browser
# tests fetch an export link with the session cookie) stay possible, to this origin only.
STRICT_CSP = f"default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; {_BASE}"


# The one stylesheet redoc.standalone.js (2.5.4) inserts as it loads, before it knows the page's
# nonce: perfect-scrollbar's. Admitted by its digest; a new ReDoc build changes it, and the
# browser test of the docs (which fails on any refused style) says so.
REDOC_LOADER_STYLES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)


def docs_policy(style_nonce: str | None = None) -> str:
    """The docs pages' policy. With `style_nonce` (ReDoc's page): ReDoc's generated stylesheets,
    and the search worker it starts from its own code (a `blob:` URL)."""
    styles, worker = "'self'", ""
    if style_nonce:
        styles = " ".join((styles, f"'nonce-{style_nonce}'", *REDOC_LOADER_STYLES))
        worker = "worker-src blob:; "
    return (
        f"default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self' data:; "
        f"connect-src 'self'; {worker}{_BASE}"
    )


DOCS_CSP = docs_policy()
# The phone app (/m): its own scripts (no inline script), its manifest and service worker, and
# previews of the photos just taken (`blob:` URLs of the phone's own files, no request).
APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    f"connect-src 'self'; manifest-src 'self'; worker-src 'self'; {_BASE}"
)
APP_PREFIX = "/m/"
APP_STATIC = "/m/static/"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Files that are the same for everyone: cacheable (the dashboard's and the docs' assets).
STATIC_PREFIXES = ("/ui/static/", "/docs-assets/")
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
_APP = (*_EVERYWHERE, (b"content-security-policy", APP_CSP.encode()), _NO_STORE)
_APP_STATIC = (*_EVERYWHERE, (b"content-security-policy", APP_CSP.encode()))


def for_path(path: str) -> tuple[_Header, ...]:
    """The headers an answer on `path` gets, unless its endpoint set the same header itself
    (the briefing's printable page sets a policy that admits its own inline stylesheet)."""
    if path in DOCS_PATHS:
        return _DOCS
    if path.startswith(APP_STATIC):
        return _APP_STATIC
    if path.startswith(APP_PREFIX):
        return _APP
    if path.startswith(STATIC_PREFIXES):
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
