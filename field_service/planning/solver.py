"""Optimise a territory's day with PyVRP: every shift is a vehicle, every visit a client.

How the day's rules become PyVRP's:

- **Shifts.** Each shift is a vehicle leaving its ``start`` and returning to its ``end`` (one
  depot per distinct point); shifts PyVRP could not tell apart share a vehicle type. The
  technician leaves at the shift's start and must be back by its end plus ``overtime_s``; the
  time past the end is overtime, paid at ``Weights.overtime`` a second (clock-based, because
  the route cannot start later than the shift does).
- **Search.** PyVRP's iterated local search, with penalties for broken rules that start scaled
  to the day's edges and prizes (see ``_search``).
- **Windows.** A visit's window bounds when its service *starts*. A visit with several windows
  becomes a mutually exclusive client group with one copy per window, so exactly one copy (or,
  for an optional visit, at most one) is served. No window means any time in a shift.
- **Skills.** One load dimension per distinct (skill, minimum level) some visit needs: the visit
  puts 1 on it and a shift holds ``len(visits)`` if its technician has the skill at that level,
  else 0, so a visit can only ride with a technician able to do it.
- **Pins.** A pinned visit is required. It puts 1 on a dimension of its technician's own, which
  only that technician's shifts can hold; a pinned start narrows its window to that instant.
  The dispatcher's pin overrides skills: a pinned visit carries no skill load.
- **Unplanned visits.** Unpinned visits are optional, with a prize of ``priority`` times more than
  any single visit can ever add to the routing cost, so the solver plans every visit it can and,
  when the day is full, drops the lowest priorities first.
- **Obviously impossible visits** (nobody with a shift can do it, its technician has no shift,
  no window meets a shift) never reach PyVRP; they come back in ``unplanned``.

The answer is deterministic for a given seed when the search is bounded by ``max_iterations``;
under a time limit alone, how far the same search gets depends on the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from pyvrp import (
    Depot,
    IteratedLocalSearch,
    Location,
    Model,
    PenaltyManager,
    PenaltyParams,
    ProblemData,
    RandomNumberGenerator,
    Result,
    Route,
    Solution,
)
from pyvrp.search import OPERATORS, LocalSearch, PerturbationManager, compute_neighbours

from field_service.planning.problem import (
    DayPlan,
    DayProblem,
    Point,
    RoutePlan,
    Shift,
    Stop,
    Visit,
    Window,
)
from field_service.planning.travel import IntMatrix, TravelProvider

# Extra load dimensions, such as a van's volume or a benchmark's vehicle capacity:
# name -> (amount per visit id, capacity per technician id); a missing entry is 0.
ExtraLoads = Mapping[str, tuple[Mapping[str, int], Mapping[str, int]]]

# PyVRP's own default ceiling for a penalty per unit of violation.
_DEFAULT_MAX_PENALTY = 100_000.0


@dataclass(frozen=True)
class Weights:
    """The objective's integer costs. The solver minimises their weighted sum plus the prizes of
    the visits it leaves unplanned. The default minimises distance only, which is also the
    objective of the Solomon benchmark; add ``duration`` to favour short days as a tie-break."""

    distance: int = 1  # per unit of the distance matrix (metres, or tenths for benchmarks)
    duration: int = 0  # per second of a day, from the shift's start to the return, waiting included
    overtime: int = 10  # per second back after the shift's end, on top of ``duration``


@dataclass(frozen=True)
class ProgressInfo:
    """What the search has reached so far. ``best_cost`` is ``None`` until a feasible plan has
    been found; otherwise it is the solver's objective (see ``DayPlan.cost``)."""

    best_cost: int | None
    elapsed_s: float
    iterations: int


def solve_day(
    problem: DayProblem,
    travel: TravelProvider,
    *,
    time_limit_s: float,
    seed: int = 1,
    on_progress: Callable[[ProgressInfo], None] | None = None,
    progress_interval_s: float = 1.0,
    max_iterations: int | None = None,
    weights: Weights | None = None,
    extra_loads: ExtraLoads | None = None,
    plan_all: bool = False,
) -> DayPlan:
    """The best day plan found within ``time_limit_s`` seconds of wall time (model building
    included) or ``max_iterations`` iterations of the search, whichever comes first.

    ``on_progress`` is called at most once every ``progress_interval_s`` seconds during the
    search, and once at its end. ``plan_all`` makes every visit required, the benchmarks'
    rule: the plan is then infeasible rather than partial when they do not all fit.

    The plan's ``cost`` is the routing cost under ``weights`` plus the prize of every visit left
    unplanned that some plan could have served, so plans of the same problem compare by it.
    ``feasible`` is false when the best plan breaks a window, a capacity or a skill, or leaves a
    pinned visit unplanned.
    """
    started = time.perf_counter()
    weights = weights or Weights()
    visits, impossible = _triage(problem)
    if not visits:
        return _empty_plan(problem, impossible, started)

    points, visit_at, start_at, end_at = _places(problem.shifts, visits)
    durations, distances = (_square(m, len(points)) for m in travel.matrices(points))
    prize_unit = _prize_unit(problem.shifts, distances, weights)
    dimensions = _dimensions(problem.shifts, visits, extra_loads or {})
    built = _build(
        problem.shifts,
        visits,
        dimensions,
        points,
        (visit_at, start_at, end_at),
        weights,
        prize_unit,
        plan_all,
    )
    # PyVRP's stubs type a matrix as ``np.ndarray[int]``, which no numpy array type matches.
    data = built.model.data().replace(
        distance_matrices=cast("list[Any]", [distances]),
        duration_matrices=cast("list[Any]", [durations]),
    )

    watch = _Watch(
        started=started,
        time_limit_s=time_limit_s,
        max_iterations=max_iterations,
        on_progress=on_progress,
        interval_s=progress_interval_s,
        cost_of=lambda cost: cost - built.prize_offset,
    )
    top_prize = prize_unit * max(_weight(visit) for visit in visits)
    means = (float(durations.mean()), float(distances.mean()))
    result = _search(data, watch, seed, top_prize, means)
    watch.report(final=True)

    return _read(
        result.best,
        problem,
        built,
        impossible,
        prize_unit,
        started=started,
        iterations=result.num_iterations,
    )


# --- Which visits to plan -------------------------------------------------------------------------


def _triage(problem: DayProblem) -> tuple[list[Visit], list[str]]:
    """The visits worth giving to PyVRP, and the ids of those no shift could ever serve: their
    technician is not working, nobody has their skills, or no window meets a shift."""
    plannable: list[Visit] = []
    impossible: list[str] = []
    for visit in problem.visits:
        shifts = _able_shifts(problem.shifts, visit)
        if any(_windows_within(visit, shift) for shift in shifts):
            plannable.append(visit)
        else:
            impossible.append(visit.id)
    return plannable, impossible


def _able_shifts(shifts: Sequence[Shift], visit: Visit) -> list[Shift]:
    """The shifts that may take ``visit``: its technician's if pinned, else the skilled ones."""
    if visit.pinned_to is not None:
        return [shift for shift in shifts if shift.technician_id == visit.pinned_to]
    return [shift for shift in shifts if shift.can_do(visit)]


def _windows(visit: Visit) -> tuple[Window, ...]:
    """When the visit's service may start: the pinned instant, its windows, or (none) any time."""
    if visit.pinned_start_s is not None:
        return ((visit.pinned_start_s, visit.pinned_start_s),)
    return visit.windows


def _windows_within(visit: Visit, shift: Shift) -> list[Window]:
    """The visit's windows that overlap the shift's working time (overtime included); a visit
    without windows gets the whole shift."""
    begin, end = shift.window[0], shift.window[1] + shift.overtime_s
    windows = _windows(visit) or ((begin, end),)
    return [(early, late) for early, late in windows if early <= end and late >= begin]


def _client_windows(visit: Visit, shifts: Sequence[Shift]) -> list[Window]:
    """The windows to give PyVRP, one client copy each: those meeting some able shift, in the
    visit's order. A visit without windows gets one window spanning all able shifts."""
    able = _able_shifts(shifts, visit)
    if not _windows(visit):
        return [
            (
                min(shift.window[0] for shift in able),
                max(shift.window[1] + shift.overtime_s for shift in able),
            )
        ]
    kept = {window for shift in able for window in _windows_within(visit, shift)}
    return [window for window in _windows(visit) if window in kept]


def _weight(visit: Visit) -> int:
    """A visit's priority as a prize multiplier: at least 1, so every visit is worth planning."""
    return max(visit.priority, 1)


# --- Places and costs -----------------------------------------------------------------------------


def _places(
    shifts: Sequence[Shift], visits: Sequence[Visit]
) -> tuple[list[Point], list[int], list[int], list[int]]:
    """The distinct points of the day (travel is computed once per pair of them) and the index
    of each visit's, each shift start's and each shift end's point among them."""
    index: dict[Point, int] = {}

    def at(point: Point) -> int:
        return index.setdefault(point, len(index))

    start_at = [at(shift.start) for shift in shifts]
    end_at = [at(shift.end) for shift in shifts]
    visit_at = [at(visit.point) for visit in visits]
    return list(index), visit_at, start_at, end_at


def _square(matrix: IntMatrix, size: int) -> IntMatrix:
    """A provider's matrix as PyVRP needs it: contiguous int64, zero on the diagonal."""
    square = np.array(matrix, dtype=np.int64, copy=True).reshape(size, size)
    np.fill_diagonal(square, 0)
    return square


def _prize_unit(shifts: Sequence[Shift], distances: IntMatrix, weights: Weights) -> int:
    """More than serving any one visit can add to the objective: a detour of at most twice the
    longest edge, and at most a whole day and its overtime."""
    longest_day = max(shift.window[1] - shift.window[0] + shift.overtime_s for shift in shifts)
    longest_overtime = max(shift.overtime_s for shift in shifts)
    return (
        2 * int(distances.max(initial=0)) * weights.distance
        + longest_day * weights.duration
        + longest_overtime * weights.overtime
        + 1
    )


# --- Load dimensions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dimension:
    """One PyVRP load dimension: what each visit puts on it, what each shift can carry."""

    name: str
    amounts: Mapping[str, int]  # visit id -> delivery
    capacities: tuple[int, ...]  # per shift, in the problem's order


def _dimensions(
    shifts: Sequence[Shift], visits: Sequence[Visit], extra_loads: ExtraLoads
) -> list[_Dimension]:
    return [
        *_skill_dimensions(shifts, visits),
        *_pin_dimensions(shifts, visits),
        *(
            _Dimension(name, dict(amounts), tuple(capacity.get(s.technician_id, 0) for s in shifts))
            for name, (amounts, capacity) in sorted(extra_loads.items())
        ),
    ]


def _skill_dimensions(shifts: Sequence[Shift], visits: Sequence[Visit]) -> list[_Dimension]:
    """One dimension per (skill, minimum level) an unpinned visit needs, except where every shift
    qualifies. Capacity ``len(visits)`` never binds: only 0 does."""
    needs = sorted(
        {(code, level) for v in visits if v.pinned_to is None for code, level in v.skills.items()}
    )
    dimensions = []
    for code, level in needs:
        capacities = tuple(
            len(visits) if shift.skills.get(code, 0) >= level else 0 for shift in shifts
        )
        if min(capacities) > 0:
            continue
        amounts = {v.id: 1 for v in visits if v.pinned_to is None and v.skills.get(code) == level}
        dimensions.append(_Dimension(f"skill:{code}>={level}", amounts, capacities))
    return dimensions


def _pin_dimensions(shifts: Sequence[Shift], visits: Sequence[Visit]) -> list[_Dimension]:
    """One dimension per technician with pins, which only their own shifts can carry."""
    technicians = sorted({v.pinned_to for v in visits if v.pinned_to is not None})
    return [
        _Dimension(
            f"pin:{technician}",
            {v.id: 1 for v in visits if v.pinned_to == technician},
            tuple(len(visits) if s.technician_id == technician else 0 for s in shifts),
        )
        for technician in technicians
    ]


# --- The PyVRP model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Built:
    """The model, and how to read its answer back: whose visit each client copy is."""

    model: Model
    owners: Sequence[str]  # client index -> visit id
    # Prizes of the copies of served multi-window visits that are never collected; PyVRP counts
    # them in its cost, the plan's cost does not.
    prize_offset: int
    fleets: Sequence[Sequence[int]]  # vehicle type index -> its shifts' indices


def _build(
    shifts: Sequence[Shift],
    visits: Sequence[Visit],
    dimensions: Sequence[_Dimension],
    points: Sequence[Point],
    indices: tuple[list[int], list[int], list[int]],
    weights: Weights,
    prize_unit: int,
    plan_all: bool,
) -> _Built:
    visit_at, start_at, end_at = indices
    model = Model()
    locations = [model.add_location(x, y) for x, y in points]
    depots: dict[int, Depot] = {}
    for at in (*start_at, *end_at):
        if at not in depots:
            depots[at] = model.add_depot(locations[at], name=f"depot:{at}")

    fleets = _fleets(shifts, dimensions, start_at, end_at)
    for numbers in fleets:
        shift = shifts[numbers[0]]
        begin, end = shift.window
        model.add_vehicle_type(
            num_available=len(numbers),
            capacity=[dimension.capacities[numbers[0]] for dimension in dimensions],
            start_depot=depots[start_at[numbers[0]]],
            end_depot=depots[end_at[numbers[0]]],
            tw_early=begin,
            tw_late=end + shift.overtime_s,
            start_late=begin,
            shift_duration=end - begin,
            max_overtime=shift.overtime_s,
            unit_distance_cost=weights.distance,
            unit_duration_cost=weights.duration,
            unit_overtime_cost=weights.overtime,
            name=",".join(shifts[number].technician_id for number in numbers),
        )

    owners: list[str] = []
    offset = 0
    for visit, at in zip(visits, visit_at, strict=True):
        windows = _client_windows(visit, shifts)
        required = plan_all or visit.pinned_to is not None
        prize = 0 if required else prize_unit * _weight(visit)
        offset += prize * (len(windows) - 1)
        _add_visit(model, visit, locations[at], windows, dimensions, prize, required)
        owners.extend([visit.id] * len(windows))
    return _Built(model, owners, offset, fleets)


def _fleets(
    shifts: Sequence[Shift],
    dimensions: Sequence[_Dimension],
    start_at: Sequence[int],
    end_at: Sequence[int],
) -> list[list[int]]:
    """The shifts grouped into vehicle types: shifts alike in every respect PyVRP sees (the
    benchmarks' identical vans, technicians leaving the same office) share one type of several
    vehicles, as PyVRP models a fleet. Their routes are handed to the shifts in order."""
    fleets: dict[tuple[object, ...], list[int]] = {}
    for number, shift in enumerate(shifts):
        signature = (
            start_at[number],
            end_at[number],
            shift.window,
            shift.overtime_s,
            tuple(dimension.capacities[number] for dimension in dimensions),
        )
        fleets.setdefault(signature, []).append(number)
    return list(fleets.values())


def _add_visit(
    model: Model,
    visit: Visit,
    location: Location,
    windows: Sequence[Window],
    dimensions: Sequence[_Dimension],
    prize: int,
    required: bool,
) -> None:
    """One client, or a mutually exclusive group of copies when the visit has several windows
    (PyVRP clients have one); the group, not its copies, is then what is required."""
    delivery = [dimension.amounts.get(visit.id, 0) for dimension in dimensions]
    group = model.add_client_group(required=required, name=visit.id) if len(windows) > 1 else None
    for early, late in windows:
        model.add_client(
            location,
            delivery=delivery,
            service_duration=visit.service_s,
            tw_early=early,
            tw_late=late,
            prize=prize,
            required=required and group is None,
            group=group,
            name=visit.id,
        )


# --- Searching ------------------------------------------------------------------------------------


class _Watch:
    """PyVRP's stopping criterion, called once per iteration with the best cost so far: it stops
    the search at the time or iteration limit and reports progress on the way."""

    def __init__(
        self,
        *,
        started: float,
        time_limit_s: float,
        max_iterations: int | None,
        on_progress: Callable[[ProgressInfo], None] | None,
        interval_s: float,
        cost_of: Callable[[int], int],
    ) -> None:
        self._started = started
        self._time_limit_s = time_limit_s
        self._max_iterations = max_iterations
        self._on_progress = on_progress
        self._interval_s = interval_s
        self._cost_of = cost_of
        self._calls = 0
        self._best_cost: int | None = None
        self._reported_at = started

    def __call__(self, best_cost: int) -> bool:
        self._calls += 1
        # PyVRP passes the largest int64 while its best solution is infeasible.
        self._best_cost = None if best_cost >= np.iinfo(np.int64).max else best_cost
        self.report(final=False)
        if self._max_iterations is not None and self.iterations >= self._max_iterations:
            return True
        return time.perf_counter() - self._started >= self._time_limit_s

    @property
    def iterations(self) -> int:
        """Iterations completed: the first call comes before the first iteration."""
        return max(self._calls - 1, 0)

    def report(self, *, final: bool) -> None:
        now = time.perf_counter()
        if self._on_progress is None or (not final and now - self._reported_at < self._interval_s):
            return
        self._reported_at = now
        cost = None if self._best_cost is None else self._cost_of(self._best_cost)
        self._on_progress(ProgressInfo(cost, now - self._started, self.iterations))


def _search(
    data: ProblemData,
    watch: _Watch,
    seed: int,
    top_prize: int,
    means: tuple[float, float],
) -> Result:
    """PyVRP's ``solve`` (iterated local search over its default operators), started with
    penalties scaled to the day rather than PyVRP's fixed midpoint: with the midpoint, the
    first tens of thousands of iterations stay away from infeasible plans, through which the
    search finds its way to better ones (RC101's optimum is found in 10 s about half the time
    instead of almost never)."""
    penalty_params = PenaltyParams(
        # A unit of violation (a second late, a skill missing) must be able to cost more than
        # any prize, or the search would rather break a rule than leave a visit out.
        max_penalty=max(_DEFAULT_MAX_PENALTY, 2.0 * top_prize),
    )
    rng = RandomNumberGenerator(seed=seed)
    local_search = LocalSearch(data, rng, compute_neighbours(data), PerturbationManager())
    for operator in OPERATORS:
        if operator.supports(data):
            local_search.add_operator(operator(data))
    initial = _initial_penalties(data, penalty_params, *means)
    penalties = PenaltyManager(initial, penalty_params)
    start = local_search(
        Solution.make_random(data, rng), penalties.max_cost_evaluator(), exhaustive=True
    )
    search = IteratedLocalSearch(data, penalties, local_search, start)
    return search.run(watch, collect_stats=False)


def _initial_penalties(
    data: ProblemData, params: PenaltyParams, mean_duration: float, mean_distance: float
) -> tuple[list[float], float, float]:
    """Penalties per unit of excess load (per dimension), of time warp and of excess distance
    that make an average violation cost about as much as an average edge, or an average prize
    when there are prizes (the rule of Vidal's HGS, which PyVRP used before 0.14). The means
    are over the travel matrices."""
    edge_cost = max(
        vehicle.unit_distance_cost * mean_distance + vehicle.unit_duration_cost * mean_duration
        for vehicle in data.vehicle_types()
    )
    clients = data.clients()
    prizes = [client.prize for client in clients if not client.required]
    reference = max(edge_cost, sum(prizes) / len(prizes) if prizes else 0.0, 1.0)

    def clipped(value: float) -> float:
        return min(max(value, params.min_penalty), params.max_penalty)

    loads = [
        clipped(reference / max(sum(c.delivery[k] for c in clients) / len(clients), 1.0))
        for k in range(data.num_load_dimensions)
    ]
    time_warp = clipped(reference / max(mean_duration, 1.0))
    distance = clipped(reference / max(mean_distance, 1.0))
    return loads, time_warp, distance


# --- Reading the answer ---------------------------------------------------------------------------


def _read(
    solution: Solution,
    problem: DayProblem,
    built: _Built,
    impossible: Sequence[str],
    prize_unit: int,
    *,
    started: float,
    iterations: int,
) -> DayPlan:
    by_shift = _by_shift(solution.routes(), built.fleets)
    routes = tuple(
        _route_plan(by_shift[number], shift.technician_id, built.owners)
        if number in by_shift
        else RoutePlan(shift.technician_id, (), 0, 0, shift.window[0])
        for number, shift in enumerate(problem.shifts)
    )
    planned = {stop.visit_id for route in routes for stop in route.stops}
    unplanned = tuple(visit.id for visit in problem.visits if visit.id not in planned)
    never = set(impossible)
    lost = prize_unit * sum(
        _weight(problem.visit(visit_id)) for visit_id in unplanned if visit_id not in never
    )
    dropped_pin = any(problem.visit(visit_id).pinned_to is not None for visit_id in unplanned)
    return DayPlan(
        routes=routes,
        unplanned=unplanned,
        travel_s=sum(route.travel_s for route in routes),
        distance_m=sum(route.distance_m for route in routes),
        cost=_routing_cost(solution.routes()) + lost,
        feasible=solution.is_feasible() and not dropped_pin,
        runtime_s=time.perf_counter() - started,
        iterations=iterations,
    )


def _by_shift(routes: Iterable[Route], fleets: Sequence[Sequence[int]]) -> dict[int, Route]:
    """Each route by the index of its shift: a vehicle type's routes go to its shifts in order."""
    free = [list(numbers) for numbers in fleets]
    return {free[route.vehicle_type()].pop(0): route for route in routes}


def _route_plan(route: Route, technician_id: str, owners: Sequence[str]) -> RoutePlan:
    stops = tuple(
        Stop(
            visit_id=owners[activity.idx],
            # PyVRP's start is after waiting for the window (and, in an infeasible plan, after
            # travelling back in time to meet it).
            arrival_s=activity.start_time - activity.wait_duration + activity.time_warp,
            start_s=activity.start_time,
            end_s=activity.end_time,
        )
        for activity in route.schedule()
        if activity.is_client()
    )
    return RoutePlan(
        technician_id=technician_id,
        stops=stops,
        travel_s=route.travel_duration(),
        distance_m=route.distance(),
        finish_s=route.end_time(),
    )


def _routing_cost(routes: Iterable[Route]) -> int:
    """Distance, duration and overtime costs of the routes, as PyVRP counts them."""
    return sum(route.distance_cost() + route.duration_cost() for route in routes)


def _empty_plan(problem: DayProblem, unplanned: Sequence[str], started: float) -> DayPlan:
    """The plan when nothing can be planned: every shift idle, every visit unplanned."""
    routes = tuple(
        RoutePlan(shift.technician_id, (), 0, 0, shift.window[0]) for shift in problem.shifts
    )
    return DayPlan(
        routes=routes,
        unplanned=tuple(unplanned),
        travel_s=0,
        distance_m=0,
        cost=0,
        feasible=not any(problem.visit(v).pinned_to is not None for v in unplanned),
        runtime_s=time.perf_counter() - started,
        iterations=0,
    )
