"""The system tier: real processes (`duban up`, workers, uvicorn, Chromium, schemathesis),
servers of a test's own and bulk loads. It runs on pytest-xdist workers like the integration
tier. The tests marked `slow(seconds=N)` are handed out first, longest first, so that the
workers are not left waiting on one of them at the end; N is the test's typical duration on
two busy cores, only an order. `make test-system` hands out one test at a time
(--maxschedchunk=1): xdist's default gives each worker a run of consecutive tests at the
start, which put every slow test on the same worker."""

from __future__ import annotations

import pytest

# A `slow` test without a figure: somewhere among the slow ones.
SLOW_SECONDS = 30.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = config.rootpath / "tests" / "system"

    def expected_seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        if marker is None or not item.path.is_relative_to(here):
            return 0.0
        return float(marker.kwargs.get("seconds", SLOW_SECONDS))

    items.sort(key=expected_seconds, reverse=True)  # stable: the order of the files otherwise
