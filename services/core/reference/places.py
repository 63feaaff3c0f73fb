"""Where a point lies: the units' boundaries (GeoJSON) as an in-memory index.

A report that names no unit is placed in the deepest unit whose area holds its location (a
community before its street, a street before its district). The intake is the busiest
path, so this is no query: the reference snapshot builds one index when it loads (an STRtree
over the polygons' envelopes, each polygon prepared), and a look-up is a few microseconds.
A point on the border of two areas belongs to both; the deeper unit wins, then the smaller
area, then the lower unit id, so the answer never depends on the order of the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from shapely import STRtree
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

GEOMETRY_TYPES = ("Polygon", "MultiPolygon")
# Coordinates of a city's units: far fewer in practice (a district's outline has a few
# thousand points at most); the cap keeps one pasted file from costing the API its memory.
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Area:
    unit_id: int
    # How deep the unit sits in the tree (the root is 1): deeper areas are more specific.
    depth: int
    geometry: BaseGeometry


class Places:
    """The areas of the units that have one, indexed for point look-ups."""

    def __init__(self, areas: Iterable[Area]) -> None:
        self._areas = tuple(areas)
        geometries = [a.geometry for a in self._areas]
        for g in geometries:
            shapely.prepare(g)
        self._tree = STRtree(geometries) if geometries else None
        # Ties between areas that both hold a point: deeper first, then smaller, then id.
        self._rank = {i: (-a.depth, a.geometry.area, a.unit_id) for i, a in enumerate(self._areas)}

    def __len__(self) -> int:
        return len(self._areas)

    def unit_at(self, lat: float, lon: float) -> int | None:
        """The id of the deepest unit whose area holds (lat, lon) (borders included)."""
        if self._tree is None:
            return None
        candidates = self._tree.query(shapely.Point(lon, lat))
        holding = [
            int(i)
            for i in candidates
            if shapely.intersects_xy(self._areas[int(i)].geometry, lon, lat)
        ]
        if not holding:
            return None
        return self._areas[min(holding, key=self._rank.__getitem__)].unit_id


EMPTY = Places(())


def _count_points(coordinates: Any) -> int:
    if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
        return sum(_count_points(c) for c in coordinates)
    return 1


def _coordinate_error(coordinates: Any, depth: int) -> str | None:
    """Depth 0 is a position [lon, lat]; a Polygon's coordinates are depth 2, a
    MultiPolygon's depth 3."""
    if not isinstance(coordinates, list):
        return "not a list"
    if depth == 0:
        if len(coordinates) < 2 or not all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates
        ):
            return "a position is [longitude, latitude]"
        lon, lat = coordinates[0], coordinates[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return f"position [{lon}, {lat}] is not a WGS84 longitude and latitude"
        return None
    if not coordinates:
        return "empty"
    for c in coordinates:
        error = _coordinate_error(c, depth - 1)
        if error is not None:
            return error
    return None


@dataclass(frozen=True)
class BoundaryError:
    zh: str
    en: str


def read_boundary(geometry: Any) -> tuple[BaseGeometry | None, BoundaryError | None]:
    """A GeoJSON geometry checked for use as an area: (the geometry, None) or (None, why)."""
    if not isinstance(geometry, Mapping):
        return None, BoundaryError("不是 GeoJSON 几何对象", "not a GeoJSON geometry object")
    kind = geometry.get("type")
    if kind not in GEOMETRY_TYPES:
        return None, BoundaryError(
            f"几何类型须为 Polygon 或 MultiPolygon（不是 {kind!r}）",
            f"the geometry must be a Polygon or a MultiPolygon (not {kind!r})",
        )
    coordinates = geometry.get("coordinates")
    error = _coordinate_error(coordinates, 2 if kind == "Polygon" else 3)
    if error is not None:
        return None, BoundaryError(f"坐标无效：{error}", f"invalid coordinates: {error}")
    if _count_points(coordinates) > MAX_POINTS:
        return None, BoundaryError(
            f"坐标点超过 {MAX_POINTS} 个", f"more than {MAX_POINTS} coordinate positions"
        )
    try:
        area = shape({"type": kind, "coordinates": coordinates})
    except (GEOSException, ValueError, TypeError, IndexError) as exc:
        return None, BoundaryError(f"无法读取几何：{exc}", f"unreadable geometry: {exc}")
    if area.is_empty or not area.is_valid or area.area == 0:
        reason = shapely.is_valid_reason(area) if not area.is_empty else "empty"
        return None, BoundaryError(
            f"多边形无效（自相交、未闭合或面积为零）：{reason}",
            f"invalid polygon (self-intersecting, not closed or of no area): {reason}",
        )
    return area, None


def build_places(rows: Iterable[tuple[int, int, Mapping[str, Any]]]) -> Places:
    """The index over (unit id, depth, GeoJSON geometry) rows as stored. A stored geometry
    was checked when it was imported; one a DBA wrote by hand that cannot be read is left
    out rather than taking every report down with it."""
    areas = []
    for unit_id, depth, geometry in rows:
        area, _error = read_boundary(geometry)
        if area is not None:
            areas.append(Area(unit_id, depth, area))
    return Places(areas) if areas else EMPTY
