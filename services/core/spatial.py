"""Look-ups by place: possible duplicates of a new finding and the finding it is a recurrence of.

No PostGIS: both are a range on the btree `ix_findings_category_lat_lon` (category, then a
latitude band, longitude checked inside the index) followed by the exact distance on the few
rows in the box. At a city's scale a band of a few dozen metres holds a handful of rows per
category, so the look-up costs the same at a thousand findings as at a million. The
conditions are built over any alias of `findings` and bound parameters, so the intake can
compile them once (services/core/intake_store.py).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm.util import AliasedClass

from services.core.models import Finding

# Metres per degree of latitude (and of longitude at the equator) on the WGS84 mean radius.
METRES_PER_DEGREE = 111_195
MAX_DUPLICATES = 10

FindingAlias = type[Finding] | AliasedClass[Finding]


def box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(lat_lo, lat_hi, lon_lo, lon_hi) of the circle's bounding box: what the index serves.
    A little wider than the circle, so the exact distance decides."""
    dlat = radius_m / (METRES_PER_DEGREE * 0.999)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def distance_m(f: FindingAlias, lat: Any, lon: Any) -> ColumnElement[float]:
    """Equirectangular distance in metres: exact enough at the scale of a duplicate radius."""
    x = (f.lon - lon) * func.cos(func.radians((f.lat + lat) / 2))
    y = f.lat - lat
    return func.sqrt(x * x + y * y) * METRES_PER_DEGREE


@dataclass(frozen=True)
class Around:
    """A place to look around, as SQL values (bound parameters or literals)."""

    category_id: Any
    lat: Any
    lon: Any
    radius_m: Any
    lat_lo: Any
    lat_hi: Any
    lon_lo: Any
    lon_hi: Any


def near(f: FindingAlias, at: Around) -> list[ColumnElement[bool]]:
    """Same category, inside the bounding box of the circle, inside the circle."""
    return [
        f.category_id == at.category_id,
        f.lat.between(at.lat_lo, at.lat_hi),
        f.lon.between(at.lon_lo, at.lon_hi),
        distance_m(f, at.lat, at.lon) <= at.radius_m,
    ]


@dataclass(frozen=True)
class Recurred:
    """The closed finding a new one is a recurrence of."""

    id: uuid.UUID
    source: str
    policy: str | None
