"""The place index (services/core/reference/places.py): which unit's boundary holds a point."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.reference.places import EMPTY, build_places, read_boundary
from tests.helpers import square

DISTRICT, STREET, COMMUNITY, NEIGHBOUR = 2, 3, 4, 5
PLACES = build_places(
    [
        (DISTRICT, 2, square(120.0, 36.0, 0.1)),
        (STREET, 3, square(120.0, 36.0, 0.02)),
        (COMMUNITY, 4, square(120.005, 36.005, 0.002)),
        # A street of its own right beside STREET: they share the border lon = 120.02.
        (NEIGHBOUR, 3, square(120.04, 36.0, 0.02)),
    ]
)


@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        (36.0, 120.0, STREET),  # district and street hold it: the deeper one
        (36.005, 120.005, COMMUNITY),  # the deepest of three
        (36.05, 120.05, DISTRICT),  # in the district, in none of its streets
        (36.0, 120.03, NEIGHBOUR),
        # On the shared border both hold it: same depth, same area, the lower id wins,
        # whatever the order of the rows.
        (36.0, 120.02, STREET),
        (37.0, 121.0, None),  # outside every boundary
    ],
)
def test_the_deepest_unit_holding_the_point(lat: float, lon: float, unit: int | None) -> None:
    assert PLACES.unit_at(lat, lon) == unit


def test_the_answer_does_not_depend_on_the_order_of_the_rows() -> None:
    rows = [(NEIGHBOUR, 3, square(120.04, 36.0, 0.02)), (STREET, 3, square(120.0, 36.0, 0.02))]
    assert build_places(rows).unit_at(36.0, 120.02) == build_places(rows[::-1]).unit_at(
        36.0, 120.02
    )


def test_no_boundaries_places_nothing() -> None:
    assert not EMPTY
    assert EMPTY.unit_at(36.0, 120.0) is None


def test_a_multipolygon_holds_its_every_part() -> None:
    parts = [square(120.0, 36.0, 0.01)["coordinates"], square(121.0, 37.0, 0.01)["coordinates"]]
    places = build_places([(9, 2, {"type": "MultiPolygon", "coordinates": parts})])
    assert places.unit_at(37.0, 121.0) == 9
    assert places.unit_at(36.5, 120.5) is None


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ({"type": "Point", "coordinates": [120, 36]}, "Polygon or a MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[120, 36], [121, 36]]]}, "unreadable"),
        # A bow tie: the ring crosses itself.
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "self-intersecting",
        ),
        ({"type": "Polygon", "coordinates": [[[200, 36], [201, 36], [201, 37], [200, 36]]]},
         "longitude and latitude"),
        ({"type": "Polygon", "coordinates": "here"}, "invalid coordinates"),
        ("not even an object", "not a GeoJSON geometry"),
    ],
)  # fmt: skip
def test_what_cannot_be_an_area_is_named_in_both_languages(geometry: Any, says: str) -> None:
    area, error = read_boundary(geometry)
    assert area is None
    assert error is not None
    assert says in error.en
    assert error.zh
    assert error.zh != error.en


def test_a_stored_geometry_that_cannot_be_read_is_left_out_not_fatal() -> None:
    places = build_places([(1, 2, {"type": "Point"}), (2, 2, square(120.0, 36.0, 0.01))])
    assert len(places) == 1
    assert places.unit_at(36.0, 120.0) == 2
