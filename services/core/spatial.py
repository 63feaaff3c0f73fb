"""Look-ups by place: possible duplicates of a new finding and the finding it is a recurrence of.

No PostGIS: both are a range on the btree `ix_findings_category_lat_lon` (category, then a
latitude band, longitude checked inside the index) followed by the exact distance on the few
rows in the box. At a city's scale a band of a few dozen metres holds a handful of rows per
category, so the look-up costs the same at a thousand findings as at a million.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Finding
from services.core.principal import Principal
from services.core.scope import visible_findings

# Metres per degree of latitude (and of longitude at the equator) on the WGS84 mean radius.
METRES_PER_DEGREE = 111_195
MAX_DUPLICATES = 10


def _near(category_id: int, lat: float, lon: float, radius_m: float) -> list[ColumnElement[bool]]:
    """Same category, inside the bounding box of the circle, inside the circle. The box is what
    the index serves; it is a little wider than the circle so the exact test decides."""
    dlat = radius_m / (METRES_PER_DEGREE * 0.999)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return [
        Finding.category_id == category_id,
        Finding.lat.between(lat - dlat, lat + dlat),
        Finding.lon.between(lon - dlon, lon + dlon),
        distance_m(lat, lon) <= radius_m,
    ]


def distance_m(lat: float, lon: float) -> ColumnElement[float]:
    """Equirectangular distance in metres: exact enough at the scale of a duplicate radius."""
    x = (Finding.lon - lon) * func.cos(func.radians((Finding.lat + lat) / 2))
    y = Finding.lat - lat
    return func.sqrt(x * x + y * y) * METRES_PER_DEGREE


async def possible_duplicates(
    session: AsyncSession, finding: Finding, radius_m: float, principal: Principal
) -> list[uuid.UUID]:
    """Open findings of the same category within the radius that the caller may see, the
    nearest first."""
    stmt = (
        select(Finding.id)
        .where(
            *_near(finding.category_id, finding.lat, finding.lon, radius_m),
            Finding.id != finding.id,
            Finding.status != "closed",
            visible_findings(principal),
        )
        .order_by(distance_m(finding.lat, finding.lon))
        .limit(MAX_DUPLICATES)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class Recurred:
    """The closed finding a new one is a recurrence of."""

    id: uuid.UUID
    source: str
    policy: str | None


async def recurrence_of(
    session: AsyncSession,
    *,
    category_id: int,
    lat: float,
    lon: float,
    radius_m: float,
    closed_since: datetime,
) -> Recurred | None:
    """The most recently closed finding of the category, rectified, within the radius and
    closed at or after `closed_since`: the problem came back (反弹). Whatever the reporter's
    scope: a recurrence is a fact about the place, not about who noticed it."""
    row = (
        await session.execute(
            select(Finding.id, Finding.source, Finding.escalation_plan["policy"].astext)
            .where(
                *_near(category_id, lat, lon, radius_m),
                Finding.status == "closed",
                Finding.close_reason == "rectified",
                Finding.closed_at >= closed_since,
            )
            .order_by(Finding.closed_at.desc(), Finding.id)
            .limit(1)
        )
    ).first()
    return Recurred(row[0], row[1], row[2]) if row is not None else None
