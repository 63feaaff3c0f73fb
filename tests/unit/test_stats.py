"""The ranking's formula and its ranks, as values."""

from __future__ import annotations

import pytest

from services.core.stats.queries import Counts, ranks, score


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (Counts(), 100.0),
        (Counts(total=4, closed=2, on_time=1), 50.0),
        (Counts(total=3, overdue_open=3), 94.0),
        (Counts(total=1, closed=1, on_time=1, rework=1, recurrences=1), 90.0),
        (Counts(escalations={1: 1, 2: 1, 3: 1, 4: 1}), 82.0),
        (Counts(escalations={5: 1}), 90.0),
        (Counts(total=3, closed=3, on_time=1), 33.33),
    ],
)
def test_score_formula(counts: Counts, expected: float) -> None:
    assert score(counts) == expected


def test_ranks_are_competition_ranks() -> None:
    assert ranks([90, 80, 80, 70]) == [1, 2, 2, 4]
    assert ranks([]) == []
    assert ranks([5.0]) == [1]
