"""Trusted proxies: the setting's values, and every way duban runs uvicorn leaves the
forwarding headers to the app (the proxies themselves, on a real uvicorn: tests/system)."""

from __future__ import annotations

import json

import pytest
import yaml

from services.cli.up import api_argv
from services.core.platform.settings import Settings
from tests.helpers import ROOT


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else() -> None:
    parsed = Settings(trusted_proxies=" 10.0.0.7/8, 192.168.1.10 ,::1")
    assert parsed.trusted_proxy_list == ["10.0.0.0/8", "192.168.1.10", "::1"]
    assert Settings().trusted_proxy_list == []
    with pytest.raises(ValueError, match=r"proxy\.example"):
        Settings(trusted_proxies="10.0.0.1,proxy.example")


def test_every_uvicorn_shipped_leaves_the_forwarding_headers_to_the_app() -> None:
    """uvicorn believes loopback peers by default: `duban up`, the image and compose turn it
    off, and compose passes the setting on to the app."""
    root = ROOT
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    api = compose["services"]["api"]
    assert "--no-proxy-headers" in api["command"]
    environment = api.get("environment") or compose["x-duban-env"]
    # the proxy's address by default, and whatever .env says (tests/unit/test_compose.py)
    assert environment["DUBAN_TRUSTED_PROXIES"].startswith("${DUBAN_TRUSTED_PROXIES:-")
    (cmd,) = [line for line in (root / "Dockerfile").read_text().splitlines() if "CMD" in line]
    assert "--no-proxy-headers" in json.loads(cmd.removeprefix("CMD "))
    assert "--no-proxy-headers" in api_argv(Settings())
