"""The system tier: real processes (`duban up`, workers, uvicorn, Chromium, schemathesis),
servers of a test's own and bulk loads. It runs on pytest-xdist workers like the integration
tier; the tests marked `slow` (tens of seconds each) are handed out first, so that the workers
are not left waiting on one of them at the end."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = config.rootpath / "tests" / "system"

    def later(item: pytest.Item) -> bool:
        return not (item.path.is_relative_to(here) and item.get_closest_marker("slow"))

    items.sort(key=later)  # stable: the order of the files otherwise
