"""Inline SVG geometry computed on the server: no chart library, nothing to download."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .queries import MapPoint, Place, Week

TREND_W, TREND_H, TREND_PAD = 560, 180, 28
MAP_W, MAP_H, MAP_PAD = 800, 560, 48


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: int


@dataclass(frozen=True)
class Trend:
    width: int
    height: int
    bars: list[Bar]
    line: str  # SVG polyline points of the escalations
    dots: list[tuple[float, float, int]]
    top: int
    baseline: float


def trend(weeks: Sequence[Week]) -> Trend:
    """Bars: findings reported per week; line: escalations fired per week (same scale)."""
    top = max([1, *(w.reported for w in weeks), *(w.escalations for w in weeks)])
    inner_w = TREND_W - 2 * TREND_PAD
    inner_h = TREND_H - 2 * TREND_PAD
    slot = inner_w / max(len(weeks), 1)
    baseline = TREND_PAD + inner_h
    bars, dots = [], []
    for i, w in enumerate(weeks):
        h = inner_h * w.reported / top
        x = TREND_PAD + i * slot
        bars.append(
            Bar(x + slot * 0.2, baseline - h, slot * 0.6, h, w.start.strftime("%m-%d"), w.reported)
        )
        dots.append((x + slot / 2, baseline - inner_h * w.escalations / top, w.escalations))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in dots)
    return Trend(TREND_W, TREND_H, bars, line, dots, top, baseline)


@dataclass(frozen=True)
class Projected:
    x: float
    y: float


class Canvas:
    """An equirectangular projection of the city's bounding box onto the SVG, with the
    longitude scaled by cos(latitude) so distances look right at Qingdao's 36°N."""

    def __init__(self, places: Sequence[Place], points: Sequence[MapPoint]) -> None:
        lats = [p.lat for p in places] + [p.lat for p in points]
        lons = [p.lon for p in places] + [p.lon for p in points]
        if not lats:
            lats, lons = [36.0, 36.1], [120.3, 120.4]
        self.min_lat, self.max_lat = min(lats), max(lats)
        self.min_lon, self.max_lon = min(lons), max(lons)
        k = math.cos(math.radians((self.min_lat + self.max_lat) / 2))
        span_x = max((self.max_lon - self.min_lon) * k, 1e-3)
        span_y = max(self.max_lat - self.min_lat, 1e-3)
        self.k = k
        self.scale = min((MAP_W - 2 * MAP_PAD) / span_x, (MAP_H - 2 * MAP_PAD) / span_y)
        self.width, self.height = MAP_W, MAP_H

    def at(self, lat: float, lon: float) -> Projected:
        x = MAP_PAD + (lon - self.min_lon) * self.k * self.scale
        y = MAP_H - MAP_PAD - (lat - self.min_lat) * self.scale
        return Projected(round(x, 1), round(y, 1))
