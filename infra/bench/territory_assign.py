"""Benchmark (issue 4): bulk point-in-territory assignment, against the naive per-point loop.

    .venv/bin/python -m infra.bench.territory_assign [--scale large|small] [--json PATH]

No database: ``--backend`` is accepted (so ``run_all`` can drive it like the others) and
ignored. The process pins itself to one CPU (``sched_setaffinity``) and sets
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` to 1 before numpy loads.

The map (seeded, built in memory): a jittered 33 × 30 grid of quadrilateral cells over
10°W–30°E, 36°N–60°N, every cell edge densified into a wiggly line of 74 segments that both
neighbours share exactly (no gaps, no overlaps), so each cell has 297 positions; plus 10
"key-account" overlays (wobbly discs of 300 positions, priority 1, beating the cells' 2), which
is 1,000 territories. It goes through the real import path: a GeoJSON FeatureCollection read
by ``read_feature_collection`` (validation included, timed), then ``TerritoryIndex`` (WKB
parsing, STRtree, preparing every polygon; timed).

The points (``large``: 1,000,000; ``small``: 100,000): 60% clustered around 40 towns, 35%
uniform over the region, 4% outside it (a box 10° wider on each side), 1% without a geocode
(NaN).

Timed, in interleaved rounds (so machine noise hits them alike and the ratio holds):

* **bulk**: ``TerritoryIndex.assign`` over every point (STRtree bounding-box query in chunks,
  ``intersects_xy`` on prepared polygons grouped per polygon, tie-break in numpy);
* **naive**: on a sample (the first ``--naive-points``), the obvious loop: for each point,
  for each territory whose bounds contain it, ``polygon.contains(Point(x, y))`` on the plain
  shapely polygon, then the same tie-break in Python.

Reported as medians over the rounds. Also, untimed against the target: ``assign_one`` per call
(the single assignment a service does when a site is created or moved) and, for reference, the
STRtree predicate query (``tree.query(points, predicate="intersects")``) on a sample. Every
answer is checked: naive, ``assign_one`` and the STRtree-predicate answers must equal the
bulk ones point for point.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from territories.geometry import Shape, TerritoryIndex

from .account_list import BenchError
from .common import report

BENCHMARK = "territory_assign"
TARGET_POINTS_PER_S = 500_000
POINTS = {"large": 1_000_000, "small": 100_000}
REGION = (-10.0, 36.0, 30.0, 60.0)  # min lng, min lat, max lng, max lat
COLUMNS, ROWS = 33, 30
SEGMENTS_PER_EDGE = 74  # 4 edges → 296 segments, 297 positions per cell
OVERLAYS = 10
OVERLAY_VERTICES = 299  # + the closing position
CELL_PRIORITY, OVERLAY_PRIORITY = 2, 1  # lower wins
TOWNS = 40
PREDICATE_POINTS = 50_000


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------- the map


def wiggly_edge(
    start: npt.NDArray[np.float64], end: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """SEGMENTS_PER_EDGE + 1 positions from ``start`` to ``end``, wiggling sideways by at most
    about 10% of the edge's length and leaving both ends along the straight line (so edges
    meeting at a node never cross)."""
    import numpy as np

    t = np.linspace(0.0, 1.0, SEGMENTS_PER_EDGE + 1)
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    waves = sum(
        rng.uniform(-0.015, 0.015) * np.sin(k * np.pi * t + rng.uniform(0, np.pi))
        for k in range(2, 9)
    )
    offset = np.sin(np.pi * t) * waves
    line = start + t[:, None] * direction + offset[:, None] * normal
    line[0], line[-1] = start, end  # exactly, so neighbours share their nodes bit for bit
    return np.asarray(line, dtype=np.float64)


def grid_cells(rng: np.random.Generator) -> list[list[list[float]]]:
    """The cells' exterior rings (closed, as GeoJSON position lists), row by row."""
    import numpy as np

    min_lng, min_lat, max_lng, max_lat = REGION
    lngs = np.linspace(min_lng, max_lng, COLUMNS + 1)
    lats = np.linspace(min_lat, max_lat, ROWS + 1)
    width, height = lngs[1] - lngs[0], lats[1] - lats[0]
    nodes = np.stack(np.meshgrid(lngs, lats, indexing="ij"), axis=-1)  # [column, row, xy]
    jitter = rng.uniform(-0.3, 0.3, size=nodes.shape) * np.array([width, height])
    jitter[[0, -1], :, 0] = 0.0  # the outline's nodes stay on it
    jitter[:, [0, -1], 1] = 0.0
    nodes = nodes + jitter
    across = {  # edges along a row: node (c, r) to (c + 1, r)
        (c, r): wiggly_edge(nodes[c, r], nodes[c + 1, r], rng)
        for c in range(COLUMNS)
        for r in range(ROWS + 1)
    }
    up = {  # edges along a column: node (c, r) to (c, r + 1)
        (c, r): wiggly_edge(nodes[c, r], nodes[c, r + 1], rng)
        for c in range(COLUMNS + 1)
        for r in range(ROWS)
    }
    cells = []
    for r in range(ROWS):
        for c in range(COLUMNS):
            ring = np.concatenate(
                [
                    across[(c, r)][:-1],
                    up[(c + 1, r)][:-1],
                    across[(c, r + 1)][::-1][:-1],
                    up[(c, r)][::-1],  # ends at the first position: the ring is closed
                ]
            )
            cells.append(ring.tolist())
    return cells


def overlay_discs(rng: np.random.Generator) -> list[list[list[float]]]:
    import numpy as np

    min_lng, min_lat, max_lng, max_lat = REGION
    discs = []
    for _ in range(OVERLAYS):
        lng, lat = rng.uniform(min_lng + 3, max_lng - 3), rng.uniform(min_lat + 3, max_lat - 3)
        angle = np.linspace(0.0, 2 * np.pi, OVERLAY_VERTICES, endpoint=False)
        radius = rng.uniform(0.5, 1.2) * (1 + 0.15 * np.sin(rng.integers(3, 9) * angle))
        ring = np.column_stack(
            [
                lng + radius * np.cos(angle) / math.cos(math.radians(lat)),
                lat + radius * np.sin(angle),
            ]
        )
        discs.append([*ring.tolist(), ring[0].tolist()])
    return discs


def territory_collection(seed: int) -> dict[str, Any]:
    """The map as a GeoJSON FeatureCollection (``properties``: code, priority, order)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    features = []
    for number, ring in enumerate(grid_cells(rng)):
        features.append(_feature(f"T{number:04d}", ring, CELL_PRIORITY, number))
    for number, ring in enumerate(overlay_discs(rng)):
        features.append(_feature(f"K{number:02d}", ring, OVERLAY_PRIORITY, number))
    return {"type": "FeatureCollection", "features": features}


def _feature(code: str, ring: list[list[float]], priority: int, order: int) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": code,
        "properties": {"code": code, "priority": priority, "order": order},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def random_points(
    count: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict[str, int]]:
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    min_lng, min_lat, max_lng, max_lat = REGION
    parts = {
        "clustered around towns": int(count * 0.60),
        "uniform in the region": int(count * 0.35),
        "outside the region": int(count * 0.04),
    }
    parts["without geocode (NaN)"] = count - sum(parts.values())
    towns = np.column_stack(
        [rng.uniform(min_lng, max_lng, TOWNS), rng.uniform(min_lat, max_lat, TOWNS)]
    )
    near = towns[rng.integers(0, TOWNS, parts["clustered around towns"])]
    near = near + rng.normal(0.0, 0.4, near.shape)
    uniform = np.column_stack(
        [
            rng.uniform(min_lng, max_lng, parts["uniform in the region"]),
            rng.uniform(min_lat, max_lat, parts["uniform in the region"]),
        ]
    )
    outside_lng = rng.uniform(min_lng - 10, max_lng + 10, parts["outside the region"] * 4)
    outside_lat = rng.uniform(min_lat - 10, max_lat + 10, parts["outside the region"] * 4)
    away = (outside_lng < min_lng - 1) | (outside_lng > max_lng + 1)
    away |= (outside_lat < min_lat - 1) | (outside_lat > max_lat + 1)
    outside = np.column_stack([outside_lng[away], outside_lat[away]])
    outside = outside[: parts["outside the region"]]
    missing = np.full((parts["without geocode (NaN)"], 2), np.nan)
    points = np.concatenate([near, uniform, outside, missing])
    if len(points) != count:
        raise BenchError(f"generated {len(points)} points, not {count}")
    points = points[rng.permutation(count)]
    return (
        np.ascontiguousarray(points[:, 0]),
        np.ascontiguousarray(points[:, 1]),
        parts,
    )


# ------------------------------------------------------------------------------- the loops


class NaiveLoop:
    """The obvious approach: per point, per territory whose bounds hold it, ``contains``."""

    def __init__(self, shapes: Sequence[Shape], keys: Sequence[int], ranks: Sequence[int]):
        import shapely

        self.territories = [
            (shape.bounds, shapely.from_wkb(shape.wkb), rank, key)
            for shape, key, rank in zip(shapes, keys, ranks, strict=True)
        ]

    def assign(self, lngs: Sequence[float], lats: Sequence[float]) -> list[int]:
        from shapely.geometry import Point

        out = []
        for lng, lat in zip(lngs, lats, strict=True):
            if math.isnan(lng) or math.isnan(lat):
                out.append(-1)
                continue
            point = Point(lng, lat)
            hits = [
                (rank, key)
                for (x0, y0, x1, y1), polygon, rank, key in self.territories
                if x0 <= lng <= x1 and y0 <= lat <= y1 and polygon.contains(point)
            ]
            hits.sort()
            tied = len(hits) > 1 and hits[0][0] == hits[1][0]
            out.append(-1 if not hits or tied else hits[0][1])
        return out


def tie_break_ranks(features: Sequence[Any]) -> list[int]:
    """The index's ranks, recomputed: (priority, area to 9 digits, order), lower first."""
    values = [
        (f.properties["priority"], float(f"{f.shape.area:.9g}"), f.properties["order"])
        for f in features
    ]
    rank_of = {value: rank for rank, value in enumerate(sorted(set(values)))}
    return [rank_of[value] for value in values]


def timed[T](function: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def summary(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(samples),
        "best_s": min(samples),
        "samples_s": list(samples),
    }


# -------------------------------------------------------------------------------------- run


def pin_to_one_cpu() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def run(*, scale: str, rounds: int, naive_points: int, seed: int) -> dict[str, Any]:
    cpu = pin_to_one_cpu()
    import numpy as np
    import shapely

    from territories.geometry import OUTSIDE_ALL, TerritoryIndex, read_feature_collection

    count = POINTS[scale]
    log(f"building the map (seed {seed})")
    collection = territory_collection(seed)
    read_s, features = timed(lambda: read_feature_collection(collection))
    shapes = [feature.shape for feature in features]
    candidates = [
        (number, f.shape, f.properties["priority"], f.properties["order"])
        for number, f in enumerate(features)
    ]
    vertices = [shape.vertices for shape in shapes]
    build_samples = []
    index: TerritoryIndex | None = None
    for _ in range(max(3, rounds)):
        seconds, index = timed(lambda: TerritoryIndex(candidates))
        build_samples.append(seconds)
    assert index is not None
    log(f"{len(features)} territories; {count:,} points")
    lngs, lats, mix = random_points(count, seed)
    sample = min(naive_points, count)
    naive = NaiveLoop(shapes, list(range(len(shapes))), tie_break_ranks(features))
    sample_lngs, sample_lats = lngs[:sample].tolist(), lats[:sample].tolist()

    # The first pass on a fresh index: nothing should be left to build lazily.
    fresh = TerritoryIndex(candidates)
    started = time.perf_counter()
    fresh.assign(lngs, lats)
    cold_s = time.perf_counter() - started
    del fresh
    index.assign(lngs[:10_000], lats[:10_000])  # warm-up (imports, first allocations)
    bulk_samples, naive_samples = [], []
    result = None
    naive_keys: list[int] = []
    for number in range(rounds):
        seconds, result = timed(lambda: index.assign(lngs, lats))
        bulk_samples.append(seconds)
        seconds, naive_keys = timed(lambda: naive.assign(sample_lngs, sample_lats))
        naive_samples.append(seconds)
        log(
            f"round {number + 1}/{rounds}: bulk {count / bulk_samples[-1]:,.0f} points/s, "
            f"naive {sample / naive_samples[-1]:,.0f} points/s"
        )
    assert result is not None

    # Checks: every other way must give the bulk answers.
    bulk_keys = result.keys
    naive_mismatches = int(np.count_nonzero(np.array(naive_keys) != bulk_keys[:sample]))
    single_started = time.perf_counter()
    single = [index.assign_one(lng, lat) for lng, lat in zip(sample_lngs, sample_lats, strict=True)]
    single_s = (time.perf_counter() - single_started) / max(1, len(single))
    single_keys = np.array([-1 if key is None else key for key, _ in single])
    single_reasons = [reason for _, reason in single]
    single_mismatches = int(np.count_nonzero(single_keys != bulk_keys[:sample]))
    single_mismatches += sum(reason != result.reason(n) for n, reason in enumerate(single_reasons))
    # Reference: the STRtree's own predicate query on a sample (not the method used).
    geometries = shapely.from_wkb([shape.wkb for shape in shapes])
    tree = shapely.STRtree(geometries)
    located = np.flatnonzero(np.isfinite(lngs[:PREDICATE_POINTS]))
    predicate_points = shapely.points(lngs[located], lats[located])
    predicate_s, pairs = timed(lambda: tree.query(predicate_points, predicate="intersects"))
    covered = np.zeros(count, dtype=bool)
    covered[located[pairs[0]]] = True
    bulk_covered = result.reasons[:PREDICATE_POINTS] != OUTSIDE_ALL
    bulk_covered &= np.isfinite(lngs[:PREDICATE_POINTS])
    predicate_mismatches = int(np.count_nonzero(covered[:PREDICATE_POINTS] != bulk_covered))
    mismatches = naive_mismatches + single_mismatches + predicate_mismatches
    if mismatches:
        raise BenchError(
            f"answers differ from the bulk ones: naive {naive_mismatches}, assign_one "
            f"{single_mismatches}, STRtree predicate {predicate_mismatches}"
        )

    bulk = summary(bulk_samples)
    naive_summary = summary(naive_samples)
    bulk_rate = count / bulk["median_s"]
    naive_rate = sample / naive_summary["median_s"]
    ratios = [(count / b) / (sample / n) for b, n in zip(bulk_samples, naive_samples, strict=True)]
    return {
        "benchmark": BENCHMARK,
        "backend": "none",
        "scale": scale,
        "seed": seed,
        "cpu_pinned": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shapely": shapely.__version__,
        "geos": ".".join(map(str, shapely.geos_version)),
        "territories": len(features),
        "cells": COLUMNS * ROWS,
        "overlays": OVERLAYS,
        "vertices": {
            "min": min(vertices),
            "median": statistics.median(vertices),
            "max": max(vertices),
            "total": sum(vertices),
        },
        "read_collection_s": read_s,
        "build_index": summary(build_samples),
        "first_pass_s": cold_s,
        "points": count,
        "point_mix": mix,
        "reasons": result.reason_counts(),
        "rounds": rounds,
        "bulk": {**bulk, "points_per_s": bulk_rate},
        "naive": {**naive_summary, "points": sample, "points_per_s": naive_rate},
        "ratio": bulk_rate / naive_rate,
        "ratio_per_round_median": statistics.median(ratios),
        "assign_one_us": single_s * 1e6,
        "assign_one_calls": len(single),
        "strtree_predicate": {
            "points": int(located.size),
            "seconds": predicate_s,
            "points_per_s": located.size / predicate_s,
        },
        "checked_points": {
            "naive": sample,
            "assign_one": len(single),
            "predicate": PREDICATE_POINTS,
        },
    }


# --------------------------------------------------------------------------------- report


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report (one leg: the benchmark has no backend; a leg that failed has ``error``)."""
    lines = [
        "What is measured: `territories.geometry.TerritoryIndex.assign` (STRtree bounding-box "
        "query, then `intersects_xy` on prepared polygons grouped per polygon, tie-break in "
        "numpy) over every point, on one CPU (affinity pinned, BLAS/OpenMP threads 1), against "
        "the naive per-point loop (for each territory whose bounds hold the point, "
        "`polygon.contains(Point)` on a plain shapely polygon) on a sample, interleaved round "
        "by round in the same process. Target: bulk assignment at "
        f"{TARGET_POINTS_PER_S:,} points/s or more on one core. No database.",
        "",
    ]
    lines += [f"**Failed**: {leg['error']}\n" for leg in legs if "error" in leg]
    for leg in (leg for leg in legs if "error" not in leg):
        bulk, naive = leg["bulk"], leg["naive"]
        met = bulk["points_per_s"] >= TARGET_POINTS_PER_S
        verdict = "meets the target" if met else "**misses the target**"
        lines += [
            f"- **Bulk assignment of {leg['points']:,} points to {leg['territories']:,} "
            f"territories: {bulk['points_per_s']:,.0f} points/s** ({bulk['median_s']:.2f} s, "
            f"median of {leg['rounds']}); {verdict} ({TARGET_POINTS_PER_S:,}).",
            f"- Naive per-point loop: {naive['points_per_s']:,.0f} points/s on "
            f"{naive['points']:,} points; **bulk ÷ naive = {leg['ratio']:,.0f}×** (median of "
            f"the per-round ratios: {leg['ratio_per_round_median']:,.0f}×).",
            f"- `assign_one` (one site created or moved): {leg['assign_one_us']:.1f} µs per call "
            f"(mean of {leg['assign_one_calls']:,}).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| territories | {leg['territories']:,}: {leg['cells']:,} jittered-grid cells "
            f"(priority {CELL_PRIORITY}) sharing their wiggly edges exactly, + "
            f"{leg['overlays']} overlapping discs (priority {OVERLAY_PRIORITY}) |",
            f"| positions per territory | min {leg['vertices']['min']}, median "
            f"{leg['vertices']['median']:g}, max {leg['vertices']['max']} "
            f"({leg['vertices']['total']:,} in all) |",
            f"| points | {leg['points']:,}: "
            + ", ".join(f"{n:,} {what}" for what, n in leg["point_mix"].items())
            + " |",
            "| answers | "
            + ", ".join(f"{n:,} {name or 'assigned'}" for name, n in leg["reasons"].items())
            + " |",
            f"| bulk, median / best | {bulk['median_s']:.3f} s / {bulk['best_s']:.3f} s |",
            f"| naive, median / best | {naive['median_s']:.3f} s / {naive['best_s']:.3f} s "
            f"for {naive['points']:,} points |",
            f"| GeoJSON import (`read_feature_collection`, validation included) | "
            f"{leg['read_collection_s']:.2f} s |",
            "| `TerritoryIndex` build (WKB, STRtree, prepared polygons and their point "
            "locators), median | "
            f"{leg['build_index']['median_s'] * 1000:.0f} ms |",
            f"| first bulk pass on a freshly built index | {leg['first_pass_s']:.3f} s |",
            f'| reference: STRtree predicate query (`predicate="intersects"`) | '
            f"{leg['strtree_predicate']['points_per_s']:,.0f} points/s on "
            f"{leg['strtree_predicate']['points']:,} points |",
            f"| checked | naive, `assign_one` and the STRtree predicate agree with bulk on "
            f"{leg['checked_points']['naive']:,}, {leg['checked_points']['assign_one']:,} "
            f"and {leg['checked_points']['predicate']:,} points |",
            f"| software | Python {leg['python']}, numpy {leg['numpy']}, shapely "
            f"{leg['shapely']} (GEOS {leg['geos']}); seed {leg['seed']} |",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    # One thread before numpy loads (it is imported lazily below). Set here, not at import:
    # run_all imports this module, and the variables would leak into every other leg (and
    # into `nproc`, which honours OMP_NUM_THREADS).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backend", default="none", help="accepted for run_all, ignored: no database"
    )
    parser.add_argument("--scale", choices=sorted(POINTS), default="large")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (bulk and naive)")
    parser.add_argument("--naive-points", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.naive_points < 1:
        parser.error("--rounds and --naive-points must be at least 1")
    return report(
        BENCHMARK,
        lambda: run(
            scale=args.scale, rounds=args.rounds, naive_points=args.naive_points, seed=args.seed
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
