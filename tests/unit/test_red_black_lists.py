"""The red and black lists as a rule over scores: by rank, ties kept together, the size a
parameter."""

from __future__ import annotations

import pytest

from services.core.stats.queries import Board, boards, ranks

R, B, N = "red", "black", None


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param([], [], id="no units"),
        pytest.param([100], [R], id="one unit"),
        pytest.param([90, 80, 70, 60, 50, 40, 30], [R, R, R, N, B, B, B], id="no ties"),
        pytest.param([90, 80, 70, 60, 50, 40], [R, R, R, B, B, B], id="six units, no ties"),
        pytest.param([90, 80, 70, 60], [R, R, R, B], id="four units: black gets the rest"),
        pytest.param([90, 80, 70], [R, R, R], id="three units: all red"),
        pytest.param([100] * 7, [R] * 7, id="all tied: all red, none black"),
        pytest.param([100] * 5 + [98] * 2, [R] * 5 + [B] * 2, id="five tied at the top"),
        pytest.param(
            [100, 100, 100, 98, 98, 98, 96], [R, R, R, B, B, B, B], id="tie across bottom edge"
        ),
        pytest.param(
            [100, 100, 98, 98, 96, 94, 92], [R, R, R, R, B, B, B], id="tie across top edge"
        ),
        pytest.param([100, 90, 80, 70, 60, 60, 60], [R, R, R, N, B, B, B], id="tie at bottom"),
        pytest.param(
            [100, 90, 80, 70, 60, 60, 60, 60], [R, R, R, N, B, B, B, B], id="four tied at bottom"
        ),
        pytest.param(
            [100, 90, 80, 80, 80, 80, 70], [R, R, R, R, R, R, B], id="red wins the tie at both"
        ),
        pytest.param([100, 90, 90, 50, 50], [R, R, R, B, B], id="ties at both ends"),
        pytest.param([50, 100, 70, 90, 60, 80, 40], [B, R, N, R, B, R, B], id="in any order"),
    ],
)
def test_lists_by_rank(scores: list[float], expected: list[Board | None]) -> None:
    assert boards(ranks(scores)) == expected


def test_the_size_of_the_lists_is_a_parameter() -> None:
    assert boards(ranks([5, 4, 3, 2, 1]), size=1) == [R, N, N, N, B]
    assert boards(ranks([5, 5, 3, 2, 1]), size=1) == [R, R, N, N, B]
