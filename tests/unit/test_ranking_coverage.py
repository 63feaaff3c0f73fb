"""The ranking's coverage term (README "Supervision and ranking"): 100 points off a unit in
proportion to the inspection tasks it left undone, and a unit nobody inspected ranks below
every unit inspected at all."""

from __future__ import annotations

from services.core.stats.queries import coverage_score, ranks


def test_the_coverage_term_and_the_uninspected_rank_last() -> None:
    assert coverage_score(100, None) == 100
    assert coverage_score(100, 0) == 0
    assert coverage_score(80, 0.5) == 30
    assert coverage_score(-20, 1) == -20
    # The best score belongs to a district nobody inspected: it still ranks last.
    assert ranks([100, 60, 50], [True, False, False]) == [3, 1, 2]
    assert ranks([100, 100, 50], [True, True, False]) == [2, 2, 1]
    assert ranks([90, 80, 80, 70]) == [1, 2, 2, 4]
