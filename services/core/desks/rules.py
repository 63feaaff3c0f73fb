"""The work desks' pure rules: which buttons a person sees on a finding (exactly the actions
the lifecycle table would let them take, so a button never leads to a refusal), the
routing suggestion for a queued report, and the figures a verifier compares.

No I/O: the reference snapshot is an in-memory value, `now` is passed in."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from services.core.findings.rules import Action, FindingState, plan_for
from services.core.identity.principal import Actor
from services.core.platform.errors import Refusal
from services.core.reference.snapshot import Reference, UnitInfo

# What each desk offers, in the order its buttons appear.
DISPATCH_DESK = (
    Action.DISPATCH,
    Action.MARK_DUPLICATE,
    Action.CLOSE_INVALID,
    Action.APPROVE_EXTENSION,
    Action.DENY_EXTENSION,
    Action.CONFIRM_RECURRENCE,
    Action.DISMISS_RECURRENCE,
    Action.APPROVE_RETURN,
    Action.DENY_RETURN,
    Action.TRANSFER,
)
VERIFY_DESK = (Action.VERIFY, Action.REJECT)
HANDLER_TASK = (
    Action.ACCEPT,
    Action.RETURN,
    Action.REQUEST_EXTENSION,
    Action.SUBMIT,
    Action.PROGRESS,
)
METRES_PER_DEGREE = 111_195


def allowed_actions(finding: FindingState, actor: Actor, offered: Iterable[Action]) -> list[Action]:
    """The offered actions the lifecycle table lets `actor` take on `finding` now: a
    verifier's own submission, or one of their own unit's, has no verify or reject button."""
    return [
        action for action in offered if not isinstance(plan_for(action, finding, actor), Refusal)
    ]


def suggestion(
    ref: Reference, category_id: int, lat: float, lon: float, place_unit_id: int | None
) -> UnitInfo | None:
    """The unit the routing rules name for a queued report: the place it was reported for,
    or else the deepest boundary holding its position, then the category's rule there (the
    place itself when no rule names another). None when neither a place nor a boundary is
    known: the dispatcher chooses."""
    place = ref.units.get(place_unit_id) if place_unit_id else None
    place = place or ref.unit_at(lat, lon)
    category = ref.categories.get(category_id)
    if place is None or category is None:
        return None
    return ref.route(category, place) or place


def dispatchable_units(ref: Reference, covers: Sequence[str]) -> list[UnitInfo]:
    """Units a finding may be dispatched to (not the city, the office or the commission),
    within the dispatcher's subtree (`covers`: path prefixes), by their path."""
    barred = ("city", "campaign_office", "discipline_commission")
    return sorted(
        (
            u
            for u in ref.units.values()
            if u.kind not in barred and any(u.path.startswith(p) for p in covers)
        ),
        key=lambda u: u.path,
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two WGS84 points (haversine on the mean radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * METRES_PER_DEGREE * math.degrees(math.asin(math.sqrt(a)))


def waited(since: datetime | None, now: datetime) -> timedelta:
    """How long something has waited (zero for a time in the future or none)."""
    return max(now - since, timedelta(0)) if since is not None else timedelta(0)


def age_words(age: timedelta) -> tuple[int, int]:
    """An age as whole days and hours, for a desk's "waiting for" column."""
    hours = int(age.total_seconds() // 3600)
    return hours // 24, hours % 24


def outline(geometry: Mapping[str, Any], tolerance: float = 0.0001) -> list[list[list[float]]]:
    """A Polygon or MultiPolygon's rings (lon, lat), simplified to about `tolerance` degrees
    (0.0001°: about 10 m) and rounded to 5 decimals: what the phone draws as SVG, small
    enough to keep offline."""
    simple = shapely.simplify(shape(dict(geometry)), tolerance, preserve_topology=True)
    polygons: list[Polygon] = (
        list(simple.geoms) if isinstance(simple, MultiPolygon) else [cast(Polygon, simple)]
    )
    rings = []
    for p in polygons:
        for ring in (p.exterior, *p.interiors):
            rings.append([[round(x, 5), round(y, 5)] for x, y in ring.coords])
    return rings
