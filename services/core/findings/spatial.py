"""Look-ups by place: possible duplicates of a new finding and the finding it is a recurrence of.

No PostGIS: each is a range on a partial btree of its own rows (category, then a latitude
band, longitude checked inside the index): `ix_findings_open_near` for duplicates,
`ix_findings_rectified_near` for recurrences. Both cover the columns their half filters on,
so the exact distance is computed on the box's index entries without visiting the table.
The SQL is the database function `intake_look_around` (migrations 0009, 0010, 0013); the box
is computed here.

A recurrence counts against a unit only when the earlier problem was that unit's own: the
look-up takes the new finding's responsible unit and returns a finding another unit rectified
there (or any, when the new one has no unit yet) only as a possible recurrence, for a
dispatcher to decide.
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
