"""Territory geometry: GeoJSON in and out, validation, and point-in-polygon assignment.

This is the only module of the project that imports shapely. What it hands out holds no shapely
object: a ``Shape`` is WKB bytes plus the figures the rest of the app needs (area, bounds,
vertex count), and an ``Assignment`` is two numpy arrays.

Conventions the callers must know:

- Coordinates are GeoJSON's: ``[longitude, latitude]`` in degrees (WGS 84), longitude in
  [-180, 180], latitude in [-90, 90]. Edges are straight lines in that coordinate space
  (RFC 7946, section 3.1.1). Nothing here handles the antimeridian.
- **Priority: the lower number wins** ("rank 1" beats "rank 2"). Overlaps are resolved by
  priority, then by the smaller area, then by the lower explicit ``order``; a point whose best
  candidates are equal in all three gets no territory and the reason ``overlap_tie``.
- Point-in-territory is **boundary-inclusive** (``intersects``): a point on an edge shared by two
  territories is a candidate of both, and the tie-break above picks one, the same one every
  time. A point in a hole is outside.
- ``Shape.area`` is in **square kilometres**: the exact area, on the authalic sphere
  (R = 6371.0072 km, which has the WGS 84 ellipsoid's surface area), of the region whose edges
  are straight in longitude/latitude. Tie-breaks compare it to 9 significant digits, so that
  rounding noise between two congruent territories never outranks the explicit order.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, SupportsFloat

import numpy as np
import numpy.typing as npt
import shapely

Reason = Literal[
    "wrong_type",
    "unclosed_ring",
    "too_few_points",
    "self_intersection",
    "out_of_range",
    "empty",
    "invalid",
]

EARTH_AUTHALIC_RADIUS_KM: Final = 6371.0072
_AREA_DIGITS: Final = 9  # significant digits of the area in tie-breaks
_LOCATION = re.compile(r"^(?P<what>[^\[]*)\[(?P<x>\S+) (?P<y>\S+)\]$")


# ---------------------------------------------------------------------------------- errors


class GeometryError(Exception):
    """A geometry that cannot be a territory. ``reason`` is a stable code for clients,
    ``message`` says what is wrong and where (the ring, the position or the location)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message


class Problem(NamedTuple):
    """One bad feature of a collection: ``(feature_index, feature_id, reason, message)``;
    ``feature_index`` is None when the collection itself is bad."""

    feature_index: int | None
    feature_id: str | None
    reason: Reason
    message: str


class FeatureCollectionError(Exception):
    """A FeatureCollection with one or more bad features; ``problems`` lists every one of
    them, in order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        first = self.problems[0].message if self.problems else ""
        summary = f"{count} invalid feature{'s' if count != 1 else ''}"
        super().__init__(f"{summary}: {first}" if count > 1 else first or summary)

    def details(self) -> list[dict[str, Any]]:
        """The problems as JSON-ready dicts (``index``, ``id``, ``reason``, ``message``)."""
        return [
            {"index": p.feature_index, "id": p.feature_id, "reason": p.reason, "message": p.message}
            for p in self.problems
        ]


# ---------------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    """A validated Polygon or MultiPolygon, held without shapely.

    ``wkb``: little-endian 2-D WKB of the geometry, exterior rings counter-clockwise and holes
    clockwise (RFC 7946's winding). ``area``: km² (see the module docstring). ``bounds``:
    ``(min_lng, min_lat, max_lng, max_lat)``. ``vertices``: the number of positions, counting
    each ring's closing one.
    """

    wkb: bytes
    area: float
    bounds: tuple[float, float, float, float]
    vertices: int

    def __post_init__(self) -> None:
        # A BinaryField reads back as a memoryview on PostgreSQL; shapely takes only bytes.
        if not isinstance(self.wkb, bytes):
            object.__setattr__(self, "wkb", bytes(self.wkb))

    def geojson(self) -> dict[str, Any]:
        """The GeoJSON geometry (``Polygon`` or ``MultiPolygon``) with list coordinates."""
        geometry = shapely.from_wkb(self.wkb)
        polygons = [_polygon_coordinates(part) for part in _polygons_of(geometry)]
        if shapely.get_type_id(geometry) == shapely.GeometryType.POLYGON:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}

    @classmethod
    def from_wkb(cls, wkb: bytes | bytearray | memoryview) -> Shape:
        """A shape from stored WKB (trusted: not validated again, only its type is checked),
        its area, bounds and vertices computed afresh."""
        geometry = shapely.from_wkb(bytes(wkb))
        if shapely.get_type_id(geometry) not in _POLYGONAL:
            raise GeometryError("wrong_type", "The stored geometry is not a (Multi)Polygon.")
        return _shape_of(geometry)


_POLYGONAL: Final = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def shape_from_geojson(geometry: Any, *, make_valid: bool = False) -> Shape:
    """Validate a GeoJSON geometry dict and return its ``Shape``; raise ``GeometryError``.

    Only ``Polygon`` and ``MultiPolygon`` are accepted. Every ring must be a list of
    ``[lng, lat]`` number pairs (a third number, an altitude, is accepted and dropped; booleans
    are not numbers), with at least 4 positions, the last equal to the first (a ring is never
    closed for the caller), and every position in range. Then the geometry must be valid
    (OGC): no self-intersection, holes inside their shell, and so on. With ``make_valid``, a
    geometry that passed the first checks but is invalid is repaired (``shapely.make_valid``,
    the "structure" method) and only its polygonal part is kept; without it, nothing is ever
    repaired.
    """
    polygons = _parse_geometry(geometry)
    single = geometry["type"] == "Polygon"
    built = [shapely.Polygon(rings[0], rings[1:]) for rings in polygons]
    candidate: shapely.Geometry = built[0] if single else shapely.multipolygons(built)
    problem = _validity_problem(candidate, polygons, single=single)
    if problem is not None:
        if not make_valid:
            raise problem
        candidate = _repaired(candidate, problem)
    return _shape_of(shapely.orient_polygons(candidate, exterior_cw=False))


def _parse_geometry(geometry: Any) -> list[list[npt.NDArray[np.float64]]]:
    """The polygons of a GeoJSON (Multi)Polygon as lists of rings, each an (n, 2) array."""
    if not isinstance(geometry, dict):
        raise GeometryError("wrong_type", "The geometry must be a GeoJSON object.")
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        shown = kind[:40] if isinstance(kind, str) else _shown(kind)
        raise GeometryError(
            "wrong_type",
            f"The geometry type is {shown}; only Polygon and MultiPolygon are accepted.",
        )
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list | tuple):
        raise GeometryError("invalid", f"The {kind}'s coordinates must be a list.")
    if kind == "Polygon":
        if not coordinates:
            raise GeometryError("empty", "The Polygon has no rings.")
        return [_parse_rings(coordinates, "")]
    if not coordinates:
        raise GeometryError("empty", "The MultiPolygon has no polygons.")
    polygons = []
    for number, rings in enumerate(coordinates):
        if not isinstance(rings, list | tuple):
            raise GeometryError("invalid", f"Polygon {number} must be a list of rings.")
        if not rings:
            raise GeometryError("empty", f"Polygon {number} has no rings.")
        polygons.append(_parse_rings(rings, f"Polygon {number}, "))
    return polygons


def _ring_name(number: int) -> str:
    return "ring 0 (exterior)" if number == 0 else f"ring {number} (hole {number})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """``repr`` cut short: error messages echo what the client sent."""
    return reprlib.repr(value)


def _parse_rings(rings: Sequence[Any], prefix: str) -> list[npt.NDArray[np.float64]]:
    parsed = []
    for number, ring in enumerate(rings):
        where = f"{prefix}{_ring_name(number)}"
        where = where[0].upper() + where[1:]
        if not isinstance(ring, list | tuple):
            raise GeometryError("invalid", f"{where} must be a list of positions.")
        for position_number, position in enumerate(ring):
            if not (
                isinstance(position, list | tuple)
                and len(position) in (2, 3)
                and all(_is_number(value) for value in position)
            ):
                raise GeometryError(
                    "invalid",
                    f"{where}, position {position_number}: {_shown(position)} is not a "
                    "[longitude, latitude] pair of numbers.",
                )
        if len(ring) < 4:
            raise GeometryError(
                "too_few_points",
                f"{where} has {len(ring)} position{'s' if len(ring) != 1 else ''}; a ring needs "
                "at least 4, the last repeating the first.",
            )
        try:
            coords = np.array([position[:2] for position in ring], dtype=np.float64)
        except OverflowError:  # an integer too large for a float
            coords = np.array(
                [[_float_or_inf(value) for value in position[:2]] for position in ring]
            )
        bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
        if bad.size:
            raise GeometryError(
                "invalid", f"{where}, position {int(bad[0])} has a coordinate that is not finite."
            )
        if not np.array_equal(coords[0], coords[-1]):
            raise GeometryError(
                "unclosed_ring",
                f"{where} is not closed: its first position {_pair(coords[0])} differs from "
                f"its last {_pair(coords[-1])}.",
            )
        lng_bad = np.flatnonzero(np.abs(coords[:, 0]) > 180)
        if lng_bad.size:
            index = int(lng_bad[0])
            raise GeometryError(
                "out_of_range",
                f"{where}, position {index}: longitude {coords[index, 0]:g} is outside "
                "[-180, 180].",
            )
        lat_bad = np.flatnonzero(np.abs(coords[:, 1]) > 90)
        if lat_bad.size:
            index = int(lat_bad[0])
            raise GeometryError(
                "out_of_range",
                f"{where}, position {index}: latitude {coords[index, 1]:g} is outside [-90, 90].",
            )
        parsed.append(coords)
    return parsed


def _float_or_inf(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _pair(coords: npt.NDArray[np.float64]) -> str:
    return f"[{coords[0]:g}, {coords[1]:g}]"


def _validity_problem(
    geometry: shapely.Geometry,
    polygons: list[list[npt.NDArray[np.float64]]],
    *,
    single: bool,
) -> GeometryError | None:
    """Why a well-formed geometry is not valid, naming the ring and the location; or None."""
    explanation = str(shapely.is_valid_reason(geometry))
    if explanation == "Valid Geometry":
        return None
    what, location = _split_location(explanation)
    reason = _reason_for(what)
    at = f" at {location}" if location else ""
    for number, (part, rings) in enumerate(zip(_polygons_of(geometry), polygons, strict=True)):
        if shapely.is_valid(part):
            continue
        prefix = "" if single else f"polygon {number}, "
        part_what, part_location = _split_location(str(shapely.is_valid_reason(part)))
        return GeometryError(
            _reason_for(part_what),
            _describe_polygon_problem(part_what, part_location, rings, prefix),
        )
    # Every polygon is valid by itself: two of them overlap, nest or share an edge.
    return GeometryError(reason, f"{_overlapping_parts(geometry)}{at} ({what}).")


def _overlapping_parts(multipolygon: shapely.Geometry) -> str:
    """Which two polygons of an invalid MultiPolygon of valid polygons clash, and how."""
    parts = _polygons_of(multipolygon)
    for first, second in zip(*shapely.STRtree(parts).query(parts).tolist(), strict=True):
        if first >= second:
            continue
        a, b = parts[first], parts[second]
        if shapely.relate_pattern(a, b, "T********"):
            return f"Polygons {first} and {second} of the MultiPolygon overlap"
        if shapely.relate_pattern(a, b, "****1****"):
            return f"Polygons {first} and {second} of the MultiPolygon share an edge"
    return "The polygons of the MultiPolygon are invalid together"


def _split_location(explanation: str) -> tuple[str, str]:
    match = _LOCATION.match(explanation)
    if match is None:
        return explanation, ""
    x, y = float(match["x"]), float(match["y"])
    return match["what"].strip(), f"({x:.10g}, {y:.10g})"


def _reason_for(what: str) -> Reason:
    lowered = what.lower()
    if "self-intersection" in lowered:
        return "self_intersection"
    if "too few points" in lowered:
        return "too_few_points"
    return "invalid"


def _describe_polygon_problem(
    what: str, location: str, rings: list[npt.NDArray[np.float64]], prefix: str
) -> str:
    at = f" at {location}" if location else ""
    lowered = what.lower()
    if "self-intersection" in lowered:
        for number, coords in enumerate(rings):
            if not shapely.is_simple(shapely.linearrings(coords)):
                return _capital(f"{prefix}{_ring_name(number)} intersects itself{at}.")
        return _capital(f"{prefix}{_crossing_rings(rings, location)} cross each other{at}.")
    if "too few points" in lowered:
        for number, coords in enumerate(rings):
            if len(np.unique(coords, axis=0)) < 3:
                return _capital(
                    f"{prefix}{_ring_name(number)} has fewer than 3 distinct positions{at}."
                )
    if "hole lies outside shell" in lowered:
        shell = shapely.Polygon(rings[0])
        for number, coords in enumerate(rings[1:], start=1):
            if not shapely.covered_by(shapely.Polygon(coords), shell):
                return _capital(f"{prefix}{_ring_name(number)} lies outside the exterior ring{at}.")
    if "nested" in lowered:
        holes = [shapely.Polygon(coords) for coords in rings[1:]]
        for outer, inner in ((a, b) for a in range(len(holes)) for b in range(len(holes))):
            if outer != inner and shapely.covers(holes[outer], holes[inner]):
                return _capital(
                    f"{prefix}{_ring_name(inner + 1)} lies inside {_ring_name(outer + 1)}{at}."
                )
    return _capital(f"{prefix}the polygon is invalid: {what}{at}.")


def _crossing_rings(rings: list[npt.NDArray[np.float64]], location: str) -> str:
    """The rings passing through a location GEOS reported (printed to 10 digits)."""
    if location:
        x, y = (float(value) for value in location.strip("()").split(", "))
        scale = max(1.0, abs(x), abs(y))
        near = [
            _ring_name(number)
            for number, coords in enumerate(rings)
            if shapely.distance(shapely.linearrings(coords), shapely.points(x, y)) <= 1e-9 * scale
        ]
        if len(near) >= 2:
            return " and ".join(near)
    return "the rings"


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _repaired(geometry: shapely.Geometry, problem: GeometryError) -> shapely.Geometry:
    """``make_valid``'s "structure" method, which keeps only area: its result is polygonal
    (collapsed lines and points are dropped), possibly empty."""
    fixed: shapely.Geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    if shapely.get_type_id(fixed) not in _POLYGONAL or shapely.is_empty(fixed):
        raise GeometryError(
            problem.reason, f"{problem.message} Repairing it (make_valid) leaves no area."
        )
    if not shapely.is_valid(fixed):
        raise GeometryError(problem.reason, f"{problem.message} make_valid could not repair it.")
    return fixed


def _polygons_of(geometry: shapely.Geometry) -> list[shapely.Geometry]:
    if shapely.get_type_id(geometry) == shapely.GeometryType.POLYGON:
        return [geometry]
    return list(shapely.get_parts(geometry))


def _rings_of(polygon: shapely.Geometry) -> list[shapely.Geometry]:
    """A polygon's exterior ring, then its holes."""
    rings: list[shapely.Geometry] = shapely.get_rings(polygon).tolist()
    return rings


def _polygon_coordinates(polygon: shapely.Geometry) -> list[list[list[float]]]:
    coordinates: list[list[list[float]]] = [
        shapely.get_coordinates(ring).tolist() for ring in _rings_of(polygon)
    ]
    return coordinates


def _shape_of(geometry: shapely.Geometry) -> Shape:
    bounds = shapely.bounds(geometry)
    return Shape(
        wkb=bytes(shapely.to_wkb(geometry, output_dimension=2, byte_order=1)),
        area=_area_km2(geometry),
        bounds=(float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])),
        vertices=int(shapely.get_num_coordinates(geometry)),
    )


def _area_km2(geometry: shapely.Geometry) -> float:
    """Area on the authalic sphere of the region bounded by edges straight in lng/lat.

    By Green's theorem, the area of a region of the (λ, φ) plane weighted by cos φ is
    ``-∮ sin φ dλ``; along a straight edge that integral is exact in closed form:
    ``Δλ · sin(φ_mid) · sinc(Δφ / 2)``.
    """
    total = 0.0
    for polygon in _polygons_of(geometry):
        for number, ring in enumerate(_rings_of(polygon)):
            ring_area = abs(_ring_integral(np.radians(shapely.get_coordinates(ring))))
            total += ring_area if number == 0 else -ring_area
    return total * EARTH_AUTHALIC_RADIUS_KM**2


def _ring_integral(coords: npt.NDArray[np.float64]) -> float:
    lng, lat = coords[:, 0], coords[:, 1]
    d_lng = np.diff(lng)
    d_lat = np.diff(lat)
    mid = (lat[:-1] + lat[1:]) / 2
    # Subtracting sin(lat[0]) changes nothing around a closed ring, and keeps the terms small.
    terms = d_lng * (np.sin(mid) * np.sinc(d_lat / (2 * np.pi)) - math.sin(lat[0]))
    return -float(terms.sum())


# -------------------------------------------------------------------------------- features


@dataclass(frozen=True)
class Feature:
    """One feature of a FeatureCollection.

    ``index``: its position in ``features``. ``id``: the Feature's ``id`` member (RFC 7946)
    as a string, or else ``properties.code``, or None; ``feature_collection`` writes
    ``properties.code`` as the ``id``, so the two agree on a round trip. ``properties``: the
    properties object (``{}`` for null).
    """

    index: int
    id: str | None
    properties: dict[str, Any]
    shape: Shape


def read_feature_collection(data: Any, *, make_valid: bool = False) -> list[Feature]:
    """Validate a GeoJSON FeatureCollection; return its features in order.

    Raise ``FeatureCollectionError`` listing every bad feature (index, id, reason, message),
    not just the first. ``make_valid`` as in ``shape_from_geojson``.
    """
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise FeatureCollectionError(
            [Problem(None, None, "wrong_type", "The body must be a GeoJSON FeatureCollection.")]
        )
    raw_features = data.get("features")
    if not isinstance(raw_features, list):
        raise FeatureCollectionError(
            [Problem(None, None, "invalid", "The FeatureCollection's features must be a list.")]
        )
    features: list[Feature] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_features):
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            problems.append(
                Problem(index, None, "wrong_type", f"Feature {index} is not a GeoJSON Feature.")
            )
            continue
        properties = raw.get("properties")
        feature_id = _feature_id(raw, properties)
        named = f"Feature {index}" + (f" ({feature_id})" if feature_id is not None else "")
        if properties is not None and not isinstance(properties, dict):
            problems.append(
                Problem(
                    index, feature_id, "invalid", f"{named}: properties must be an object or null."
                )
            )
            continue
        if "geometry" not in raw:
            problems.append(Problem(index, feature_id, "invalid", f"{named} has no geometry."))
            continue
        if raw["geometry"] is None:
            problems.append(Problem(index, feature_id, "empty", f"{named} has a null geometry."))
            continue
        try:
            shape = shape_from_geojson(raw["geometry"], make_valid=make_valid)
        except GeometryError as error:
            problems.append(Problem(index, feature_id, error.reason, f"{named}: {error.message}"))
            continue
        features.append(Feature(index, feature_id, dict(properties or {}), shape))
    if problems:
        raise FeatureCollectionError(problems)
    return features


def _feature_id(raw: dict[str, Any], properties: Any) -> str | None:
    for value in (raw.get("id"), properties.get("code") if isinstance(properties, dict) else None):
        if isinstance(value, str) or _is_number(value):
            return str(value)
    return None


def feature_collection(features: Iterable[tuple[Shape, dict[str, Any]]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``(shape, properties)`` pairs; ``properties.code``, when
    it is a string or a number, is also written as the Feature's ``id``."""
    out = []
    for shape, properties in features:
        feature: dict[str, Any] = {"type": "Feature"}
        code = properties.get("code")
        if isinstance(code, str) or _is_number(code):
            feature["id"] = code
        feature["properties"] = dict(properties)
        feature["geometry"] = shape.geojson()
        out.append(feature)
    return {"type": "FeatureCollection", "features": out}


# ------------------------------------------------------------------------------ assignment

REASONS: Final[tuple[str, ...]] = ("", "no_geocode", "outside_all", "overlap_tie")
ASSIGNED: Final = 0
NO_GEOCODE: Final = 1
OUTSIDE_ALL: Final = 2
OVERLAP_TIE: Final = 3
_CHUNK: Final = 1 << 17  # points per STRtree query: bounds the memory of the point objects


class Candidate(NamedTuple):
    """A territory offered to assignment. ``priority``: lower wins. ``order``: the explicit
    last tie-break, lower wins."""

    key: int
    shape: Shape
    priority: int
    order: int


@dataclass(frozen=True)
class Assignment:
    """The result of a bulk assignment, one entry per input point.

    ``keys``: the winning candidate's key, or -1. ``reasons``: a code per point, an index into
    ``REASONS`` (``ASSIGNED``, ``NO_GEOCODE``, ``OUTSIDE_ALL``, ``OVERLAP_TIE``); ``ASSIGNED``
    exactly where ``keys`` is not -1.
    """

    keys: npt.NDArray[np.int64]
    reasons: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.keys.size)

    def reason(self, index: int) -> str:
        return REASONS[int(self.reasons[index])]

    def reason_counts(self) -> dict[str, int]:
        counts = np.bincount(self.reasons, minlength=len(REASONS))
        return {name: int(count) for name, count in zip(REASONS, counts, strict=True)}


class TerritoryIndex:
    """Point-in-territory lookups over a fixed set of candidates; read-only once built.

    An STRtree over the territories' bounding boxes finds candidates, then a boundary-inclusive
    ``intersects_xy`` on prepared polygons decides. Build it once per model version and reuse
    it: building parses every WKB, prepares every polygon and builds its point locator (tens of
    milliseconds for 1,000 polygons of 300 vertices).
    """

    def __init__(self, candidates: Iterable[tuple[int, Shape, int, int]]) -> None:
        chosen = [Candidate(*candidate) for candidate in candidates]
        keys = [int(candidate.key) for candidate in chosen]
        if len(set(keys)) != len(keys):
            raise ValueError("TerritoryIndex: candidate keys must be unique")
        # Rank = position in the tie-break order; candidates equal in all three share a rank.
        sort_keys = [
            (c.priority, float(f"{c.shape.area:.{_AREA_DIGITS}g}"), c.order) for c in chosen
        ]
        rank_of = {value: rank for rank, value in enumerate(sorted(set(sort_keys)))}
        geometries = shapely.from_wkb([candidate.shape.wkb for candidate in chosen])
        shapely.prepare(geometries)
        self._keys: npt.NDArray[np.int64] = _frozen(np.array(keys, dtype=np.int64))
        self._ranks: npt.NDArray[np.int64] = _frozen(
            np.array([rank_of[value] for value in sort_keys], dtype=np.int64)
        )
        self._geometries: npt.NDArray[np.object_] = _frozen(
            np.asarray(geometries, dtype=np.object_).reshape(len(chosen))
        )
        self._tree = shapely.STRtree(self._geometries)
        # Build the lazy parts now (the tree's nodes, each polygon's point locator, which GEOS
        # builds at a prepared polygon's second point test), so that a built index is only
        # read: the first query costs what the others do.
        for candidate, geometry in zip(chosen, self._geometries, strict=True):
            corner = candidate.shape.bounds[:2]
            shapely.intersects_xy(geometry, [corner[0], corner[0]], [corner[1], corner[1]])
        self._tree.query(shapely.points(0.0, 0.0))

    def __len__(self) -> int:
        return int(self._keys.size)

    @property
    def keys(self) -> npt.NDArray[np.int64]:
        """The candidates' keys, in the order given (read-only)."""
        return self._keys

    def assign(self, lngs: npt.ArrayLike, lats: npt.ArrayLike) -> Assignment:
        """Assign many points at once: same answers as ``assign_one`` for each point.

        ``lngs`` and ``lats`` are 1-D, of equal length, in degrees; NaN (or any non-finite
        value) in either means the point has no geocode.
        """
        x = np.asarray(lngs, dtype=np.float64)
        y = np.asarray(lats, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape:
            raise ValueError("assign: lngs and lats must be 1-D arrays of the same length")
        keys = np.full(x.size, -1, dtype=np.int64)
        reasons = np.full(x.size, OUTSIDE_ALL, dtype=np.uint8)
        located = np.isfinite(x) & np.isfinite(y)
        reasons[~located] = NO_GEOCODE
        where = np.flatnonzero(located)
        if len(self) and where.size:
            for start in range(0, where.size, _CHUNK):
                chunk = where[start : start + _CHUNK]
                winners, ties = self._assign_chunk(x[chunk], y[chunk])
                found = winners >= 0
                keys[chunk[found]] = self._keys[winners[found]]
                reasons[chunk[found]] = ASSIGNED
                reasons[chunk[ties]] = OVERLAP_TIE
        return Assignment(keys=keys, reasons=reasons)

    def _assign_chunk(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """For each point: the winning candidate's position (or -1), and whether it tied."""
        count = x.size
        pairs: npt.NDArray[np.int64] = self._tree.query(shapely.points(x, y))
        point_of, candidate_of = pairs[0], pairs[1]
        # Group the pairs by candidate (a radix sort when the positions fit in 16 bits).
        narrow = candidate_of.astype(np.uint16) if len(self) <= 1 << 16 else candidate_of
        grouped = np.argsort(narrow, kind="stable")
        point_of, candidate_of = point_of[grouped], candidate_of[grouped]
        px, py = x[point_of], y[point_of]
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(np.bincount(candidate_of, minlength=len(self)), out=offsets[1:])
        inside = np.empty(point_of.size, dtype=np.bool_)
        for candidate in np.flatnonzero(np.diff(offsets)).tolist():
            lo, hi = int(offsets[candidate]), int(offsets[candidate + 1])
            shapely.intersects_xy(
                self._geometries[candidate], px[lo:hi], py[lo:hi], out=inside[lo:hi]
            )
        point_of, candidate_of = point_of[inside], candidate_of[inside]
        rank = self._ranks[candidate_of]
        best = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, point_of, rank)
        top = rank == best[point_of]
        point_of, candidate_of = point_of[top], candidate_of[top]
        winners = np.full(count, -1, dtype=np.int64)
        winners[point_of] = candidate_of
        ties = np.bincount(point_of, minlength=count) > 1
        winners[ties] = -1
        return winners, ties

    def assign_one(
        self, lng: SupportsFloat | None, lat: SupportsFloat | None
    ) -> tuple[int | None, str]:
        """Assign one point: ``(key, "")``, or ``(None, reason)`` with reason one of
        ``no_geocode`` (a coordinate is None or not finite), ``outside_all``, ``overlap_tie``.
        Coordinates may be any real numbers (floats, Decimals from the database)."""
        if lng is None or lat is None:
            return None, REASONS[NO_GEOCODE]
        x, y = float(lng), float(lat)
        if not (math.isfinite(x) and math.isfinite(y)):
            return None, REASONS[NO_GEOCODE]
        hits = self._hits(x, y)
        if not hits:
            return None, REASONS[OUTSIDE_ALL]
        best = self._ranks[hits[0]]
        if len(hits) > 1 and self._ranks[hits[1]] == best:
            return None, REASONS[OVERLAP_TIE]
        return int(self._keys[hits[0]]), REASONS[ASSIGNED]

    def containing(self, lng: SupportsFloat, lat: SupportsFloat) -> list[int]:
        """The keys of every candidate covering the point (its boundary included), best first
        by the tie-break; candidates tied in all three come by key. Empty for a non-finite
        point."""
        x, y = float(lng), float(lat)
        if not (math.isfinite(x) and math.isfinite(y)):
            return []
        return [int(self._keys[hit]) for hit in self._hits(x, y)]

    def _hits(self, lng: float, lat: float) -> list[int]:
        """Positions of the candidates covering the point, best first (then by key)."""
        near: npt.NDArray[np.int64] = self._tree.query(shapely.points(lng, lat))
        hits = [
            candidate
            for candidate in near.tolist()
            if bool(shapely.intersects_xy(self._geometries[candidate], lng, lat))
        ]
        hits.sort(key=lambda candidate: (int(self._ranks[candidate]), int(self._keys[candidate])))
        return hits


def _frozen[T: np.generic](array: npt.NDArray[T]) -> npt.NDArray[T]:
    array.flags.writeable = False
    return array
