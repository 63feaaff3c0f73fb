"""The supervisor's restart backoff, as a rule."""

from __future__ import annotations

import pytest

from services.cli.supervisor import backoff_delay


@pytest.mark.parametrize(
    ("crashes", "delay"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (20, 30)]
)
def test_backoff_doubles_up_to_thirty_seconds(crashes: int, delay: float) -> None:
    assert backoff_delay(crashes) == delay
