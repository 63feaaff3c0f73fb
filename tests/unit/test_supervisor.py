"""The supervisor's restart backoff, as a rule."""

from __future__ import annotations

import pytest

from services.cli.supervisor import RESTART_BASE_SECONDS, RESTART_CAP_SECONDS
from services.core.platform.backoff import exponential


@pytest.mark.parametrize(
    ("crashes", "delay"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (20, 30)]
)
def test_restarts_back_off_doubling_up_to_thirty_seconds(crashes: int, delay: float) -> None:
    assert exponential(crashes, RESTART_BASE_SECONDS, RESTART_CAP_SECONDS) == delay
