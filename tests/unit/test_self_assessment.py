"""The self-assessment gap (README "Self-assessment"): the self-assessed score beside what
inspectors measured, compared only at the points and criteria both looked at, flagged when a
district rates itself far above it."""

from __future__ import annotations

from services.core.assessment.rules import Pair, gap


def test_the_gap_compares_only_where_both_looked() -> None:
    honest = gap([Pair(8, 10, passed=4, failed=1), Pair(10, 10, passed=0, failed=0)], 15)
    assert (honest.self_percent, honest.inspected_percent, honest.compared) == (80, 80, 1)
    assert honest.flagged is False
    rosy = gap([Pair(10, 10, passed=1, failed=1), Pair(5, 10, passed=1, failed=0)], 15)
    assert (rosy.self_percent, rosy.inspected_percent, rosy.gap) == (75, 75, 0)
    assert gap([Pair(10, 10, passed=1, failed=3)], 15).flagged is True
    assert gap([Pair(10, 10, passed=0, failed=0)], 15).gap is None
