"""Forwarding headers, believed only from the reverse proxies in DUBAN_TRUSTED_PROXIES.

`X-Forwarded-For` and `X-Forwarded-Proto` decide the client's address (the failed-login
throttle counts per address) and whether it came over HTTPS (the session cookie's Secure
flag). Anyone can send them, so they are read here, in one place, and only from a configured
proxy: from any other peer, loopback included, the connection's own address and scheme
stand. The servers duban starts (`duban up`, the image, compose) run uvicorn with
`--no-proxy-headers`, so that uvicorn does not also believe its default (loopback) peers.
"""

from __future__ import annotations

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.core.platform.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Outermost, so that everything inside sees the client as the proxy reported it."""
    trusted = settings.trusted_proxy_list
    if trusted:
        # The client is the nearest address in X-Forwarded-For that is not itself a proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
