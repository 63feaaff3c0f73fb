"""The accountability ledger's figures and who may see a 问责 record. Pure: values in,
values out; `now` and the city's clock are passed in.

The ledger counts the escalations (督办) a person received, each held against the post they
held when it fired (the escalation snapshots its target, so a post changing hands
mid-period splits the post's figures between its holders, and each holder's figures follow
them to their next post). A commitment's escalations (its own ladder) are counted beside the
findings' — received by level, delivered, opened, still open after its last level — never
folded into the findings' figures: a commitment's notice asks for no 批示."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.core.calendar.deadlines import CityClock, working_hours_between
from services.core.identity.principal import Principal

ACTION_NAMES: Mapping[str, str] = {
    "reminder_talk": "提醒谈话",
    "interview": "约谈",
    "public_criticism": "通报批评",
    "admonishment": "诫勉",
    "accountability": "问责",
    "other": "其他",
}
POST_ROLE_NAMES: Mapping[str, str] = {
    "head": "一把手",
    "deputy": "副职",
    "handler": "经办人",
    "city_leader": "联系市领导",
    "verifier": "复核员",
}
# Who reads every ledger and every record; the discipline role alone writes records.
LEDGER_READERS = frozenset({"discipline", "admin", "supervisor"})
RECORD_READERS = frozenset({"discipline", "admin"})
RECORD_WRITER = "discipline"
TOP_LEVEL = 4


@dataclass(frozen=True)
class ReceivedLevel:
    """A level of a ladder that reached a person in a post: a finding's escalation or an
    overdue commitment's, which every ledger counts alike."""

    escalation_id: int
    level: int
    fired_at: datetime
    person_id: int | None
    person_name: str | None
    unit_id: int
    unit_name: str
    role: str  # the post: head or city_leader of unit_id
    delivered: bool  # some message reached them (inbox included)
    opened: bool  # a signed link opened or the inbox item read


@dataclass(frozen=True)
class LedgerEscalation(ReceivedLevel):
    """One escalation a person received, with what became of it."""

    finding_id: uuid.UUID
    acknowledged_at: datetime | None
    instruction: str | None
    follow_up_due: datetime | None
    # The finding: closed as rectified when, still open, and when it reached level 4.
    rectified_at: datetime | None
    still_open: bool
    top_level_at: datetime | None


@dataclass(frozen=True)
class CommitmentLedgerEscalation(ReceivedLevel):
    """One level of an overdue commitment's ladder a person received."""

    commitment_id: int
    still_open: bool  # not (yet) accepted as done by the office
    last_level_at: datetime | None  # when the last level of its ladder fired


@dataclass(frozen=True)
class CommitmentFigures:
    received: int = 0
    by_level: dict[int, int] = field(default_factory=dict)
    delivered: int = 0
    opened: int = 0
    open_after_last_level: int = 0  # commitments not done after their ladder's last level


def _by_level(rows: Iterable[ReceivedLevel]) -> dict[int, int]:
    """How many escalations reached each level, lowest level first."""
    counts: dict[int, int] = {}
    for r in rows:
        counts[r.level] = counts.get(r.level, 0) + 1
    return dict(sorted(counts.items()))


def _reach(rows: Sequence[ReceivedLevel]) -> dict[str, Any]:
    """What every ledger counts of the escalations it holds: received, by level, delivered,
    opened."""
    return {
        "received": len(rows),
        "by_level": _by_level(rows),
        "delivered": sum(r.delivered for r in rows),
        "opened": sum(r.opened for r in rows),
    }


def commitment_figures(rows: Iterable[CommitmentLedgerEscalation]) -> CommitmentFigures:
    rows = list(rows)
    still_open = {r.commitment_id for r in rows if r.still_open and r.last_level_at is not None}
    return CommitmentFigures(**_reach(rows), open_after_last_level=len(still_open))


@dataclass(frozen=True)
class Figures:
    received: int
    by_level: dict[int, int]
    delivered: int
    opened: int
    acknowledged: int
    median_ack_hours: float | None  # working hours from firing to the 批示
    instructions: int
    rectified_after_instruction: int
    median_rectify_hours: float | None  # working hours from the 批示 to 销号
    follow_ups: dict[str, int]  # met, missed, pending
    open_after_top_level: int  # findings still open after reaching level 4
    commitments: CommitmentFigures = field(default_factory=CommitmentFigures)


@dataclass(frozen=True)
class Share:
    """The figures of one holder of a post, or of one post a person held."""

    person_id: int | None
    person_name: str | None
    unit_id: int
    unit_name: str
    role: str
    figures: Figures
    escalations: list[LedgerEscalation] = field(default_factory=list)
    commitment_escalations: list[CommitmentLedgerEscalation] = field(default_factory=list)


def follow_up_state(due: datetime, rectified_at: datetime | None, now: datetime) -> str:
    """met: rectified by the follow-up deadline; missed: not by then; pending: time is left."""
    if rectified_at is not None and rectified_at <= due:
        return "met"
    return "missed" if now > due or rectified_at is not None else "pending"


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def figures(
    rows: Iterable[LedgerEscalation],
    clock: CityClock,
    now: datetime,
    pledges: Iterable[CommitmentLedgerEscalation] = (),
) -> Figures:
    rows = list(rows)
    hours: Callable[[datetime, datetime], float] = lambda a, b: working_hours_between(  # noqa: E731
        a, b, clock
    )
    acked = [r for r in rows if r.acknowledged_at is not None]
    instructed = [r for r in acked if r.instruction]
    rectified = [
        r
        for r in instructed
        if r.rectified_at is not None
        and r.acknowledged_at is not None
        and r.rectified_at >= r.acknowledged_at
    ]
    follow_ups = {"met": 0, "missed": 0, "pending": 0}
    for r in rows:
        if r.follow_up_due is not None:
            follow_ups[follow_up_state(r.follow_up_due, r.rectified_at, now)] += 1
    open_after_top = {r.finding_id for r in rows if r.still_open and r.top_level_at is not None}
    return Figures(
        **_reach(rows),
        acknowledged=len(acked),
        median_ack_hours=_median(
            [hours(r.fired_at, r.acknowledged_at) for r in acked if r.acknowledged_at]
        ),
        instructions=len(instructed),
        rectified_after_instruction=len(rectified),
        median_rectify_hours=_median(
            [
                hours(r.acknowledged_at, r.rectified_at)
                for r in rectified
                if r.acknowledged_at and r.rectified_at
            ]
        ),
        follow_ups=follow_ups,
        open_after_top_level=len(open_after_top),
        commitments=commitment_figures(pledges),
    )


def shares(
    rows: Iterable[LedgerEscalation],
    key: Callable[[ReceivedLevel], tuple[object, ...]],
    clock: CityClock,
    now: datetime,
    pledges: Iterable[CommitmentLedgerEscalation] = (),
) -> list[Share]:
    """The rows (findings' and commitments' escalations) split by `key` (the holder, or the
    post), each with its figures, in the order each first received an escalation."""
    groups: dict[tuple[object, ...], list[ReceivedLevel]] = {}
    received: list[ReceivedLevel] = [*rows, *pledges]
    for r in sorted(received, key=lambda r: (r.fired_at, r.escalation_id)):
        groups.setdefault(key(r), []).append(r)
    result = []
    for g in groups.values():
        found = [r for r in g if isinstance(r, LedgerEscalation)]
        pledged = [r for r in g if isinstance(r, CommitmentLedgerEscalation)]
        first = g[0]
        result.append(
            Share(
                first.person_id,
                first.person_name,
                first.unit_id,
                first.unit_name,
                first.role,
                figures(found, clock, now, pledged),
                found,
                pledged,
            )
        )
    return result


def by_holder(r: ReceivedLevel) -> tuple[object, ...]:
    return (r.person_id,)


def by_post(r: ReceivedLevel) -> tuple[object, ...]:
    return (r.unit_id, r.role)


def may_read_ledger(principal: Principal, person_id: int | None) -> bool:
    """Readers of every ledger, and each person their own."""
    return principal.role in LEDGER_READERS or (
        person_id is not None and principal.person_id == person_id
    )


def may_read_all_records(principal: Principal) -> bool:
    return principal.role in RECORD_READERS
