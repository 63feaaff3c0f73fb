"""Look-ups by place: the possible duplicates of a new finding and the finding it recurs,
computed by the database function `intake_look_around` (migrations 0009, 0010, 0013) over
a box computed here.

No PostGIS: each half is a range on a partial btree of its own rows (`ix_findings_open_near`,
`ix_findings_rectified_near`) that covers what it filters on, so the exact distance is
computed on index entries alone. A recurrence counts against a unit only when the earlier
problem was that unit's own; otherwise it is a possible recurrence for a dispatcher.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

# Metres per degree of latitude (and of longitude at the equator) on the WGS84 mean radius.
METRES_PER_DEGREE = 111_195


def box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(lat_lo, lat_hi, lon_lo, lon_hi) of the circle's bounding box: what the index serves.
    A little wider than the circle, so the exact distance decides."""
    dlat = radius_m / (METRES_PER_DEGREE * 0.999)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True)
class Recurred:
    """The closed finding a new one is a recurrence of."""

    id: uuid.UUID
    source: str
    policy: str | None
