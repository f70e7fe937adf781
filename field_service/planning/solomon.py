"""Solomon's VRPTW benchmark instances as a ``DayProblem``, to measure the day-plan optimiser
against proven optima.

An instance is one depot and 100 customers on a plane; travel time equals Euclidean distance.
Following the DIMACS convention, distances are truncated to one decimal, so the instance is
solved in tenths: ``Euclidean(scale=10)`` for travel, and every time (windows, service) times
10 as well, so that a tenth of distance takes a tenth of time. Every vehicle of the instance's
fleet is one shift starting and ending at the depot, within the depot's window, and the
vehicle capacity is an extra load dimension (``SolomonMeta.extra_loads``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from field_service.planning.problem import DayPlan, DayProblem, Shift, Visit
from field_service.planning.solver import ExtraLoads
from field_service.planning.travel import Euclidean

SCALE = 10

# Proven optimal distances, distance-minimal objective, truncated to one decimal (see the
# instances' README), and the vehicles used by those optima.
OPTIMA: dict[str, tuple[float, int]] = {
    "C101": (827.3, 10),
    "R101": (1637.7, 20),
    "RC101": (1619.8, 15),
}


@dataclass(frozen=True)
class SolomonMeta:
    name: str
    vehicles: int  # the fleet of the instance's header, one shift each
    capacity: int  # per vehicle
    demands: dict[str, int]  # visit id -> demand
    scale: int  # distances and times are in 1/scale of the instance's units
    optimum: float | None  # distance, in the instance's units; None for an unknown instance
    optimum_vehicles: int | None

    @property
    def travel(self) -> Euclidean:
        """The travel the instance's times and distances assume."""
        return Euclidean(scale=self.scale)

    def extra_loads(self, problem: DayProblem) -> ExtraLoads:
        """The vehicle capacity, as ``solve_day``'s ``extra_loads``."""
        capacities = {shift.technician_id: self.capacity for shift in problem.shifts}
        return {"capacity": (self.demands, capacities)}


def read_solomon(path: str | Path) -> tuple[DayProblem, SolomonMeta]:
    """Read a Solomon instance file. Visit ids are the customer numbers; technician ids are
    ``v1`` to ``vN`` for the N vehicles of the header."""
    lines = [line.split() for line in Path(path).read_text().splitlines()]
    name = lines[0][0]
    vehicles, capacity = _after(lines, "NUMBER")
    rows = [[int(value) for value in row] for row in _table(lines)]
    depot, customers = rows[0], rows[1:]

    depot_point = (float(depot[1]), float(depot[2]))
    window = (depot[4] * SCALE, depot[5] * SCALE)
    shifts = tuple(
        Shift(technician_id=f"v{number}", start=depot_point, end=depot_point, window=window)
        for number in range(1, vehicles + 1)
    )
    visits = tuple(
        Visit(
            id=str(number),
            point=(float(x), float(y)),
            service_s=service * SCALE,
            windows=((ready * SCALE, due * SCALE),),
        )
        for number, x, y, _demand, ready, due, service in customers
    )
    optimum, optimum_vehicles = OPTIMA.get(name.upper(), (None, None))
    meta = SolomonMeta(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        demands={str(row[0]): row[3] for row in customers},
        scale=SCALE,
        optimum=optimum,
        optimum_vehicles=optimum_vehicles,
    )
    return DayProblem(visits=visits, shifts=shifts), meta


def gap(plan: DayPlan, meta: SolomonMeta) -> float:
    """How far the plan's distance is above the proven optimum, as a fraction of it."""
    if meta.optimum is None:
        raise ValueError(f"No known optimum for {meta.name}.")
    return (plan.distance_m / meta.scale - meta.optimum) / meta.optimum


def _after(lines: list[list[str]], heading: str) -> list[int]:
    """The numbers on the first non-blank line after the line starting with ``heading``."""
    start = next(i for i, line in enumerate(lines) if line and line[0] == heading)
    return [int(value) for value in next(line for line in lines[start + 1 :] if line)]


def _table(lines: list[list[str]]) -> list[list[str]]:
    """The customer rows: every line of seven numbers after the ``CUST NO.`` heading."""
    start = next(i for i, line in enumerate(lines) if line[:2] == ["CUST", "NO."])
    return [line for line in lines[start + 1 :] if len(line) == 7 and line[0].isdigit()]
