"""Who is responsible for a finding: routing rules over the place's ancestry (DESIGN §3).

Facilities go to their owner department first, events to the territorial street first: the
seeded rules encode that, a rule with no responsible unit meaning "the unit of the place".
The rules themselves are read from the reference snapshot (services/core/reference/snapshot.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Unit


@dataclass(frozen=True)
class Rule:
    area_unit_id: int
    category_specific: bool
    responsible_unit_id: int | None


def ancestry(path: str) -> list[int]:
    """Unit ids from the root down to the unit itself, from its materialised path."""
    return [int(part) for part in path.strip("/").split("/") if part]


def choose(rules: Sequence[Rule], place_ancestry: Sequence[int], place_unit_id: int) -> int | None:
    """The rule for the nearest area wins; at the same area a category rule beats a group rule."""
    depth = {unit_id: i for i, unit_id in enumerate(place_ancestry)}
    applicable = [r for r in rules if r.area_unit_id in depth]
    if not applicable:
        return None
    best = max(applicable, key=lambda r: (depth[r.area_unit_id], r.category_specific))
    return best.responsible_unit_id if best.responsible_unit_id is not None else place_unit_id


async def district_of(session: AsyncSession, unit: Unit) -> int | None:
    """The district a unit belongs to (itself if it is one); None above district level."""
    chain = ancestry(unit.path)
    return (
        await session.execute(
            select(Unit.id).where(Unit.id.in_(chain), Unit.kind == "district").limit(1)
        )
    ).scalar_one_or_none()
