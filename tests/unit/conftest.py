"""The unit tier: pure rules over values, no servers. A test here that asks for a fixture of
tests/conftest.py (a database, Redis, the app, a server directory) is refused at collection:
it belongs in tests/integration."""

from __future__ import annotations

import pytest

ROOT_CONFTEST = "tests.conftest"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = config.rootpath / "tests" / "unit"
    refused = []
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        for name, definitions in info.name2fixturedefs.items():
            if any(d.func.__module__ == ROOT_CONFTEST for d in definitions):
                refused.append(f"{item.nodeid} uses the fixture {name!r}")
    if refused:
        raise pytest.UsageError(
            "tests/unit takes no server fixture (move the test to tests/integration):\n"
            + "\n".join(refused)
        )
