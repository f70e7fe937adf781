"""A realistic demo map as a GeoJSON FeatureCollection: one region, split into areas (bands
of columns), split into sales territories (cells). Cell borders are irregular polylines that
neighbours share exactly, so the territories tile the region without gaps or overlaps, the way
a map drawn from postcode boundaries does. Deterministic for a given ``random.Random``."""

from __future__ import annotations

import math
import random
from typing import Any

Point = tuple[float, float]

# Types, by code: (name, priority). Where territories overlap the lowest priority wins, so a
# point falls to its sales territory rather than to the area or region around it.
TYPES = {"territory": ("Sales territory", 1), "area": ("Area", 2), "region": ("Region", 3)}
AREA_NAMES = ["Ouest", "Centre", "Est", "Nord", "Sud", "Val", "Monts", "Plaine"]
WIGGLES = 4  # extra points on each inner border


def grid_shape(cells: int, width: float, height: float) -> tuple[int, int]:
    """Columns and rows for ``cells`` cells of roughly square shape over a width × height box."""
    best = (cells, 1)
    for rows in range(1, cells + 1):
        if cells % rows == 0:
            columns = cells // rows
            if abs(math.log((width / columns) / (height / rows))) < abs(
                math.log((width / best[0]) / (height / best[1]))
            ):
                best = (columns, rows)
    return best


def demo_map(
    rng: random.Random,
    *,
    territories: int,
    bounds: tuple[float, float, float, float],
    region: tuple[str, str] = ("LYON", "Lyon Métropole"),
) -> dict[str, Any]:
    """``territories`` sales territories over ``bounds`` (min lng, min lat, max lng, max lat)
    in one region; codes ``T01``…, areas ``A1``…"""
    min_lng, min_lat, max_lng, max_lat = bounds
    columns, rows = grid_shape(territories, max_lng - min_lng, max_lat - min_lat)
    step_x, step_y = (max_lng - min_lng) / columns, (max_lat - min_lat) / rows
    # Grid corners, the inner ones moved by up to 15% of a cell.
    corners: dict[tuple[int, int], Point] = {}
    for i in range(columns + 1):
        for j in range(rows + 1):
            x, y = min_lng + i * step_x, min_lat + j * step_y
            if 0 < i < columns:
                x += rng.uniform(-0.15, 0.15) * step_x
            if 0 < j < rows:
                y += rng.uniform(-0.15, 0.15) * step_y
            corners[i, j] = (round(x, 6), round(y, 6))
    edges: dict[tuple[tuple[int, int], tuple[int, int]], list[Point]] = {}

    def edge(a: tuple[int, int], b: tuple[int, int]) -> list[Point]:
        """The border from corner ``a`` to ``b``: computed once, reversed for the neighbour."""
        if (b, a) in edges:
            return list(reversed(edges[b, a]))
        if (a, b) not in edges:
            (ax, ay), (bx, by) = corners[a], corners[b]
            outer = (a[0] == b[0] and a[0] in (0, columns)) or (a[1] == b[1] and a[1] in (0, rows))
            line = [corners[a]]
            for k in range(1, WIGGLES + 1):
                t = k / (WIGGLES + 1)
                x, y = ax + (bx - ax) * t, ay + (by - ay) * t
                if not outer:
                    # A nudge across the border, at most 5% of a cell: with corners moved by
                    # 15% at most, never enough to cross a neighbouring border.
                    nudge = rng.uniform(-0.05, 0.05)
                    x += nudge * step_x if a[0] == b[0] else 0.0
                    y += nudge * step_y if a[1] == b[1] else 0.0
                line.append((round(x, 6), round(y, 6)))
            line.append(corners[b])
            edges[a, b] = line
        return list(edges[a, b])

    def ring(i0: int, i1: int, j0: int, j1: int) -> list[list[float]]:
        """The counter-clockwise outline of the cells in columns i0..i1-1, rows j0..j1-1."""
        path: list[Point] = []
        for i in range(i0, i1):  # bottom, west to east
            path += edge((i, j0), (i + 1, j0))[:-1]
        for j in range(j0, j1):  # east side, south to north
            path += edge((i1, j), (i1, j + 1))[:-1]
        for i in range(i1, i0, -1):  # top, east to west
            path += edge((i, j1), (i - 1, j1))[:-1]
        for j in range(j1, j0, -1):  # west side, north to south
            path += edge((i0, j), (i0, j - 1))[:-1]
        return [[x, y] for x, y in [*path, path[0]]]

    region_code, region_name = region
    features = [_feature(region_code, region_name, "region", None, ring(0, columns, 0, rows))]
    bands = max(1, min(len(AREA_NAMES), columns // 2 if columns > 3 else columns))
    split = [round(b * columns / bands) for b in range(bands + 1)]
    number = 0
    for band in range(bands):
        area_code, area_name = f"A{band + 1}", f"{region_name} {AREA_NAMES[band]}"
        i0, i1 = split[band], split[band + 1]
        features.append(_feature(area_code, area_name, "area", region_code, ring(i0, i1, 0, rows)))
        for in_area, (i, j) in enumerate(
            ((i, j) for i in range(i0, i1) for j in range(rows)), start=1
        ):
            number += 1
            features.append(
                _feature(
                    f"T{number:02d}",
                    f"{AREA_NAMES[band]} {in_area}",
                    "territory",
                    area_code,
                    ring(i, i + 1, j, j + 1),
                )
            )
    return {"type": "FeatureCollection", "features": features}


def _feature(
    code: str, name: str, type_: str, parent: str | None, ring: list[list[float]]
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": code,
        "properties": {"code": code, "name": name, "type": type_, "parent": parent},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
