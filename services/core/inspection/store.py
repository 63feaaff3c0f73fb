"""Writes of the campaign instruments in hand-written SQL where they are bulk: a plan's tasks
generated for every point in its scope in one statement per window set, idempotent on
(plan, point, window); an inspection marking its task done and its point inspected."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
            "paths": [p.replace("%", r"\%").replace("_", r"\_") + "%" for p in unit_paths],
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# The open task of the point whose window holds the moment of the visit (the earliest due,
# if plans overlap) is done by it; failing that, the latest one it missed (a late visit ends
# the reminders, though the task was overdue). The point's last inspection moves forward,
# never back (an offline phone may replay an older visit after a newer one).
MARK_DONE = text("""
WITH task AS (
    UPDATE inspection_tasks SET done_at = :at, inspection_id = :inspection_id
    WHERE id = (
        SELECT id FROM inspection_tasks
        WHERE point_id = :point_id AND done_at IS NULL
          AND opens_at <= :observed_at
        ORDER BY due_at < :observed_at,
                 CASE WHEN due_at >= :observed_at THEN due_at END,
                 due_at DESC, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
), point AS (
    UPDATE evaluation_points
    SET last_inspected_at = greatest(coalesce(last_inspected_at, :observed_at), :observed_at)
    WHERE id = :point_id
), visit AS (
    UPDATE inspections SET task_id = (SELECT id FROM task) WHERE id = :inspection_id
)
SELECT id FROM task
""")


async def mark_done(
    session: AsyncSession,
    point_id: int,
    inspection_id: uuid.UUID,
    observed_at: datetime,
    at: datetime,
) -> int | None:
    """Mark the task the visit fulfils done, name it on the inspection and move the point's
    last inspection; the task's id, if one was due."""
    row = (
        await session.execute(
            MARK_DONE,
            {
                "point_id": point_id,
                "inspection_id": inspection_id,
                "observed_at": observed_at,
                "at": at,
            },
        )
    ).first()
    return int(row[0]) if row is not None else None


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
