"""A day to plan, as plain data. Times are whole seconds from the plan's origin (midnight
at the start of the plan date in the territory's time zone); places are WGS84 points, or
plane coordinates for benchmark instances whose travel is Euclidean.

The services build a ``DayProblem`` from work orders, shifts and pins; the solver and the
suggestion ranking read it and never touch the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# (x, y): (longitude, latitude) in degrees, or plane coordinates.
Point = tuple[float, float]
# [start, end] in seconds from the plan origin, inclusive.
Window = tuple[int, int]


@dataclass(frozen=True)
class Visit:
    """A job to be done: where, for how long, when the customer accepts a visit (any of the
    windows; none means any time in a shift), and the skills it needs at a minimum level."""

    id: str
    point: Point
    service_s: int
    windows: tuple[Window, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)
    # Higher is more important: a day plan leaves the lowest priorities unplanned first (the
    # solver prices an unplanned visit at its priority times more than any visit can add).
    priority: int = 1
    # Pinned by a dispatcher: it stays with this technician...
    pinned_to: str | None = None
    # ...and, when set, starts at this time.
    pinned_start_s: int | None = None
    # The SLA's deadline for starting it, if any: planning later than this is a risk.
    due_s: int | None = None


@dataclass(frozen=True)
class Shift:
    """A technician's day: where they start and end, when they work, what they can do."""

    technician_id: str
    start: Point
    end: Point
    window: Window
    skills: Mapping[str, int] = field(default_factory=dict)
    # Seconds the shift may run over, at a cost.
    overtime_s: int = 0
    # Visits already planned for the day, in order (for suggestions and re-plans).
    planned: tuple[str, ...] = ()

    def can_do(self, visit: Visit) -> bool:
        """Whether the technician has every skill the visit needs, at its level."""
        return all(self.skills.get(code, 0) >= level for code, level in visit.skills.items())


@dataclass(frozen=True)
class DayProblem:
    visits: tuple[Visit, ...]
    shifts: tuple[Shift, ...]

    def visit(self, visit_id: str) -> Visit:
        return next(v for v in self.visits if v.id == visit_id)


@dataclass(frozen=True)
class Stop:
    visit_id: str
    arrival_s: int
    start_s: int  # service starts (after waiting for the window, if early)
    end_s: int


@dataclass(frozen=True)
class RoutePlan:
    technician_id: str
    stops: tuple[Stop, ...]
    travel_s: int
    distance_m: int  # metres (instance units for benchmark instances)
    finish_s: int  # back at the end point


@dataclass(frozen=True)
class DayPlan:
    routes: tuple[RoutePlan, ...]
    unplanned: tuple[str, ...]
    travel_s: int
    distance_m: int
    # The solver's own objective and whether its answer breaks no hard constraint.
    cost: int
    feasible: bool
    runtime_s: float
    iterations: int
