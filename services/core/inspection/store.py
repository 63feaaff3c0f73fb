"""Hand-written SQL of the campaign instruments where it is bulk or hot: a plan's tasks
generated for every point in its scope in one statement per window set, idempotent on
(plan, point, window); a visit checked against what it needs in one read and written (the
inspection, its results, the task it fulfils, the point's last inspection) in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.inspection.rules import Window

# Every active point of the type inside the scope (the union of the units' subtrees, or the
# city when none is given), one task per window; the inspectors take the points in turn (by
# point id). A second run adds only what is missing: the window is part of the key.
GENERATE = text("""
INSERT INTO inspection_tasks (plan_id, point_id, assignee_id, opens_at, due_at, district_id,
                              street_id, point_type_id)
SELECT :plan_id, p.id,
       (CAST(:assignees AS int[]))[p.id % greatest(cardinality(CAST(:assignees AS int[])), 1) + 1],
       w.opens_at, w.due_at, p.district_id, p.street_id, p.point_type_id
FROM evaluation_points p
CROSS JOIN unnest(CAST(:opens AS timestamptz[]), CAST(:dues AS timestamptz[]))
     AS w(opens_at, due_at)
WHERE p.active AND p.point_type_id = :type_id
  AND (cardinality(CAST(:paths AS text[])) = 0
       OR EXISTS (SELECT 1 FROM units u WHERE u.id = p.place_unit_id
                  AND u.path LIKE ANY (CAST(:paths AS text[]))))
ON CONFLICT ON CONSTRAINT uq_inspection_tasks_window DO NOTHING
""")


async def generate_tasks(
    session: AsyncSession,
    plan_id: int,
    type_id: int,
    windows: Sequence[Window],
    assignee_ids: Sequence[int],
    unit_paths: Sequence[str],
) -> int:
    """Insert the tasks of one point type; how many were new."""
    if not windows:
        return 0
    result = await session.execute(
        GENERATE,
        {
            "plan_id": plan_id,
            "type_id": type_id,
            "assignees": list(assignee_ids),
            "opens": [w.opens_at for w in windows],
            "dues": [w.due_at for w in windows],
            "paths": [subtree_like(p) for p in unit_paths],
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# What recording a visit needs to know, in one round trip: whether the id is taken, the
# point if the inspector may see it, and the criteria version the visit answers (the one
# named, else that of the plan whose task the visit fulfils, else the newest) with its checks.
LOOK_AROUND = text("""
SELECT taken.id IS NOT NULL AS taken,
       pt.id AS point_id, pt.code, pt.name, pt.address, pt.lat, pt.lon, pt.district_id,
       pt.type_code, pt.place_code, cs.id AS set_id, cs.code AS set_code, crit.checks
FROM (SELECT 1) one
LEFT JOIN inspections taken ON taken.id = :id
LEFT JOIN LATERAL (
    SELECT p.id, p.code, p.name, p.address, p.lat, p.lon, p.district_id,
           t.code AS type_code, u.code AS place_code
    FROM evaluation_points p
    JOIN point_types t ON t.id = p.point_type_id
    JOIN units u ON u.id = p.place_unit_id
    WHERE p.code = :point
      AND (CAST(:subtree AS text) IS NULL
           OR EXISTS (SELECT 1 FROM units s
                      WHERE s.id IN (p.place_unit_id, p.responsible_unit_id)
                        AND s.path LIKE CAST(:subtree AS text)))
) pt ON true
LEFT JOIN LATERAL (
    SELECT id, code FROM criteria_sets
    WHERE id = CASE
        WHEN CAST(:named AS text) IS NOT NULL
            THEN (SELECT id FROM criteria_sets WHERE code = CAST(:named AS text))
        ELSE coalesce(
            (SELECT pl.criteria_set_id FROM inspection_tasks it
             JOIN inspection_plans pl ON pl.id = it.plan_id
             WHERE it.point_id = pt.id AND it.opens_at <= :observed_at
             ORDER BY it.due_at DESC LIMIT 1),
            (SELECT max(id) FROM criteria_sets))
    END
) cs ON true
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_array(c.id, c.code, c.name, c.parent_id, c.point_types,
                                     c.method, c.category_code, c.position)) AS checks
    FROM criteria c WHERE c.set_id = cs.id
) crit ON true
""")


@dataclass(frozen=True, slots=True)
class Place:
    """An evaluation point as a visit to it needs it."""

    id: int
    code: str
    name: str
    address: str | None
    lat: float
    lon: float
    district_id: int | None
    type_code: str
    place_code: str


@dataclass(frozen=True, slots=True)
class Check:
    """A criterion of a set: a check item where it is a leaf."""

    id: int
    code: str
    name: str
    parent_id: int | None
    point_types: list[str]
    method: str
    category_code: str | None
    position: int


@dataclass(frozen=True)
class LookAround:
    taken: bool
    place: Place | None
    set_id: int | None
    set_code: str | None
    checks: list[Check]


def subtree_like(path: str) -> str:
    """A LIKE pattern for the units under `path` (the path's own % and _ taken literally)."""
    return path.replace("%", r"\%").replace("_", r"\_") + "%"


async def look_around(
    session: AsyncSession,
    inspection_id: uuid.UUID,
    point: str,
    subtree: str | None,
    named_set: str | None,
    observed_at: datetime,
) -> LookAround:
    """What `record` checks a visit against; `subtree` None for a city-wide caller."""
    row = (
        await session.execute(
            LOOK_AROUND,
            {
                "id": inspection_id,
                "point": point,
                "subtree": None if subtree is None else subtree_like(subtree),
                "named": named_set,
                "observed_at": observed_at,
            },
        )
    ).one()
    place = None
    if row.point_id is not None:
        place = Place(
            row.point_id, row.code, row.name, row.address, row.lat, row.lon, row.district_id,
            row.type_code, row.place_code,
        )  # fmt: skip
    # json arrives decoded (the dialect registers a codec for it)
    checks = [Check(*c) for c in row.checks or ()]
    return LookAround(row.taken, place, row.set_id, row.set_code, checks)


# A new visit in one statement: the inspection, its results, and the task it fulfils. That is
# the open task of the point whose window holds the moment of the visit (the earliest due, if
# plans overlap), failing that the latest one it missed (a late visit ends the reminders,
# though the task was overdue). The point's last inspection moves forward, never back (an
# offline phone may replay an older visit after a newer one). If another copy of the visit
# won the race for the id, nothing is written and no row comes back.
RECORD = text("""
WITH task AS (
    SELECT id FROM inspection_tasks
    WHERE point_id = :point_id AND done_at IS NULL AND opens_at <= :observed_at
    ORDER BY due_at < :observed_at,
             CASE WHEN due_at >= :observed_at THEN due_at END,
             due_at DESC, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), visit AS (
    INSERT INTO inspections (id, point_id, task_id, criteria_set_id, inspector_id, district_id,
                             observed_at, recorded_at, lat, lon, distance_m, flags, passed,
                             failed, not_applicable, note, request_hash)
    VALUES (:id, :point_id, (SELECT id FROM task), :criteria_set_id, :inspector_id, :district_id,
            :observed_at, :at, :lat, :lon, :distance_m, CAST(:flags AS jsonb), :passed,
            :failed, :not_applicable, :note, :request_hash)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, task_id
), results AS (
    INSERT INTO inspection_results (inspection_id, criterion_id, outcome, finding_id, note)
    SELECT visit.id, r.criterion_id, r.outcome, r.finding_id, r.note
    FROM visit, unnest(CAST(:criteria AS int[]), CAST(:outcomes AS text[]),
                       CAST(:findings AS uuid[]), CAST(:notes AS text[]))
         AS r(criterion_id, outcome, finding_id, note)
), done AS (
    UPDATE inspection_tasks SET done_at = :at, inspection_id = visit.id
    FROM visit WHERE inspection_tasks.id = visit.task_id
), point AS (
    UPDATE evaluation_points
    SET last_inspected_at = greatest(coalesce(last_inspected_at, :observed_at), :observed_at)
    WHERE id = :point_id AND EXISTS (SELECT 1 FROM visit)
)
SELECT id, task_id FROM visit
""")


@dataclass(frozen=True)
class NewResult:
    criterion_id: int
    outcome: str
    finding_id: uuid.UUID | None
    note: str | None


async def insert_visit(
    session: AsyncSession, visit: dict[str, Any], results: Sequence[NewResult]
) -> tuple[bool, int | None]:
    """Write a new visit (`visit`: the inspection's columns, flags as JSON): whether it was
    written (False: the id was taken meanwhile) and the task it fulfilled."""
    row = (
        await session.execute(
            RECORD,
            {
                **visit,
                "criteria": [r.criterion_id for r in results],
                "outcomes": [r.outcome for r in results],
                "findings": [r.finding_id for r in results],
                "notes": [r.note for r in results],
            },
        )
    ).first()
    if row is None:
        return False, None
    return True, row.task_id


# Overdue open tasks not yet escalated, oldest first, locked for this sweep only.
CLAIM_OVERDUE = text("""
SELECT t.id, t.due_at, t.reminded_at, t.escalate_at, t.assignee_id, u.person_id,
       coalesce(u.unit_id, p.responsible_unit_id, p.place_unit_id) AS unit_id,
       p.code, p.name, p.address
FROM inspection_tasks t
JOIN evaluation_points p ON p.id = t.point_id
LEFT JOIN users u ON u.id = t.assignee_id
WHERE t.done_at IS NULL AND t.escalated_at IS NULL AND t.due_at < :now
  AND (t.reminded_at IS NULL OR t.escalate_at <= :now)
ORDER BY t.due_at, t.id
LIMIT :limit
FOR UPDATE OF t SKIP LOCKED
""")


async def claim_overdue(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    return list(await session.execute(CLAIM_OVERDUE, {"now": now, "limit": limit}))


async def set_task_marks(
    session: AsyncSession,
    task_id: int,
    *,
    reminded: datetime | None = None,
    escalate_at: datetime | None = None,
    escalated: datetime | None = None,
) -> None:
    await session.execute(
        text(
            "UPDATE inspection_tasks SET reminded_at = coalesce(reminded_at, :reminded), "
            "escalate_at = coalesce(escalate_at, :escalate_at), "
            "escalated_at = coalesce(escalated_at, :escalated) WHERE id = :id"
        ),
        {"id": task_id, "reminded": reminded, "escalate_at": escalate_at, "escalated": escalated},
    )
