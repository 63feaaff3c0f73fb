"""The sweep's statements: a few set-based round trips per batch, whatever its size.

A batch claims thousands of findings. Row-at-a-time ORM work (one UPDATE per finding at
flush, an identity map, per-row parameter sets) cost more than the rules themselves, so every
write here is one statement over arrays (`unnest`), and the directory the batch needs (units,
post holders, categories) is read in one go. Functions flush nothing and never commit: they
run in the caller's transaction, which the job boundary commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

# A claimed finding: the columns `claim` selects, by name.
Claimed: TypeAlias = Row[*tuple[Any, ...]]

# The kinds of unit a ladder addresses whatever the finding: the commission (L4) and the
# campaign office (vacant posts).
CITY_KINDS = ("campaign_office", "discipline_commission")


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    name: str
    kind: str
    webhook_url: str | None


@dataclass(frozen=True)
class PersonRef:
    id: int
    name: str
    title: str | None
    webhook_url: str | None


@dataclass(frozen=True)
class PointRef:
    """A contact point: where its owner is reached besides the inbox."""

    id: int
    kind: str


@dataclass
class Directory:
    """Units, current post holders and categories one batch refers to, read once per batch
    (one transaction, so never stale)."""

    units: dict[int, UnitRef]
    # (unit id, role) -> holders, the most recently appointed first
    holders: dict[tuple[int, str], list[PersonRef]]
    categories: dict[int, tuple[str, str]]  # id -> (code, name)
    # ("p", person id) or ("u", unit id) -> active contact points in their order
    points: dict[tuple[str, int], list[PointRef]] = field(default_factory=dict)

    def unit_of_kind(self, kind: str) -> UnitRef | None:
        found = [u for u in self.units.values() if u.kind == kind]
        return min(found, key=lambda u: u.id) if found else None


# Plain SQL rather than an ORM select: the rows are read once and never tracked, and the
# ORM's per-row loading showed in the profile.
_CLAIM = text(
    """
    SELECT id, status, due_at, dispatched_at, reminded_at, escalation_plan::text AS plan,
           category_id, responsible_unit_id, district_id, description, address, source,
           severity
    FROM findings
    WHERE next_escalation_at <= :now
    ORDER BY next_escalation_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)


async def claim(session: AsyncSession, now: datetime, limit: int) -> Sequence[Claimed]:
    """Lock up to `limit` findings whose time has come; those another sweep holds are skipped,
    so any number of workers share the work without waiting for each other. Only the columns
    the ladder and the messages need; the plan as text, so that the batch decodes each
    distinct plan once instead of once per finding."""
    return (await session.execute(_CLAIM, {"now": now, "limit": limit})).all()


_FIRED = text(
    "SELECT finding_id, level FROM escalations WHERE finding_id = ANY(CAST(:ids AS uuid[]))"
)


async def fired_levels(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    """The levels already fired, by finding; a finding with none is absent."""
    # A statement of its own after the claim, not a subquery in it: its snapshot is taken
    # once the locks are held, so it sees every level a sweep that just released them fired.
    fired: dict[uuid.UUID, set[int]] = {}
    rows = await session.execute(_FIRED, {"ids": ids})
    for finding_id, level in rows:
        fired.setdefault(finding_id, set()).add(level)
    return fired


_UNITS = text(
    "SELECT id, code, name, kind, webhook_url FROM units"
    " WHERE id = ANY(CAST(:ids AS int[])) OR kind = ANY(CAST(:kinds AS text[]))"
)
_HOLDERS = text(
    """
    SELECT po.unit_id, po.role, pe.id, pe.name, pe.title, pe.webhook_url
    FROM posts po JOIN people pe ON pe.id = po.person_id
    WHERE po.unit_id = ANY(CAST(:units AS int[])) AND po.valid_from <= :at
      AND (po.valid_to IS NULL OR po.valid_to > :at)
    ORDER BY po.valid_from DESC, po.id
    """
)
_CATEGORIES = text("SELECT id, code, name FROM categories WHERE id = ANY(CAST(:ids AS int[]))")
_POINTS = text(
    """
    SELECT id, kind, person_id, unit_id FROM contact_points
    WHERE active AND (unit_id = ANY(CAST(:units AS int[]))
                      OR person_id = ANY(CAST(:people AS int[])))
    ORDER BY position, id
    """
)


async def load_directory(
    session: AsyncSession,
    unit_ids: set[int],
    category_ids: set[int],
    at: datetime,
    people: frozenset[int] = frozenset(),
) -> Directory:
    """The batch's directory; `people`: others to reach besides the post holders (the
    leaders in personal charge of an item), whose contact points it loads too."""
    units = {
        row.id: UnitRef(row.id, row.code, row.name, row.kind, row.webhook_url)
        for row in await session.execute(
            _UNITS, {"ids": sorted(unit_ids), "kinds": list(CITY_KINDS)}
        )
    }
    holders: dict[tuple[int, str], list[PersonRef]] = {}
    for row in await session.execute(_HOLDERS, {"units": sorted(units), "at": at}):
        person = PersonRef(row.id, row.name, row.title, row.webhook_url)
        holders.setdefault((row.unit_id, row.role), []).append(person)
    categories = {
        row.id: (row.code, row.name)
        for row in await session.execute(_CATEGORIES, {"ids": sorted(category_ids)})
    }
    reached = sorted({p.id for found in holders.values() for p in found} | people)
    points: dict[tuple[str, int], list[PointRef]] = {}
    for row in await session.execute(_POINTS, {"units": sorted(units), "people": reached}):
        owner = ("p", row.person_id) if row.person_id is not None else ("u", row.unit_id)
        points.setdefault(owner, []).append(PointRef(row.id, row.kind))
    return Directory(units, holders, categories, points)


_RESCHEDULE = text(
    """
    UPDATE findings AS f SET next_escalation_at = u.next_at, reminded_at = u.reminded_at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:next_at AS timestamptz[]),
                CAST(:reminded_at AS timestamptz[])) AS u(id, next_at, reminded_at)
    WHERE f.id = u.id
    """
)


async def reschedule(
    session: AsyncSession,
    ids: list[uuid.UUID],
    next_at: list[datetime | None],
    reminded_at: list[datetime | None],
) -> None:
    """Every claimed finding's next look and reminder mark, in one statement."""
    if ids:
        await session.execute(
            _RESCHEDULE, {"ids": ids, "next_at": next_at, "reminded_at": reminded_at}
        )


# Lowest level first within a finding (the rows come in that order, kept by ORDER BY ord),
# so L1 gets the smaller id when several fire at once. ON CONFLICT DO NOTHING: a level another
# sweep already fired is left out of RETURNING, and so gets no second notification either.
_ESCALATE = text(
    """
    INSERT INTO escalations (
      finding_id, level, target, fired_at, due_for, reason, target_person_id, target_name,
      target_title, target_unit_id, target_unit_name, responsible_unit_id, district_id, source)
    SELECT e.finding_id, e.level, e.target, :fired_at, e.due_for, e.reason, e.person_id,
           e.person_name, e.person_title, e.unit_id, e.unit_name, e.responsible_unit_id,
           e.district_id, e.source
    FROM unnest(CAST(:finding_id AS uuid[]), CAST(:level AS int[]), CAST(:target AS text[]),
                CAST(:due_for AS timestamptz[]), CAST(:reason AS text[]),
                CAST(:person_id AS int[]), CAST(:person_name AS text[]),
                CAST(:person_title AS text[]), CAST(:unit_id AS int[]),
                CAST(:unit_name AS text[]), CAST(:responsible_unit_id AS int[]),
                CAST(:district_id AS int[]), CAST(:source AS text[]))
         WITH ORDINALITY AS e(finding_id, level, target, due_for, reason, person_id,
                              person_name, person_title, unit_id, unit_name,
                              responsible_unit_id, district_id, source, ord)
    ORDER BY e.ord
    ON CONFLICT ON CONSTRAINT uq_escalations_finding_level DO NOTHING
    RETURNING id, finding_id, level
    """
)
ESCALATION_COLUMNS = (
    "finding_id",
    "level",
    "target",
    "due_for",
    "reason",
    "person_id",
    "person_name",
    "person_title",
    "unit_id",
    "unit_name",
    "responsible_unit_id",
    "district_id",
    "source",
)


async def insert_escalations(
    session: AsyncSession, rows: list[tuple[Any, ...]], fired_at: datetime
) -> dict[tuple[uuid.UUID, int], int]:
    """Rows in ESCALATION_COLUMNS order; the ids of those inserted by (finding, level)."""
    if not rows:
        return {}
    params: dict[str, Any] = _columns(ESCALATION_COLUMNS, rows)
    params["fired_at"] = fired_at
    inserted = await session.execute(_ESCALATE, params)
    return {(row.finding_id, row.level): row.id for row in inserted}


_NOTIFY = text(
    """
    INSERT INTO notifications (
      dedupe_key, kind, escalation_id, finding_id, recipient_person_id, recipient_unit_id,
      channel, address, subject, payload, status, sent_at, next_attempt_at, contact_point_id,
      chain, rank, level, task_id)
    SELECT n.dedupe_key, n.kind, n.escalation_id, n.finding_id, n.person_id, n.unit_id,
           n.channel, n.address, n.subject, n.payload::jsonb, n.status, n.sent_at,
           n.next_attempt_at, n.contact_point_id, n.chain, n.rank, n.level, n.task_id
    FROM unnest(CAST(:dedupe_key AS text[]), CAST(:kind AS text[]),
                CAST(:escalation_id AS bigint[]), CAST(:finding_id AS uuid[]),
                CAST(:person_id AS int[]), CAST(:unit_id AS int[]), CAST(:channel AS text[]),
                CAST(:address AS text[]), CAST(:subject AS text[]), CAST(:payload AS text[]),
                CAST(:status AS text[]), CAST(:sent_at AS timestamptz[]),
                CAST(:next_attempt_at AS timestamptz[]), CAST(:contact_point_id AS int[]),
                CAST(:chain AS text[]), CAST(:rank AS smallint[]), CAST(:level AS smallint[]),
                CAST(:task_id AS bigint[]))
         WITH ORDINALITY AS n(dedupe_key, kind, escalation_id, finding_id, person_id, unit_id,
                              channel, address, subject, payload, status, sent_at,
                              next_attempt_at, contact_point_id, chain, rank, level, task_id,
                              ord)
    ORDER BY n.ord
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, status, next_attempt_at
    """
)
NOTIFICATION_COLUMNS = (
    "dedupe_key",
    "kind",
    "escalation_id",
    "finding_id",
    "person_id",
    "unit_id",
    "channel",
    "address",
    "subject",
    "payload",  # JSON text
    "status",
    "sent_at",
    "next_attempt_at",
    "contact_point_id",
    "chain",
    "rank",
    "level",
    "task_id",  # an inspection task's notices (services/core/inspection)
)


_NO_CHAIN: tuple[Any, ...] = (None, None, 0, None, None)


async def insert_notifications(
    session: AsyncSession, rows: list[tuple[Any, ...]], now: datetime
) -> list[int]:
    """Rows in NOTIFICATION_COLUMNS order, idempotent by dedupe_key; the ids of those
    inserted that a delivery job should take at once (pending and due at `now`: the first
    channel of each recipient's order). Rows held to working hours are left to the outbox
    rescan, which takes them when their time comes: queued now, every one of a night's
    notices would be a job that can only skip, queued ahead of the next sweep."""
    if not rows:
        return []
    # Rows written before fallback orders existed end at next_attempt_at: no contact point,
    # no chain, rank 0, no level; and the findings' rows name no task.
    rows = [
        row + _NO_CHAIN[len(row) - len(NOTIFICATION_COLUMNS) :]
        if len(row) < len(NOTIFICATION_COLUMNS)
        else row
        for row in rows
    ]
    inserted = await session.execute(_NOTIFY, _columns(NOTIFICATION_COLUMNS, rows))
    return [row.id for row in inserted if row.status == "pending" and row.next_attempt_at <= now]


def _columns(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Rows to one array per column, as unnest takes them."""
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


_TRAIL = text(
    """
    INSERT INTO events (finding_id, actor_id, action, from_status, to_status, payload, at)
    SELECT e.finding_id, NULL, e.action, e.status, e.status, e.payload::jsonb, :at
    FROM unnest(CAST(:finding_id AS uuid[]), CAST(:action AS text[]), CAST(:status AS text[]),
                CAST(:payload AS text[]))
         WITH ORDINALITY AS e(finding_id, action, status, payload, ord)
    ORDER BY e.ord
    """
)


async def insert_trail(
    session: AsyncSession, rows: list[tuple[uuid.UUID, str, str, str]], at: datetime
) -> None:
    """(finding, action, the finding's status, payload JSON) onto the findings' trails by
    the system (no actor), in one statement."""
    if rows:
        params = _columns(("finding_id", "action", "status", "payload"), rows)
        params["at"] = at
        await session.execute(_TRAIL, params)


_PEOPLE = text("SELECT id, name, title, webhook_url FROM people WHERE id = ANY(:ids)")


async def person_refs(session: AsyncSession, ids: set[int]) -> dict[int, PersonRef]:
    """People to reach by id, whatever post they hold (an inspection task's assignee)."""
    if not ids:
        return {}
    rows = await session.execute(_PEOPLE, {"ids": sorted(ids)})
    return {row.id: PersonRef(row.id, row.name, row.title, row.webhook_url) for row in rows}


_CHARGES = text(
    """
    SELECT s.finding_id, p.id, p.name, p.title, p.webhook_url
    FROM personal_supervisions s JOIN people p ON p.id = s.person_id
    WHERE s.ended_at IS NULL AND s.finding_id = ANY(CAST(:ids AS uuid[]))
    ORDER BY s.id
    """
)


async def charges(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[PersonRef]]:
    """The leaders in personal charge (领导包案) of each finding now; most have none."""
    out: dict[uuid.UUID, list[PersonRef]] = {}
    for row in await session.execute(_CHARGES, {"ids": ids}):
        out.setdefault(row[0], []).append(PersonRef(row[1], row[2], row[3], row[4]))
    return out
