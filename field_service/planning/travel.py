"""Travel between points: a pluggable provider. The default is great-circle distance with a
road factor at a speed per territory; a routing engine plugs in by implementing
``TravelProvider`` (``settings.FIELDLINE_TRAVEL_PROVIDER``, a dotted path)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from field_service.planning.problem import Point

EARTH_RADIUS_M = 6_371_008.8

IntMatrix = npt.NDArray[np.int64]


class TravelProvider(Protocol):
    def matrices(self, points: Sequence[Point]) -> tuple[IntMatrix, IntMatrix]:
        """(seconds, metres) between every pair of ``points``, as square integer matrices."""
        ...


@dataclass(frozen=True)
class Haversine:
    """Great-circle distance times ``road_factor`` (roads are not straight), driven at
    ``speed_kmh``. Points are (longitude, latitude) in degrees."""

    speed_kmh: float = 40.0
    road_factor: float = 1.3

    def matrices(self, points: Sequence[Point]) -> tuple[IntMatrix, IntMatrix]:
        coordinates = np.radians(np.asarray(points, dtype=np.float64).reshape(-1, 2))
        lng, lat = coordinates[:, 0], coordinates[:, 1]
        dlat = lat[:, None] - lat[None, :]
        dlng = lng[:, None] - lng[None, :]
        a = (
            np.sin(dlat / 2) ** 2
            + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlng / 2) ** 2
        )
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * self.road_factor
        seconds = metres / (self.speed_kmh * 1000 / 3600)
        return np.rint(seconds).astype(np.int64), np.rint(metres).astype(np.int64)

    def between(self, a: Point, b: Point) -> tuple[int, int]:
        """(seconds, metres) from ``a`` to ``b``."""
        seconds, metres = self.matrices([a, b])
        return int(seconds[0, 1]), int(metres[0, 1])


@dataclass(frozen=True)
class Euclidean:
    """Straight lines on a plane, for benchmark instances (Solomon's): the distance is the
    Euclidean one times ``scale``, truncated to an integer (``scale=10`` keeps one decimal, the
    DIMACS convention), and time equals distance divided by ``speed``."""

    scale: float = 1.0
    speed: float = 1.0

    def matrices(self, points: Sequence[Point]) -> tuple[IntMatrix, IntMatrix]:
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        delta = xy[:, None, :] - xy[None, :, :]
        distance = np.floor(np.sqrt((delta**2).sum(axis=2)) * self.scale).astype(np.int64)
        return np.floor(distance / self.speed).astype(np.int64), distance
