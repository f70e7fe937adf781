"""territories.geometry: GeoJSON validation, import/export, and point-in-territory assignment.

Pure tests: no database, no shapely (only the module under test touches it).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from territories import geometry
from territories.geometry import (
    ASSIGNED,
    NO_GEOCODE,
    OUTSIDE_ALL,
    OVERLAP_TIE,
    Candidate,
    FeatureCollectionError,
    GeometryError,
    Problem,
    Shape,
    TerritoryIndex,
    feature_collection,
    read_feature_collection,
    shape_from_geojson,
)

R = geometry.EARTH_AUTHALIC_RADIUS_KM
BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A closed counter-clockwise rectangle ring."""
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(x0, y0, x1, y1)]}


def shape(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return shape_from_geojson(rect(x0, y0, x1, y1))


def rect_area_km2(x0: float, y0: float, x1: float, y1: float) -> float:
    """The exact area on the authalic sphere of a lng/lat rectangle."""
    return R**2 * math.radians(x1 - x0) * (math.sin(math.radians(y1)) - math.sin(math.radians(y0)))


def reason_of(geojson: Any, *, make_valid: bool = False) -> tuple[str, str]:
    with pytest.raises(GeometryError) as caught:
        shape_from_geojson(geojson, make_valid=make_valid)
    return caught.value.reason, caught.value.message


# ------------------------------------------------------------------------- bad geometry


@pytest.mark.parametrize(
    ("geojson", "reason", "message"),
    [
        pytest.param(
            BOW_TIE,
            "self_intersection",
            "Ring 0 (exterior) intersects itself at (0.5, 0.5).",
            id="bow-tie",
        ),
        pytest.param(
            {
                "type": "Polygon",
                "coordinates": [[[0, 0], [2, 0], [1, 1], [2, 2], [0, 2], [1, 1], [0, 0]]],
            },
            "self_intersection",
            "Ring 0 (exterior) intersects itself at (1, 1).",
            id="ring-touching-itself",
        ),
        pytest.param(
            {
                "type": "Polygon",
                "coordinates": [ring(0, 0, 4, 4), [[1, 1], [5, 1], [5, 2], [1, 1]]],
            },
            "self_intersection",
            "Ring 0 (exterior) and ring 1 (hole 1) cross each other at (4, 1.75).",
            id="hole-crossing-shell",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "unclosed_ring",
            "Ring 0 (exterior) is not closed: its first position [0, 0] differs from its last "
            "[0, 1].",
            id="unclosed",
        ),
        pytest.param(
            {
                "type": "Polygon",
                "coordinates": [ring(0, 0, 4, 4), [[1, 1], [2, 1], [2, 2], [1, 2]]],
            },
            "unclosed_ring",
            "Ring 1 (hole 1) is not closed: its first position [1, 1] differs from its last "
            "[1, 2].",
            id="unclosed-hole",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
            "too_few_points",
            "Ring 0 (exterior) has 3 positions; a ring needs at least 4, the last repeating the "
            "first.",
            id="three-positions",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[]]},
            "too_few_points",
            "Ring 0 (exterior) has 0 positions; a ring needs at least 4, the last repeating the "
            "first.",
            id="no-positions",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0], [0, 0]]]},
            "too_few_points",
            "Ring 0 (exterior) has fewer than 3 distinct positions at (0, 0).",
            id="repeated-positions",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [180.5, 0], [1, 1], [0, 0]]]},
            "out_of_range",
            "Ring 0 (exterior), position 1: longitude 180.5 is outside [-180, 180].",
            id="longitude-too-big",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[-181, 0], [1, 0], [1, 1], [-181, 0]]]},
            "out_of_range",
            "Ring 0 (exterior), position 0: longitude -181 is outside [-180, 180].",
            id="longitude-too-small",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 90.01], [0, 0]]]},
            "out_of_range",
            "Ring 0 (exterior), position 2: latitude 90.01 is outside [-90, 90].",
            id="latitude-too-big",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, -91], [1, 0], [1, 1], [0, -91]]]},
            "out_of_range",
            "Ring 0 (exterior), position 0: latitude -91 is outside [-90, 90].",
            id="latitude-too-small",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [ring(0, 0, 1, 1), ring(5, 5, 6, 6)]},
            "invalid",
            "Ring 1 (hole 1) lies outside the exterior ring at (5, 5).",
            id="hole-outside-shell",
        ),
        pytest.param(
            {
                "type": "Polygon",
                "coordinates": [ring(0, 0, 4, 4), [[0, 2], [2, 0], [4, 2], [2, 4], [0, 2]]],
            },
            "invalid",
            "The polygon is invalid: Interior is disconnected at (2, 0).",
            id="hole-cutting-the-polygon-apart",
        ),
        pytest.param(
            {
                "type": "Polygon",
                "coordinates": [ring(0, 0, 4, 4), ring(1, 1, 3, 3), ring(1.5, 1.5, 2, 2)],
            },
            "invalid",
            "Ring 2 (hole 2) lies inside ring 1 (hole 1) at (1.5, 1.5).",
            id="nested-holes",
        ),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 2, 2)], [ring(1, 1, 3, 3)]]},
            "self_intersection",
            "Polygons 0 and 1 of the MultiPolygon overlap at (1, 2) (Self-intersection).",
            id="multipolygon-parts-overlap",
        ),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 1, 1)], [ring(1, 0, 2, 1)]]},
            "self_intersection",
            "Polygons 0 and 1 of the MultiPolygon share an edge at (1, 1) (Self-intersection).",
            id="multipolygon-parts-share-an-edge",
        ),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": [[ring(5, 5, 6, 6)], BOW_TIE["coordinates"]]},
            "self_intersection",
            "Polygon 1, ring 0 (exterior) intersects itself at (0.5, 0.5).",
            id="multipolygon-bad-part",
        ),
        pytest.param(
            {
                "type": "MultiPolygon",
                "coordinates": [[ring(5, 5, 6, 6)], [[[0, 0], [1, 0], [1, 1]]]],
            },
            "too_few_points",
            "Polygon 1, ring 0 (exterior) has 3 positions; a ring needs at least 4, the last "
            "repeating the first.",
            id="multipolygon-short-ring",
        ),
    ],
)
def test_an_invalid_polygon_is_refused_with_its_reason_and_place(geojson, reason, message):
    assert reason_of(geojson) == (reason, message)


@pytest.mark.parametrize(
    ("geojson", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "The geometry type is Point; only Polygon "
         "and MultiPolygon are accepted."),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "The geometry type is "
         "LineString; only Polygon and MultiPolygon are accepted."),
        ({"type": "GeometryCollection", "geometries": [rect(0, 0, 1, 1)]}, "The geometry type is "
         "GeometryCollection; only Polygon and MultiPolygon are accepted."),
        ({"type": "Feature", "geometry": rect(0, 0, 1, 1)}, "The geometry type is Feature; only "
         "Polygon and MultiPolygon are accepted."),
        ({"type": "polygon", "coordinates": [ring(0, 0, 1, 1)]}, "The geometry type is "
         "polygon; only Polygon and MultiPolygon are accepted."),
        ({"coordinates": [ring(0, 0, 1, 1)]}, "The geometry type is None; only Polygon and "
         "MultiPolygon are accepted."),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "The geometry must be a GeoJSON object."),
        (None, "The geometry must be a GeoJSON object."),
        ([ring(0, 0, 1, 1)], "The geometry must be a GeoJSON object."),
        (42, "The geometry must be a GeoJSON object."),
    ],
)  # fmt: skip
def test_a_geometry_of_the_wrong_type_is_refused(geojson, message):
    assert reason_of(geojson) == ("wrong_type", message)


@pytest.mark.parametrize(
    ("geojson", "reason", "message"),
    [
        ({"type": "Polygon"}, "invalid", "The Polygon's coordinates must be a list."),
        ({"type": "Polygon", "coordinates": "0 0 1 1"}, "invalid",
         "The Polygon's coordinates must be a list."),
        ({"type": "Polygon", "coordinates": []}, "empty", "The Polygon has no rings."),
        ({"type": "MultiPolygon", "coordinates": []}, "empty", "The MultiPolygon has no polygons."),
        ({"type": "MultiPolygon", "coordinates": [[ring(0, 0, 1, 1)], []]}, "empty",
         "Polygon 1 has no rings."),
        ({"type": "MultiPolygon", "coordinates": [ring(0, 0, 1, 1)[0]]}, "invalid",
         "Polygon 0, ring 0 (exterior) must be a list of positions."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [True, 0], [1, 1], [0, 0]]]}, "invalid",
         "Ring 0 (exterior), position 1: [True, 0] is not a [longitude, latitude] pair of "
         "numbers."),
        ({"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]}, "invalid",
         "Ring 0 (exterior), position 1: ['1', 0] is not a [longitude, latitude] pair of "
         "numbers."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}, "invalid",
         "Ring 0 (exterior), position 1: [1] is not a [longitude, latitude] pair of numbers."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]]}, "invalid",
         "Ring 0 (exterior), position 1: [1, 0, 0, 0] is not a [longitude, latitude] pair of "
         "numbers."),
        ({"type": "Polygon", "coordinates": [[[0, 0], None, [1, 1], [0, 0]]]}, "invalid",
         "Ring 0 (exterior), position 1: None is not a [longitude, latitude] pair of numbers."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [math.nan, 0], [1, 1], [0, 0]]]},
         "invalid", "Ring 0 (exterior), position 1 has a coordinate that is not finite."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, math.inf], [0, 0]]]},
         "invalid", "Ring 0 (exterior), position 2 has a coordinate that is not finite."),
        ({"type": "Polygon", "coordinates": [[[0, 0], [10**400, 0], [1, 1], [0, 0]]]},
         "invalid", "Ring 0 (exterior), position 1 has a coordinate that is not finite."),
        ({"type": "Polygon", "coordinates": [[[0, 0], list(range(1000)), [1, 1], [0, 0]]]},
         "invalid", "Ring 0 (exterior), position 1: [0, 1, 2, 3, 4, 5, ...] is not a "
         "[longitude, latitude] pair of numbers."),
    ],
)  # fmt: skip
def test_malformed_coordinates_are_refused_before_shapely_sees_them(geojson, reason, message):
    assert reason_of(geojson) == (reason, message)


def test_the_coordinate_range_includes_its_limits():
    world = shape_from_geojson(rect(-180, -90, 180, 90))

    assert world.bounds == (-180.0, -90.0, 180.0, 90.0)
    assert world.area == pytest.approx(4 * math.pi * R**2, rel=1e-12)


def test_an_altitude_is_accepted_and_dropped():
    with_altitude = {
        "type": "Polygon",
        "coordinates": [[[0, 0, 10], [1, 0, 12.5], [1, 1, 0], [0, 1, 3], [0, 0, 10]]],
    }

    assert shape_from_geojson(with_altitude) == shape(0, 0, 1, 1)


def test_tuples_are_taken_as_lists():
    as_tuples = {"type": "Polygon", "coordinates": (tuple(tuple(p) for p in ring(0, 0, 1, 1)),)}

    assert shape_from_geojson(as_tuples) == shape(0, 0, 1, 1)


def test_a_long_type_name_is_cut_short_in_the_message():
    assert reason_of({"type": "x" * 10_000, "coordinates": []}) == (
        "wrong_type",
        f"The geometry type is {'x' * 40}; only Polygon and MultiPolygon are accepted.",
    )


def test_an_unclosed_ring_is_never_closed_for_the_caller_even_with_make_valid():
    unclosed = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}

    assert reason_of(unclosed, make_valid=True)[0] == "unclosed_ring"


# ---------------------------------------------------------------------------- make_valid


def test_make_valid_repairs_only_when_asked():
    # without make_valid the bow-tie is refused
    assert reason_of(BOW_TIE)[0] == "self_intersection"

    # with it, the bow-tie becomes its two triangles
    repaired = shape_from_geojson(BOW_TIE, make_valid=True)

    assert repaired.geojson() == {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]]],
            [[[0.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 0.0]]],
        ],
    }
    assert repaired.vertices == 8
    assert repaired.bounds == (0.0, 0.0, 1.0, 1.0)
    assert repaired.area == pytest.approx(rect_area_km2(0, 0, 1, 1) / 2, rel=1e-4)


def test_make_valid_leaves_a_valid_polygon_as_it_is():
    assert shape_from_geojson(rect(2, 3, 4, 5), make_valid=True) == shape(2, 3, 4, 5)


def test_make_valid_refuses_a_ring_with_no_area_left():
    spike = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}

    assert reason_of(spike) == (
        "self_intersection",
        "Ring 0 (exterior) intersects itself at (1, 0).",
    )
    assert reason_of(spike, make_valid=True) == (
        "self_intersection",
        "Ring 0 (exterior) intersects itself at (1, 0). Repairing it (make_valid) leaves no area.",
    )


# ----------------------------------------------------------------------------------- Shape


def test_a_shape_carries_area_bounds_and_vertices():
    donut = shape_from_geojson(
        {"type": "Polygon", "coordinates": [ring(10, 40, 14, 44), ring(11, 41, 12, 42)]}
    )

    assert donut.bounds == (10.0, 40.0, 14.0, 44.0)
    assert donut.vertices == 10
    assert donut.area == pytest.approx(
        rect_area_km2(10, 40, 14, 44) - rect_area_km2(11, 41, 12, 42), rel=1e-12
    )


def test_area_is_in_square_kilometres_and_shrinks_towards_the_poles():
    at_equator = shape(0, 0, 1, 1).area
    at_sixty = shape(0, 60, 1, 61).area

    assert at_equator == pytest.approx(12363.7119, abs=1e-3)
    assert at_sixty == pytest.approx(rect_area_km2(0, 60, 1, 61), rel=1e-12)
    assert at_sixty / at_equator == pytest.approx(0.4924, abs=1e-4)


def test_a_multipolygon_area_is_the_sum_of_its_parts():
    both = shape_from_geojson(
        {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 1, 1)], [ring(5, 5, 7, 6)]]}
    )

    assert both.area == pytest.approx(
        rect_area_km2(0, 0, 1, 1) + rect_area_km2(5, 5, 7, 6), rel=1e-12
    )
    assert both.vertices == 10
    assert both.bounds == (0.0, 0.0, 7.0, 6.0)


def test_geojson_out_winds_exteriors_counter_clockwise_and_holes_clockwise():
    clockwise_shell = ring(0, 0, 4, 4)[::-1]
    counter_clockwise_hole = ring(1, 1, 2, 2)

    out = shape_from_geojson(
        {"type": "Polygon", "coordinates": [clockwise_shell, counter_clockwise_hole]}
    ).geojson()

    assert out == {
        "type": "Polygon",
        "coordinates": [
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0], [1.0, 1.0]],
        ],
    }


def test_a_shape_comes_back_from_its_wkb():
    donut = shape_from_geojson(
        {"type": "Polygon", "coordinates": [ring(10, 40, 14, 44), ring(11, 41, 12, 42)]}
    )

    assert Shape.from_wkb(donut.wkb) == donut
    # (a BinaryField reads back as a memoryview on PostgreSQL)
    assert Shape.from_wkb(memoryview(donut.wkb)) == donut
    rebuilt = Shape(memoryview(donut.wkb), donut.area, donut.bounds, donut.vertices)  # type: ignore[arg-type]
    assert rebuilt == donut
    assert TerritoryIndex([(1, rebuilt, 1, 1)]).assign_one(13, 43) == (1, "")


# -------------------------------------------------------------------------------- features


def feature(geometry_: Any, *, id_: Any = None, **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Feature", "properties": properties, "geometry": geometry_}
    if id_ is not None:
        out["id"] = id_
    return out


def test_every_bad_feature_is_reported_with_its_index_id_and_reason():
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(rect(0, 0, 1, 1), id_="OK"),
            feature(BOW_TIE, id_="A"),
            {"type": "Point", "coordinates": [0, 0]},
            {"type": "Feature", "id": 7, "properties": {}},
            feature(None, code="C4"),
            feature(
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, code="C5"
            ),
            {"type": "Feature", "properties": ["x"], "geometry": rect(0, 0, 1, 1)},
            feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, id_="L"),
            feature(rect(0, 0, 1, 95)),
            feature(rect(5, 5, 6, 6), id_="fine too"),
        ],
    }

    with pytest.raises(FeatureCollectionError) as caught:
        read_feature_collection(collection)

    assert caught.value.problems == [
        Problem(
            1,
            "A",
            "self_intersection",
            "Feature 1 (A): Ring 0 (exterior) intersects itself at (0.5, 0.5).",
        ),
        Problem(2, None, "wrong_type", "Feature 2 is not a GeoJSON Feature."),
        Problem(3, "7", "invalid", "Feature 3 (7) has no geometry."),
        Problem(4, "C4", "empty", "Feature 4 (C4) has a null geometry."),
        Problem(
            5,
            "C5",
            "unclosed_ring",
            "Feature 5 (C5): Ring 0 (exterior) is not closed: its first position [0, 0] "
            "differs from its last [0, 1].",
        ),
        Problem(6, None, "invalid", "Feature 6: properties must be an object or null."),
        Problem(
            7,
            "L",
            "wrong_type",
            "Feature 7 (L): The geometry type is LineString; only Polygon and MultiPolygon are "
            "accepted.",
        ),
        Problem(
            8,
            None,
            "out_of_range",
            "Feature 8: Ring 0 (exterior), position 2: latitude 95 is outside [-90, 90].",
        ),
    ]
    assert caught.value.details()[0] == {
        "index": 1,
        "id": "A",
        "reason": "self_intersection",
        "message": "Feature 1 (A): Ring 0 (exterior) intersects itself at (0.5, 0.5).",
    }
    assert str(caught.value).startswith("8 invalid features: Feature 1 (A): ")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"type": "Feature", "geometry": rect(0, 0, 1, 1), "properties": {}}, "wrong_type"),
        (rect(0, 0, 1, 1), "wrong_type"),
        ([feature(rect(0, 0, 1, 1))], "wrong_type"),
        ("garbage", "wrong_type"),
        ({"type": "FeatureCollection"}, "invalid"),
        ({"type": "FeatureCollection", "features": {"0": feature(rect(0, 0, 1, 1))}}, "invalid"),
    ],
)
def test_something_else_than_a_feature_collection_is_refused(data, reason):
    with pytest.raises(FeatureCollectionError) as caught:
        read_feature_collection(data)

    assert [(p.feature_index, p.feature_id, p.reason) for p in caught.value.problems] == [
        (None, None, reason)
    ]


def test_make_valid_applies_to_every_feature_of_a_collection():
    collection = {"type": "FeatureCollection", "features": [feature(BOW_TIE, code="BT")]}

    [repaired] = read_feature_collection(collection, make_valid=True)

    assert repaired.id == "BT"
    assert repaired.shape.geojson()["type"] == "MultiPolygon"


def test_the_feature_id_is_its_id_member_else_its_code():
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(rect(0, 0, 1, 1), id_="north", code="N-1"),
            feature(rect(0, 0, 1, 1), code="S-1"),
            feature(rect(0, 0, 1, 1), id_=12),
            feature(rect(0, 0, 1, 1), code=True),
            {"type": "Feature", "properties": None, "geometry": rect(0, 0, 1, 1)},
        ],
    }

    features = read_feature_collection(collection)

    assert [(f.index, f.id) for f in features] == [
        (0, "north"),
        (1, "S-1"),
        (2, "12"),
        (3, None),
        (4, None),
    ]
    assert features[4].properties == {}


def test_export_then_import_gives_back_the_same_features():
    shapes = [
        shape_from_geojson(
            {"type": "Polygon", "coordinates": [ring(10, 40, 14, 44), ring(11, 41, 12, 42)]}
        ),
        shape_from_geojson(
            {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 1, 1)], [ring(5, 5, 7, 6)]]}
        ),
        shape(-3.7071, 40.4168, -3.6, 40.5),
    ]
    properties: list[dict[str, Any]] = [
        {"code": "DONUT", "name": "Around the lake", "priority": 2},
        {"code": 17, "name": "Islands"},
        {"name": "No code"},
    ]

    exported = feature_collection(zip(shapes, properties, strict=True))
    imported = read_feature_collection(json.loads(json.dumps(exported)))

    assert [(f.index, f.id, f.properties, f.shape) for f in imported] == [
        (0, "DONUT", properties[0], shapes[0]),
        (1, "17", properties[1], shapes[1]),
        (2, None, properties[2], shapes[2]),
    ]
    assert exported["features"][0]["id"] == "DONUT"
    assert "id" not in exported["features"][2]


# ------------------------------------------------------------------------------ assignment


def test_priority_beats_area():
    index = TerritoryIndex(
        [
            (1, shape(0, 0, 10, 10), 1, 5),  # big, rank 1
            (2, shape(4, 4, 5, 5), 2, 0),  # small, rank 2
        ]
    )

    assert index.assign_one(4.5, 4.5) == (1, "")
    assert index.containing(4.5, 4.5) == [1, 2]


def test_area_beats_order():
    index = TerritoryIndex([(1, shape(0, 0, 10, 10), 1, 0), (2, shape(4, 4, 5, 5), 1, 9)])

    assert index.assign_one(4.5, 4.5) == (2, "")
    assert index.containing(4.5, 4.5) == [2, 1]


def test_the_explicit_order_decides_between_equal_priority_and_area():
    index = TerritoryIndex([(1, shape(0, 0, 1, 1), 3, 2), (2, shape(0, 0, 1, 1), 3, 1)])

    assert index.assign_one(0.5, 0.5) == (2, "")
    assert index.containing(0.5, 0.5) == [2, 1]


def test_a_full_tie_is_an_overlap_tie():
    index = TerritoryIndex(
        [(1, shape(0, 0, 1, 1), 3, 1), (2, shape(0, 0, 1, 1), 3, 1), (3, shape(0, 0, 4, 4), 3, 0)]
    )

    assert index.assign_one(0.5, 0.5) == (None, "overlap_tie")
    assert index.containing(0.5, 0.5) == [1, 2, 3]  # tied ones by key
    result = index.assign(np.array([0.5, 2.5]), np.array([0.5, 2.5]))
    assert result.keys.tolist() == [-1, 3]
    assert result.reasons.tolist() == [OVERLAP_TIE, ASSIGNED]
    assert [result.reason(0), result.reason(1)] == ["overlap_tie", ""]


def test_a_lower_ranked_tie_does_not_make_a_winner_tie():
    index = TerritoryIndex(
        [(1, shape(0, 0, 1, 1), 5, 1), (2, shape(0, 0, 1, 1), 5, 1), (3, shape(0, 0, 4, 4), 1, 9)]
    )

    assert index.assign_one(0.5, 0.5) == (3, "")
    assert index.assign(np.array([0.5]), np.array([0.5])).keys.tolist() == [3]


def test_float_noise_in_the_area_does_not_outrank_the_explicit_order():
    left, right = shape(10.7, 45.1, 10.8, 45.2), shape(10.8, 45.1, 10.9, 45.2)
    assert left.area != right.area  # congruent, but the sums round differently
    assert left.area == pytest.approx(right.area, rel=1e-12)

    index = TerritoryIndex([(1, left, 1, 1), (2, right, 1, 2)])

    assert index.assign_one(10.8, 45.15) == (1, "")


@pytest.mark.parametrize(("left_order", "right_order", "winner"), [(2, 1, 20), (1, 2, 10)])
def test_a_point_on_a_shared_edge_goes_to_one_territory_every_time(left_order, right_order, winner):
    # given two equal squares side by side, sharing the edge x = 7.4
    left, right = shape(7.3, 45.1, 7.4, 45.2), shape(7.4, 45.1, 7.5, 45.2)
    candidates = [(10, left, 1, left_order), (20, right, 1, right_order)]
    lngs = np.full(5, 7.4)
    lats = np.array([45.1, 45.12, 45.15, 45.18, 45.2])  # along the edge, both ends included

    for order in (candidates, candidates[::-1]):
        index = TerritoryIndex(order)
        # when the points on the edge are assigned, in bulk and one by one, several times
        answers = [index.assign(lngs, lats).keys.tolist() for _ in range(3)]
        singles = [index.assign_one(7.4, float(lat)) for lat in lats for _ in range(3)]

        # then each goes to the square that the explicit order prefers, every time
        assert answers == [[winner] * 5] * 3
        assert singles == [(winner, "")] * 15
        assert index.containing(7.4, 45.15) == [winner, 30 - winner]


def test_a_vertex_shared_by_four_squares_goes_to_one_of_them():
    index = TerritoryIndex(
        [
            (1, shape(0, 0, 1, 1), 1, 4),
            (2, shape(1, 0, 2, 1), 1, 2),
            (3, shape(0, 1, 1, 2), 1, 1),
            (4, shape(1, 1, 2, 2), 1, 3),
        ]
    )

    # the upper row is smaller (nearer the pole), so it comes first, each row by order
    assert index.containing(1, 1) == [3, 4, 2, 1]
    assert index.assign_one(1, 1) == (3, "")
    assert index.assign(np.array([1.0, 1.0]), np.array([1.0, 1.0])).keys.tolist() == [3, 3]


def test_a_vertex_shared_by_four_squares_of_equal_area_goes_by_order():
    # symmetric about the equator: the four areas are equal
    index = TerritoryIndex(
        [
            (1, shape(0, -1, 1, 0), 1, 4),
            (2, shape(1, -1, 2, 0), 1, 2),
            (3, shape(0, 0, 1, 1), 1, 1),
            (4, shape(1, 0, 2, 1), 1, 3),
        ]
    )

    assert index.containing(1, 0) == [3, 2, 4, 1]
    assert index.assign_one(1, 0) == (3, "")
    assert index.assign(np.array([1.0]), np.array([0.0])).keys.tolist() == [3]


def test_a_point_without_geocode_gets_no_geocode():
    index = TerritoryIndex([(1, shape(-180, -90, 180, 90), 1, 1)])

    assert index.assign_one(None, 45.0) == (None, "no_geocode")
    assert index.assign_one(2.0, None) == (None, "no_geocode")
    assert index.assign_one(math.nan, 45.0) == (None, "no_geocode")
    assert index.assign_one(2.0, math.inf) == (None, "no_geocode")
    assert index.containing(math.nan, 1.0) == []
    result = index.assign(np.array([np.nan, 2.0, 2.0, 3.0]), np.array([45.0, np.nan, -np.inf, 4.0]))
    assert result.keys.tolist() == [-1, -1, -1, 1]
    assert result.reasons.tolist() == [NO_GEOCODE, NO_GEOCODE, NO_GEOCODE, ASSIGNED]


def test_single_assignment_takes_decimals_from_the_database():
    index = TerritoryIndex([(1, shape(2, 48, 3, 49), 1, 1)])

    assert index.assign_one(Decimal("2.352222"), Decimal("48.856613")) == (1, "")
    assert index.containing(Decimal("2.352222"), Decimal("48.856613")) == [1]
    assert index.assign_one(Decimal("NaN"), Decimal("48.8")) == (None, "no_geocode")


def test_a_point_outside_every_territory_is_outside_all():
    index = TerritoryIndex([(1, shape(0, 0, 1, 1), 1, 1)])

    assert index.assign_one(1.5, 0.5) == (None, "outside_all")
    assert index.assign_one(1.0000001, 0.5) == (None, "outside_all")
    assert index.containing(1.5, 0.5) == []
    result = index.assign(np.array([1.5, 0.5, 200.0]), np.array([0.5, 0.5, 0.5]))
    assert result.keys.tolist() == [-1, 1, -1]
    assert result.reasons.tolist() == [OUTSIDE_ALL, ASSIGNED, OUTSIDE_ALL]
    assert result.reason_counts() == {"": 1, "no_geocode": 0, "outside_all": 2, "overlap_tie": 0}


def test_an_empty_index_assigns_nothing():
    index = TerritoryIndex([])

    assert len(index) == 0
    assert index.assign_one(1.0, 1.0) == (None, "outside_all")
    result = index.assign(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert result.keys.tolist() == [-1, -1]
    assert result.reasons.tolist() == [OUTSIDE_ALL, NO_GEOCODE]
    assert len(index.assign(np.array([]), np.array([]))) == 0


def test_a_multipolygon_territory_takes_points_in_each_of_its_parts():
    islands = shape_from_geojson(
        {"type": "MultiPolygon", "coordinates": [[ring(0, 0, 1, 1)], [ring(5, 5, 7, 6)]]}
    )
    index = TerritoryIndex([(1, islands, 1, 1)])

    result = index.assign(np.array([0.5, 6.0, 3.0]), np.array([0.5, 5.5, 3.0]))

    assert result.keys.tolist() == [1, 1, -1]
    assert result.reasons.tolist() == [ASSIGNED, ASSIGNED, OUTSIDE_ALL]
    assert [index.assign_one(0.5, 0.5), index.assign_one(3.0, 3.0)] == [
        (1, ""),
        (None, "outside_all"),
    ]


def test_a_point_in_a_hole_is_outside_unless_a_territory_fills_it():
    donut = shape_from_geojson(
        {"type": "Polygon", "coordinates": [ring(0, 0, 4, 4), ring(1, 1, 2, 2)]}
    )
    alone = TerritoryIndex([(1, donut, 1, 1)])
    filled = TerritoryIndex([(1, donut, 1, 1), (2, shape(1, 1, 2, 2), 1, 2)])
    lngs, lats = np.array([1.5, 3.0, 1.0]), np.array([1.5, 3.0, 1.5])  # hole, ring, hole's edge

    assert alone.assign(lngs, lats).keys.tolist() == [-1, 1, 1]
    assert alone.assign_one(1.5, 1.5) == (None, "outside_all")
    # on the hole's edge both cover the point; the filler is smaller
    assert filled.assign(lngs, lats).keys.tolist() == [2, 1, 2]
    assert filled.containing(1.0, 1.5) == [2, 1]


def test_candidates_are_checked():
    with pytest.raises(ValueError, match="keys must be unique"):
        TerritoryIndex([(1, shape(0, 0, 1, 1), 1, 1), (1, shape(2, 2, 3, 3), 1, 2)])
    index = TerritoryIndex([Candidate(key=7, shape=shape(0, 0, 1, 1), priority=1, order=1)])
    assert index.keys.tolist() == [7]
    with pytest.raises(ValueError, match="1-D arrays of the same length"):
        index.assign(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        index.keys[0] = 8  # read-only


def random_rectangles(
    rng: np.random.Generator,
) -> list[tuple[int, Shape, int, int, tuple[float, ...]]]:
    """Rectangles on a 0.5° lattice (so many points fall exactly on edges and corners), with a
    tiling of equal cells underneath, random overlays on top, and exact duplicates (ties)."""
    out: list[tuple[int, Shape, int, int, tuple[float, ...]]] = []
    key = 0
    for column in range(8):
        for row in range(6):
            box = (column * 0.5, row * 0.5, column * 0.5 + 0.5, row * 0.5 + 0.5)
            out.append((key, shape(*box), 3, int(rng.integers(0, 4)), box))
            key += 1
    for _ in range(25):
        x0, y0 = rng.integers(0, 8) * 0.5, rng.integers(0, 6) * 0.5
        box = (x0, y0, x0 + rng.integers(1, 4) * 0.5, y0 + rng.integers(1, 4) * 0.5)
        priority, order = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        out.append((key, shape(*box), priority, order, box))
        key += 1
        if rng.random() < 0.3:  # an exact twin: a full tie wherever it wins
            out.append((key, shape(*box), priority, order, box))
            key += 1
    return out


def reference_assignment(rectangles, lng: float, lat: float) -> tuple[int | None, str]:
    """The documented rules, computed without shapely: boundary-inclusive rectangles;
    priority, then area to 9 significant digits, then order, all lower first."""
    if not (math.isfinite(lng) and math.isfinite(lat)):
        return None, "no_geocode"
    hits = sorted(
        (priority, float(f"{s.area:.9g}"), order, key)
        for key, s, priority, order, (x0, y0, x1, y1) in rectangles
        if x0 <= lng <= x1 and y0 <= lat <= y1
    )
    if not hits:
        return None, "outside_all"
    if len(hits) > 1 and hits[0][:3] == hits[1][:3]:
        return None, "overlap_tie"
    return hits[0][3], ""


def test_bulk_and_single_assignment_agree_with_the_rules_on_random_points(monkeypatch):
    # given random rectangles, and points: uniform, on the lattice (edges, corners), outside,
    # and without geocode
    rng = np.random.default_rng(20240604)
    rectangles = random_rectangles(rng)
    index = TerritoryIndex([(key, s, priority, order) for key, s, priority, order, _ in rectangles])
    lngs = np.concatenate(
        [
            rng.uniform(-0.5, 5.0, 3000),
            rng.integers(-1, 10, 1000) * 0.5,
            rng.uniform(-0.5, 5.0, 500),
            np.full(50, np.nan),
        ]
    )
    lats = np.concatenate(
        [
            rng.uniform(-0.5, 4.0, 3000),
            rng.integers(-1, 8, 1000) * 0.5,
            rng.integers(-1, 8, 500) * 0.5,
            rng.uniform(0, 3, 50),
        ]
    )
    # (small chunks, so that the chunking is exercised too)
    monkeypatch.setattr(geometry, "_CHUNK", 333)

    # when they are assigned in bulk and one by one
    bulk = index.assign(lngs, lats)
    single = [index.assign_one(float(x), float(y)) for x, y in zip(lngs, lats, strict=True)]

    # then both give the rules' answer for every point
    expected = [
        reference_assignment(rectangles, float(x), float(y))
        for x, y in zip(lngs, lats, strict=True)
    ]
    assert single == expected
    bulk_answers = [
        (None if key == -1 else int(key), bulk.reason(n)) for n, key in enumerate(bulk.keys)
    ]
    assert bulk_answers == expected
    # and the sample holds every case
    counts = bulk.reason_counts()
    assert counts["no_geocode"] == 50
    assert min(counts.values()) > 0, counts
