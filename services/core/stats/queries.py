"""Unit statistics for the supervision office's ranking (通报 / 红黑榜): what counts for a
unit, its figures, its score and rank (`ranking`, `score`), and the red and black lists.

What never changes once written is read from per-day roll-ups kept by triggers — closed
findings (`closed_finding_days`), fired escalations (`escalation_days`) — and open findings
from the roll-up the worker folds (`open_finding_days`, stats/store.py); only the partial
days at a window's ends (days.py) and the red and yellow counts (from the partial index of
the findings whose clock runs, migration 0019) are read row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    Subquery,
    and_,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnClause

from services.core.models import (
    CLOCK_RUNNING,
    ClosedFindingDay,
    Escalation,
    EscalationDay,
    Finding,
    InspectionTask,
    OpenFindingChange,
    OpenFindingDay,
    Unit,
    UnitHandoff,
)
from services.core.stats.days import DaySplit, split

EXPOSURE_SOURCE = "exposure_video"
EXPOSURE_WEIGHT = 2
REPORTED_LEVELS = (1, 2, 3, 4)

ON_TIME_POINTS = 100
OVERDUE_PENALTY = 2
REWORK_PENALTY = 5
RECURRENCE_PENALTY = 5
LEVEL_PENALTY = {1: 1, 2: 2, 3: 5, 4: 10}
LISTED = 3  # the red and the black list: the top three and the bottom three ranks
Board = Literal["red", "black"]
COVERAGE_POINTS = 100
# With no `since`, coverage counts the tasks due in the last 90 days before `until` (or now):
# whether places are visited now, not a year of old visits weighed like this month's.
COVERAGE_LOOKBACK_DAYS = 90
FORMULA = (
    "score = 100 × on_time_rate − 2 × overdue_open − 5 × rework − 5 × recurrences "
    "− (1 × L1 + 2 × L2 + 5 × L3 + 10 × L4) − 100 × (1 − coverage), on weighted counts (an "
    "exposure-video finding or its escalation counts 2); on_time_rate = on_time ÷ closed, 1 "
    "when closed = 0; coverage = inspection tasks done ÷ tasks fallen due (or done) in the "
    "window (no since: the 90 days before until) in the unit's subtree, 0 when none fell "
    "due, and the term is left out while no "
    "task at all fell due in the city (inspections not in use); a unit with coverage 0 ranks "
    "below every unit inspected at all"
)


@dataclass
class Counts:
    total: int = 0
    closed: int = 0
    on_time: int = 0
    overdue_open: int = 0
    rework: int = 0
    recurrences: int = 0
    # Open with the clock running, past the reminder fraction and not yet due, now: the
    # yellow light (services.core.escalation.rules `light`). Shown, not scored.
    yellow_open: int = 0
    escalations: dict[int, int] = field(default_factory=dict)

    def add(self, other: Counts, factor: int = 1) -> None:
        for f in fields(self):
            if f.name != "escalations":
                setattr(self, f.name, getattr(self, f.name) + factor * getattr(other, f.name))
        for level, n in other.escalations.items():
            self.escalations[level] = self.escalations.get(level, 0) + factor * n

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.closed if self.closed else None

    @property
    def rework_rate(self) -> float | None:
        return self.rework / self.total if self.total else None


def score(weighted: Counts) -> float:
    """The ranking score of one unit from its weighted counts:

        100 × on-time rate − 2 × overdue open − 5 × reworked − 5 × recurrences
            − (1 × L1 + 2 × L2 + 5 × L3 + 10 × L4 escalations)

    The on-time rate is on-time ÷ rectified (1 when nothing was rectified yet); levels above
    4 cost as much as L4. Rank 1 is the highest score; equal scores share a rank."""
    rate = weighted.on_time_rate
    penalty = (
        OVERDUE_PENALTY * weighted.overdue_open
        + REWORK_PENALTY * weighted.rework
        + RECURRENCE_PENALTY * weighted.recurrences
        + sum(
            LEVEL_PENALTY.get(level, LEVEL_PENALTY[4]) * n
            for level, n in weighted.escalations.items()
        )
    )
    return round(ON_TIME_POINTS * (1.0 if rate is None else rate) - penalty, 2)


def coverage_score(base: float, coverage: float | None) -> float:
    """The score with coverage counted: 100 points off for a unit nobody inspected, in
    proportion for one partly inspected; as it was when coverage is not in use (None)."""
    if coverage is None:
        return base
    return round(base - COVERAGE_POINTS * (1 - coverage), 2)


def ranks(scores: Sequence[float], uninspected: Sequence[bool] | None = None) -> list[int]:
    """Competition ranking, best first: scores 90, 80, 80, 70 rank 1, 2, 2, 4. A unit
    `uninspected` (coverage in use, and 0) ranks below every unit that was inspected at
    all, whatever its score: a district nobody inspected cannot rank first by having no
    findings."""
    blind = list(uninspected) if uninspected is not None else [False] * len(scores)
    keys = [(not b, s) for s, b in zip(scores, blind, strict=True)]
    return [1 + sum(other > k for other in keys) for k in keys]


def boards(ranked: Sequence[int], size: int = LISTED) -> list[Board | None]:
    """The list each unit is on, from the units' `ranks` (1 is the best): the red list (红榜)
    holds every unit ranked `size` or better, the black list (黑榜) every other unit with fewer
    than `size` units ranked below it.

    Both are decided by rank, so a tie at the edge takes all the tied units: equal scores are
    treated alike. A unit is on one list at most, the red one first: a unit tied with one of
    the top three did as well as it, whatever the number of units below. So with few units,
    or a large tie, the black list is shorter than `size`, or empty (everyone tied)."""
    return [
        "red" if r <= size else "black" if sum(other > r for other in ranked) < size else None
        for r in ranked
    ]


@dataclass
class UnitStats:
    unit_id: int
    code: str
    name: str
    counts: Counts = field(default_factory=Counts)
    weighted: Counts = field(default_factory=Counts)
    score: float = 0.0
    rank: int = 0
    board: Board | None = None  # the red or the black list (`boards`)
    # Inspection tasks fallen due (or done early) in the window in the unit's subtree, and
    # done; coverage None while no task fell due anywhere (inspections not in use).
    tasks_due: int = 0
    tasks_done: int = 0
    coverage: float | None = None
    # Findings the subtree's units passed on in the window (推诿 made visible): transferred
    # away from them by a dispatcher, returned by them with approval. Shown, not scored.
    transfers: int = 0
    returns: int = 0


_When = TypeVar("_When", date, datetime)


def _window(
    column: InstrumentedAttribute[_When] | ColumnElement[_When],
    since: _When | None,
    until: _When | None,
) -> list[ColumnElement[bool]]:
    """`since <= column < until`, either bound left open when None."""
    clauses = []
    if since is not None:
        clauses.append(column >= since)
    if until is not None:
        clauses.append(column < until)
    return clauses


# Constants inlined into the SQL, not bound: the planner matches them against the partial
# indexes' predicates (a bound parameter proves nothing about a generic plan).
CLOSED: ColumnClause[str] = literal_column("'closed'", String())
RECTIFIED: ColumnClause[str] = literal_column("'rectified'", String())
# The statuses whose clock runs, as ix_findings_light's predicate names them (migration 0019).
_RUNNING = ("assigned", "accepted")
assert set(_RUNNING) == set(CLOCK_RUNNING)  # noqa: S101 - keep the two in step
CLOCK_RUNS: ColumnElement[bool] = Finding.status.in_(
    [literal_column(f"'{s}'", String()) for s in _RUNNING]
)


def _whole_days(
    days: DaySplit, day: InstrumentedAttribute[date] | ColumnElement[date]
) -> list[ColumnElement[bool]]:
    """The whole days of `days` on a roll-up's `day` column."""
    assert days.whole is not None  # noqa: S101 - the callers check
    return _window(day, *days.whole)


def _between(
    column: InstrumentedAttribute[datetime], start: datetime, end: datetime
) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _reported_between(start: datetime, end: datetime) -> ColumnElement[bool]:
    return _between(Finding.reported_at, start, end)


def _in_edges(days: DaySplit, column: InstrumentedAttribute[datetime]) -> ColumnElement[bool]:
    """The partial days of `days` on the rows' `column`; false when there are none."""
    return or_(false(), *(_between(column, a, b) for a, b in days.edges))


Window = tuple[datetime, datetime]


def _per_unit(*counts: ColumnElement[Any]) -> Select[*tuple[Any, ...]]:
    """`counts` over the findings' rows, per responsible unit and exposure flag."""
    exposure = Finding.source == EXPOSURE_SOURCE
    return select(Finding.responsible_unit_id, exposure, *counts).group_by(
        Finding.responsible_unit_id, exposure
    )


def finding_counts(
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    windows: Sequence[Window] = (),
) -> CompoundSelect[*tuple[Any, ...]]:
    """Per responsible unit and exposure flag: total, closed, on time, overdue open,
    reworked, recurrences, yellow open — possibly several rows per unit and flag, to be
    added up: the closed findings of whole days from their roll-up and those of the partial
    days at the window's ends from the rows; the open ones as `_open_counts` reads them
    (those with no responsible unit too, under None).

    Then one column per window of `windows`: the open findings reported in it, which the
    dashboard's trend shows, counted in the same pass."""
    days = split(since, until)
    zero = literal(0)
    no_windows = [zero] * len(windows)
    parts: list[Select[*tuple[Any, ...]]] = []
    if days.whole is not None:
        d = ClosedFindingDay
        parts.append(
            select(
                d.responsible_unit_id,
                d.exposure,
                func.sum(d.findings),
                func.sum(d.findings),
                func.sum(d.on_time),
                zero,
                func.sum(d.rework),
                func.sum(d.recurrences),
                zero,
                *no_windows,
            )
            .where(
                d.close_reason == RECTIFIED, d.responsible_unit_id != 0, *_whole_days(days, d.day)
            )
            .group_by(d.responsible_unit_id, d.exposure)
        )
    if days.edges:
        parts.append(
            _per_unit(
                func.count(),
                func.count(),
                func.count().filter(Finding.submitted_at <= Finding.due_at),
                zero,
                func.count().filter(Finding.rework_count > 0),
                func.count().filter(Finding.recurrence_of.is_not(None)),
                zero,
                *no_windows,
            ).where(
                Finding.status == CLOSED,
                Finding.close_reason == RECTIFIED,
                Finding.responsible_unit_id.is_not(None),
                _in_edges(days, Finding.reported_at),
            )
        )
    parts += _open_counts(days, since, until, now, windows)
    return union_all(*parts)


def _open_days() -> Subquery:
    """The open findings' roll-up as it stands: the days folded in and the changes not yet
    (migration 0012), to be added up."""
    columns = ("day", "responsible_unit_id", "exposure", "findings", "rework", "recurrences")
    return union_all(
        *(
            select(*(getattr(table, c) for c in columns))
            for table in (OpenFindingDay, OpenFindingChange)
        )
    ).subquery("open_days")


def _open_counts(
    days: DaySplit,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    windows: Sequence[Window],
) -> list[Select[*tuple[Any, ...]]]:
    """The open findings' part of `finding_counts`: those of whole days (of the window and of
    each of `windows`) from their roll-up, those of partial days from the rows, and the
    overdue (red) and yellow ones, the figures that depend on `now`, from the `yellow_at`
    range of the index that holds only the findings whose clock runs."""
    zero = literal(0)
    no_windows = [zero] * len(windows)
    splits = [split(a, b) for a, b in windows]
    open_row = Finding.status != CLOSED
    parts: list[Select[*tuple[Any, ...]]] = []
    if days.whole is not None:
        o = _open_days()
        unit = func.nullif(o.c.responsible_unit_id, 0)
        parts.append(
            select(
                unit,
                o.c.exposure,
                func.sum(o.c.findings),
                zero,
                zero,
                zero,
                func.sum(o.c.rework),
                func.sum(o.c.recurrences),
                zero,
                *(
                    func.coalesce(func.sum(o.c.findings).filter(*_whole_days(w, o.c.day)), 0)
                    if w.whole is not None
                    else zero
                    for w in splits
                ),
            )
            .where(*_whole_days(days, o.c.day))
            .group_by(unit, o.c.exposure)
        )
    if days.edges:
        parts.append(
            _per_unit(
                func.count(),
                zero,
                zero,
                zero,
                func.count().filter(Finding.rework_count > 0),
                func.count().filter(Finding.recurrence_of.is_not(None)),
                zero,
                *no_windows,
            ).where(open_row, _in_edges(days, Finding.reported_at))
        )
    if any(w.edges for w in splits):
        parts.append(
            _per_unit(
                *([zero] * 7),
                *(func.count().filter(_in_edges(w, Finding.reported_at)) for w in splits),
            ).where(open_row, or_(*(_in_edges(w, Finding.reported_at) for w in splits)))
        )
    # Red and yellow in one pass: a finding whose clock runs turned yellow before it fell
    # due, so `yellow_at <= now` is both, told apart by due_at (ix_findings_light holds both
    # columns: the pass reads the index alone).
    parts.append(
        _per_unit(
            zero,
            zero,
            zero,
            func.count().filter(Finding.due_at < now),
            zero,
            zero,
            func.count().filter(Finding.due_at >= now),
            *no_windows,
        ).where(
            CLOCK_RUNS,
            Finding.yellow_at <= now,
            *_window(Finding.reported_at, since, until),
        )
    )
    return parts


async def closed_reported_in(session: AsyncSession, windows: Sequence[Window]) -> list[int]:
    """How many closed findings were reported in each [start, end) window: those of whole
    days from the roll-up, those of partial days from the rows."""
    counts = [0] * len(windows)
    if not windows:
        return counts
    splits = [split(a, b) for a, b in windows]
    whole = [(i, w.whole) for i, w in enumerate(splits) if w.whole is not None]
    if whole:
        d = ClosedFindingDay
        firsts = [first for _, (first, _end) in whole if first is not None]
        ends = [end for _, (_first, end) in whole if end is not None]
        rows = await session.execute(
            select(d.day, func.sum(d.findings))
            .where(d.day >= min(firsts), d.day < max(ends))
            .group_by(d.day)
        )
        for day, n in rows:
            for i, (first, end) in whole:
                if first is not None and end is not None and first <= day < end:
                    counts[i] += int(n)
    edges = [(i, edge) for i, w in enumerate(splits) for edge in w.edges]
    if edges:
        row = (
            await session.execute(
                select(
                    *(func.count().filter(_reported_between(a, b)) for _, (a, b) in edges)
                ).where(
                    Finding.status == CLOSED,
                    or_(*(_reported_between(a, b) for _, (a, b) in edges)),
                )
            )
        ).one()
        for (i, _), n in zip(edges, row, strict=True):
            counts[i] += int(n)
    return counts


def escalation_counts(
    since: datetime | None, until: datetime | None
) -> CompoundSelect[int | None, int, bool, int]:
    """Per responsible unit, level and exposure flag: the number of escalations fired —
    possibly several rows per unit, level and flag, to be added up: the whole days from the
    roll-up (`escalation_days`), the partial days at the window's ends from the rows."""
    days = split(since, until)
    parts: list[Select[int | None, int, bool, int]] = []
    if days.whole is not None:
        d = EscalationDay
        parts.append(
            select(d.responsible_unit_id, d.level, d.exposure, func.sum(d.escalations))
            .where(*_whole_days(days, d.day))
            .group_by(d.responsible_unit_id, d.level, d.exposure)
        )
    if days.edges or not parts:
        e = Escalation
        exposure = e.source == EXPOSURE_SOURCE
        parts.append(
            select(e.responsible_unit_id, e.level, exposure, func.count())
            .where(
                e.responsible_unit_id.is_not(None),
                # An empty window (since ≥ until) has no edges: no row is read at all.
                _in_edges(days, e.fired_at),
            )
            .group_by(e.responsible_unit_id, e.level, exposure)
        )
    return union_all(*parts)


def handoff_counts(since: datetime | None, until: datetime | None) -> Select[int, str, int]:
    """Per charged unit and kind (transfer, return): the handoffs in the window, read from
    the index by time (migration 0025)."""
    h = UnitHandoff
    return (
        select(h.unit_id, h.kind, func.count())
        .where(*_window(h.at, since, until))
        .group_by(h.unit_id, h.kind)
    )


def task_counts(
    since: datetime | None, until: datetime | None, now: datetime
) -> Select[int | None, int, int]:
    """Per street (or district, for a point in none): the inspection tasks due in the window
    that have fallen due by `now` or were done, and of those the done ones."""
    t = InspectionTask
    unit = func.coalesce(t.street_id, t.district_id)
    done = t.done_at.is_not(None)
    return (
        select(unit, func.count(), func.count().filter(done))
        .where(*_window(t.due_at, since, until), or_(t.due_at < now, done))
        .group_by(unit)
    )


def _roll_up(paths: Mapping[int, str], level_ids: set[int]) -> dict[int, int]:
    """unit id → the unit of the level above (or at) it, for every unit that has one."""
    out: dict[int, int] = {}
    for unit_id, path in paths.items():
        for ancestor in reversed([int(p) for p in path.strip("/").split("/") if p]):
            if ancestor in level_ids:
                out[unit_id] = ancestor
                break
    return out


@dataclass
class Ranking:
    """`units`: every unit of the level, best first; `open_reported`: the open findings
    (routed or not) reported in each of the windows asked for, counted in the same pass
    (with `closed_reported_in`, all the findings reported in them)."""

    units: list[UnitStats]
    open_reported: list[int]


async def unit_stats(
    session: AsyncSession,
    level: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> list[UnitStats]:
    """Every unit of the level, best first, with its counts, score and rank."""
    return (await ranking(session, level, since=since, until=until, now=now)).units


async def ranking(
    session: AsyncSession,
    level: str,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    windows: Sequence[Window] = (),
) -> Ranking:
    """`unit_stats`, and the open findings reported in each of `windows` (which must lie
    within [since, until): the open findings outside it are not read).

    A unit's findings are those whose responsible unit lies in its subtree, reported in the
    window, except those closed as invalid or duplicate (never the unit's problem); its
    escalations, those whose responsible unit lies in the subtree, fired in the window. A
    finding never dispatched (or returned) has no responsible unit and counts nowhere. An
    exposure-video finding, and an escalation of one, counts twice in the `weighted` figures
    that feed the score; the plain ones are shown so they can be checked against the lists.
    The SQL counts per responsible unit; the roll-up to the level's units happens here, over
    the unit paths: a few hundred rows, not the findings."""
    if any(
        (since is not None and a < since) or (until is not None and b > until) for a, b in windows
    ):
        raise ValueError("every window must lie within [since, until)")
    units = (
        await session.execute(select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.path))
    ).all()
    stats = {u.id: UnitStats(u.id, u.code, u.name) for u in units if u.kind == level}
    owner = _roll_up({u.id: u.path for u in units}, set(stats))

    finding_rows = await session.execute(finding_counts(since, until, now, windows))
    escalation_rows = await session.execute(escalation_counts(since, until))
    open_reported = [0] * len(windows)
    for f in finding_rows:
        for i, n in enumerate(f[9:]):
            open_reported[i] += int(n)
        target = stats.get(owner.get(f[0] or 0, 0))
        if target is None:
            continue
        exposure = f[1]
        total, closed, on_time, overdue, rework, recurrences, yellow = (int(n) for n in f[2:9])
        counts = Counts(total, closed, on_time, overdue, rework, recurrences, yellow)
        target.counts.add(counts)
        target.weighted.add(counts, EXPOSURE_WEIGHT if exposure else 1)

    for e in escalation_rows:
        target = stats.get(owner.get(e[0] or 0, 0))
        if target is None:
            continue
        exposure = e[2]
        counts = Counts(escalations={e[1]: int(e[3])})
        target.counts.add(counts)
        target.weighted.add(counts, EXPOSURE_WEIGHT if exposure else 1)

    for charged, kind, n in await session.execute(handoff_counts(since, until)):
        target = stats.get(owner.get(charged, 0))
        if target is not None and kind == "transfer":
            target.transfers += int(n)
        elif target is not None:
            target.returns += int(n)

    in_use = False
    # Points lie in districts and streets: a department's rank does not count coverage.
    territorial = level in ("district", "street")
    task_since = since or (until or now) - timedelta(days=COVERAGE_LOOKBACK_DAYS)
    for unit_id, due, done in (
        await session.execute(task_counts(task_since, until, now)) if territorial else ()
    ):
        in_use = in_use or due > 0
        target = stats.get(owner.get(unit_id or 0, 0))
        if target is not None:
            target.tasks_due += int(due)
            target.tasks_done += int(done)

    result = list(stats.values())
    for s in result:
        if in_use:
            s.coverage = s.tasks_done / s.tasks_due if s.tasks_due else 0.0
        s.score = coverage_score(score(s.weighted), s.coverage)
    blind = [s.coverage == 0 for s in result]
    for s, r in zip(result, ranks([s.score for s in result], blind), strict=True):
        s.rank = r
    for s, b in zip(result, boards([s.rank for s in result]), strict=True):
        s.board = b
    return Ranking(sorted(result, key=lambda s: (s.rank, s.code)), open_reported)


@dataclass(frozen=True)
class SuspensionFigures:
    """One unit's suspensions (挂账) asked for in a window: how many, what became of them, and
    how long the approved ones stopped the clock (to `now` for those still running)."""

    unit_id: int
    code: str
    name: str
    district_code: str | None
    district_name: str | None
    requested: int
    refused: int
    approved: int
    active: int
    ended: int
    suspended_days: float
    longest_days: float


_SUSPENSIONS = text("""
SELECT u.id, u.code, u.name, d.code AS district_code, d.name AS district_name,
       count(*) AS requested,
       count(*) FILTER (WHERE s.state = 'refused') AS refused,
       count(*) FILTER (WHERE s.started_at IS NOT NULL) AS approved,
       count(*) FILTER (WHERE s.state = 'active') AS active,
       count(*) FILTER (WHERE s.state = 'ended') AS ended,
       coalesce(sum(extract(epoch FROM coalesce(s.ended_at, :now) - s.started_at))
                FILTER (WHERE s.started_at IS NOT NULL), 0) / 86400.0 AS suspended_days,
       coalesce(max(extract(epoch FROM coalesce(s.ended_at, :now) - s.started_at))
                FILTER (WHERE s.started_at IS NOT NULL), 0) / 86400.0 AS longest_days
FROM suspensions s
JOIN units u ON u.id = s.responsible_unit_id
LEFT JOIN LATERAL (
    SELECT a.code, a.name FROM units a
    WHERE a.kind = 'district' AND u.path LIKE a.path || '%'
    LIMIT 1
) d ON true
WHERE (CAST(:since AS timestamptz) IS NULL OR s.requested_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR s.requested_at < :until)
GROUP BY u.id, u.code, u.name, d.code, d.name
ORDER BY suspended_days DESC, u.code
""")


async def suspension_report(
    session: AsyncSession, *, since: datetime | None, until: datetime | None, now: datetime
) -> list[SuspensionFigures]:
    """Per responsible unit, the suspensions asked for in [since, until), the units whose
    suspensions stopped the clock longest first."""
    rows = await session.execute(_SUSPENSIONS, {"since": since, "until": until, "now": now})
    return [
        SuspensionFigures(
            unit_id=r.id,
            code=r.code,
            name=r.name,
            district_code=r.district_code,
            district_name=r.district_name,
            requested=r.requested,
            refused=r.refused,
            approved=r.approved,
            active=r.active,
            ended=r.ended,
            suspended_days=round(float(r.suspended_days), 2),
            longest_days=round(float(r.longest_days), 2),
        )
        for r in rows
    ]
