"""Self-assessment (自评自测) rules, pure: who may submit and approve a district's
assessment, what is a shortfall, and the gap between the score a district gives itself and
the one its inspectors measured at the same points and criteria."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.core.identity.principal import Principal

# The district's handler submits; its head (a leader of the district) approves.
SUBMITTER_ROLE = "unit_handler"
APPROVER_ROLE = "leader"
# Which states each action leaves from.
SUBMITTABLE = frozenset({"draft", "returned"})


def may_submit(principal: Principal, district_id: int) -> bool:
    return principal.role == SUBMITTER_ROLE and principal.unit_id == district_id


def may_approve(principal: Principal, district_id: int) -> bool:
    return principal.role == APPROVER_ROLE and principal.unit_id == district_id


def shortfall(score: float, full_score: float) -> bool:
    """Below full marks: a problem the district found itself, to be rectified like any."""
    return score < full_score


@dataclass(frozen=True)
class Pair:
    """One (criterion, point) the district scored, beside what inspections measured there:
    `passed` and `failed` inspection results in the round's period."""

    score: float
    full_score: float
    passed: int
    failed: int


@dataclass(frozen=True)
class Gap:
    self_percent: float | None
    inspected_percent: float | None
    compared: int  # (criterion, point) pairs with both a self score and inspection results
    gap: float | None  # self − inspected, in points of percent
    flagged: bool


def gap(pairs: Iterable[Pair], threshold: float) -> Gap:
    """Self-assessed and inspected percent of full marks over the pairs both cover (an
    inspected pass is full marks, a fail none, n.a. left out); flagged when the district
    rates itself more than `threshold` points above what the inspectors found."""
    own = full = measured = 0.0
    compared = 0
    for p in pairs:
        checked = p.passed + p.failed
        if checked == 0 or p.full_score <= 0:
            continue
        compared += 1
        own += min(p.score, p.full_score)
        full += p.full_score
        measured += p.full_score * p.passed / checked
    if compared == 0:
        return Gap(None, None, 0, None, False)
    self_percent = round(100 * own / full, 2)
    inspected_percent = round(100 * measured / full, 2)
    difference = round(self_percent - inspected_percent, 2)
    return Gap(self_percent, inspected_percent, compared, difference, difference > threshold)
