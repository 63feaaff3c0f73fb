"""Forwarding headers (X-Forwarded-For, X-Forwarded-Proto) are believed from the proxies in
DUBAN_TRUSTED_PROXIES only: not from any other peer, loopback included. What they decide:
the client address the failed-login throttle counts by, and the session cookies' Secure
flag. Against the API process exactly as `duban up` starts it, on loopback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.cli.up import api_argv
from services.core.platform.settings import Settings
from tests.helpers import demo_password, running_api
from tests.webhook_receiver import free_port

LIMIT = 3  # failed logins per account and client address per minute


def start(settings: Settings, tmp_path: Path, trusted: str) -> tuple[list[str], dict[str, str]]:
    """`duban up`'s API command and environment, on the test's database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_DATABASE_URL": str(settings.database_url),
        "DUBAN_REDIS_URL": str(settings.redis_url),
        "DUBAN_DATA_DIR": str(tmp_path),
        "DUBAN_JWT_SECRET": "proxy-test-secret-key-that-is-long-enough-for-hs256",
        "DUBAN_LOG_FORMAT": "json",
        "DUBAN_DB_POOL_SIZE": "2",
        "DUBAN_LOGIN_ATTEMPTS_PER_MINUTE": str(LIMIT),
        "DUBAN_TRUSTED_PROXIES": trusted,
    }
    argv = api_argv(Settings(api_host="127.0.0.1", api_port=free_port(), log_level="WARNING"))
    return argv, env


def guess(url: str, forwarded_for: str | None) -> int:
    """A failed login, with the client address a proxy would report."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = {"username": "dispatcher", "password": "a-guess"}
    return httpx.post(url + "/api/v1/auth/token", data=form, headers=headers).status_code


def dashboard_cookies(url: str, proto: str) -> tuple[str, str]:
    """The Set-Cookie of the login page's nonce and of the session, for a client that the
    peer says came over `proto`."""
    forwarded = {"X-Forwarded-Proto": proto}
    page = httpx.get(url + "/ui/login", headers=forwarded)
    nonce = page.headers["set-cookie"]
    value = re.match(r"duban_login=([^;]+)", nonce)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert value
    assert csrf
    form = {"username": "supervisor", "password": demo_password("supervisor")}
    done = httpx.post(
        url + "/ui/login",
        data=form | {"csrf": csrf.group(1)},
        headers=forwarded | {"Cookie": f"duban_login={value.group(1)}"},
    )
    assert done.status_code == 303, done.text
    return nonce, done.headers["set-cookie"]


def secure(set_cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in set_cookie.split(";")]


@pytest.mark.slow(seconds=20)
async def test_forwarding_headers_from_an_unconfigured_peer_are_ignored(
    settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    with running_api(*start(settings, tmp_path, ""), tmp_path / "api.log") as url:
        # Every guess claims another client address: all are counted against the peer's own.
        statuses = [guess(url, f"203.0.113.{i}") for i in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
        # "It came over HTTPS", says a peer nobody configured: the cookies stay plain.
        assert not any(secure(c) for c in dashboard_cookies(url, "https"))


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8,10.0.0.0/8"])
async def test_forwarding_headers_from_a_configured_proxy_are_believed(
    settings: Settings, redis: Redis, tmp_path: Path, trusted: str
) -> None:
    with running_api(*start(settings, tmp_path, trusted), tmp_path / "api.log") as url:
        statuses = [guess(url, "203.0.113.5") for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
        # other clients behind the same proxy have their own budget, and so has the proxy
        assert guess(url, "203.0.113.6") == 401
        assert guess(url, "198.51.100.7, 203.0.113.6") == 401  # the nearest hop counts
        assert guess(url, None) == 401
        assert all(secure(c) for c in dashboard_cookies(url, "https"))
        assert not any(secure(c) for c in dashboard_cookies(url, "http"))
