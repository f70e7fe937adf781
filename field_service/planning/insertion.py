"""Suggestions: rank technicians for one job by what inserting it into their day would cost.

Each technician's day is a ``DayRoute``: their shift and the stops already planned, in order.
The job may go before any stop or after the last one; every such position of every technician
is priced in one pass of numpy arithmetic over flat arrays, and the cheapest feasible position
of each technician is what they are ranked by. Reasons are written only for the entries
returned.

Times are whole seconds from the plan's origin, as in ``problem``. Costs are in
seconds-equivalents: a second of extra driving costs ``Weights.travel`` (1 by default), and
every other term is weighed against it.

How a position is judged (``p`` is the stop or shift start before it, ``n`` the stop or shift
end after it, ``t(a, b)`` travel seconds):

- *arrival* = departure from ``p`` (its start plus service, or the shift's start for the first
  position) + ``t(p, job)``; *start* = the arrival, or the opening of the first window of the
  job that has not closed yet. A job without windows starts on arrival.
- *push* onto ``n`` = ``start + service + t(job, n) - n.start_s``, if positive. Later stops
  take it minus the waiting they had planned (a technician who waited for a window to open
  waits less), so the delay of each later stop is known without simulating the day again.
- It is feasible when the start is in a window of the job (any start is, without windows), no
  later stop is delayed past its ``latest_start_s`` and the day ends by the shift end plus its
  overtime. A day that already breaks one of these is not held against a position that does
  not make it worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from field_service.planning.problem import Point, Shift, Visit, Window
from field_service.planning.travel import EARTH_RADIUS_M, Euclidean, Haversine, TravelProvider

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# "No limit" in integer-second arithmetic: far beyond any day, far from overflowing.
UNBOUNDED = 2**52
# Slack beyond this (about 68 years) counts as this, which keeps the suffix minimum in int64.
SLACK_CAP = 2**31


@dataclass(frozen=True)
class PlannedStop:
    """A job already in a technician's day. ``latest_start_s`` is how late it may start: the
    end of its window, its pinned start or the shift end, as the service decides."""

    visit_id: str
    point: Point
    start_s: int  # planned service start
    service_s: int
    latest_start_s: int
    pinned: bool = False


@dataclass(frozen=True)
class DayRoute:
    """A technician's current day: the shift and the stops planned in it, in order. It must
    not contain the job being ranked."""

    shift: Shift
    stops: tuple[PlannedStop, ...] = ()


@dataclass(frozen=True)
class Weights:
    """What each part of an insertion costs, in seconds-equivalents (non-negative, finite)."""

    # Per second of driving added to the day: t(p, job) + t(job, n) - t(p, n).
    travel: float = 1.0
    # SLA risk. Per second the job would start after its ``due_s``...
    lateness_risk: float = 4.0
    # ...plus this once for any breach at all: a breach is a breach, however short.
    lateness_step: float = 7_200.0
    # Per second of delay passed on to a later stop, summed over them: the slack a fragile day
    # loses and the customers who see their time move.
    slack: float = 0.5
    # Per skill level above what the job needs, summed over its skills: keeps the experts free
    # for the jobs only they can do.
    skill_surplus: float = 300.0
    # Per second of service already planned in the day: spreads the work.
    workload: float = 0.05
    # Per second the day would end later past the shift end (within the shift's overtime).
    overtime: float = 2.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"Weight {name} must be finite and not negative, not {value}.")


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Suggestion:
    """One technician's best place for the job. An infeasible entry (only with
    ``include_infeasible``) gives its best place all the same, and the reasons it does not fit."""

    technician_id: str
    cost: float
    position: int  # insert before stops[position]; len(stops) appends
    arrival_s: int  # estimated arrival at the job
    start_s: int  # service start, after waiting for the window
    travel_added_s: int
    reasons: tuple[str, ...]
    feasible: bool


# --- Travel for the legs an insertion needs -------------------------------------------------


@runtime_checkable
class OneToMany(Protocol):
    """Travel seconds for the few legs an insertion needs, without a full matrix. A routing
    engine may implement this next to ``TravelProvider.matrices``; ``one_to_many`` adapts the
    others. ``points`` is an (n, 2) array of points."""

    def around(self, point: Point, points: FloatArray) -> tuple[IntArray, IntArray]:
        """(seconds from each of ``points`` to ``point``, seconds from ``point`` to each)."""
        ...

    def legs(self, points: FloatArray) -> IntArray:
        """Seconds from ``points[k]`` to ``points[k + 1]``, for each ``k`` (n - 1 of them)."""
        ...


@dataclass(frozen=True)
class HaversineLegs:
    """``Haversine``'s times, one leg at a time: the same formula, elementwise."""

    haversine: Haversine

    def _seconds(self, a: FloatArray, b: FloatArray) -> IntArray:
        lng_a, lat_a = np.radians(a[..., 0]), np.radians(a[..., 1])
        lng_b, lat_b = np.radians(b[..., 0]), np.radians(b[..., 1])
        h = (
            np.sin((lat_a - lat_b) / 2) ** 2
            + np.cos(lat_a) * np.cos(lat_b) * np.sin((lng_a - lng_b) / 2) ** 2
        )
        metres: FloatArray = (
            2
            * EARTH_RADIUS_M
            * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
            * self.haversine.road_factor
        )
        return np.rint(metres / (self.haversine.speed_kmh * 1000 / 3600)).astype(np.int64)

    def around(self, point: Point, points: FloatArray) -> tuple[IntArray, IntArray]:
        seconds = self._seconds(points, np.asarray(point, dtype=np.float64))
        return seconds, seconds  # the great circle is the same both ways

    def legs(self, points: FloatArray) -> IntArray:
        return self._seconds(points[:-1], points[1:])


@dataclass(frozen=True)
class EuclideanLegs:
    """``Euclidean``'s times, one leg at a time, truncated the same way."""

    euclidean: Euclidean

    def _seconds(self, a: FloatArray, b: FloatArray) -> IntArray:
        delta = a - b
        distance = np.floor(
            np.sqrt(delta[..., 0] ** 2 + delta[..., 1] ** 2) * self.euclidean.scale
        ).astype(np.int64)
        return np.floor(distance / self.euclidean.speed).astype(np.int64)

    def around(self, point: Point, points: FloatArray) -> tuple[IntArray, IntArray]:
        seconds = self._seconds(points, np.asarray(point, dtype=np.float64))
        return seconds, seconds

    def legs(self, points: FloatArray) -> IntArray:
        return self._seconds(points[:-1], points[1:])


@dataclass(frozen=True)
class MatrixLegs:
    """Any ``TravelProvider``, asked for matrices of at most ``chunk`` points at a time."""

    provider: TravelProvider
    chunk: int = 256

    def around(self, point: Point, points: FloatArray) -> tuple[IntArray, IntArray]:
        to_point = np.empty(len(points), dtype=np.int64)
        from_point = np.empty(len(points), dtype=np.int64)
        step = self.chunk - 1
        for first in range(0, len(points), step):
            block = points[first : first + step]
            seconds, _ = self.provider.matrices([point, *((x, y) for x, y in block.tolist())])
            to_point[first : first + len(block)] = seconds[1:, 0]
            from_point[first : first + len(block)] = seconds[0, 1:]
        return to_point, from_point

    def legs(self, points: FloatArray) -> IntArray:
        out = np.empty(max(len(points) - 1, 0), dtype=np.int64)
        step = self.chunk - 1
        # Blocks overlap by one point, so that every consecutive pair lies in one block.
        for first in range(0, len(points) - 1, step):
            block = points[first : first + self.chunk]
            seconds, _ = self.provider.matrices([(x, y) for x, y in block.tolist()])
            out[first : first + len(block) - 1] = np.diagonal(seconds, offset=1)
        return out


def one_to_many(travel: TravelProvider) -> OneToMany:
    """The fastest way to ask ``travel`` for single legs."""
    if isinstance(travel, OneToMany):
        return travel
    if isinstance(travel, Haversine):
        return HaversineLegs(travel)
    if isinstance(travel, Euclidean):
        return EuclideanLegs(travel)
    return MatrixLegs(travel)


# --- Ranking ---------------------------------------------------------------------------------


def rank(
    visit: Visit,
    routes: Sequence[DayRoute],
    travel: TravelProvider,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
    limit: int = 10,
    include_infeasible: bool = False,
) -> list[Suggestion]:
    """The technicians for ``visit``, cheapest insertion first (ties by technician id), at most
    ``limit``. Technicians who lack a skill or have no feasible position are left out, or, with
    ``include_infeasible``, listed after the feasible ones (still within ``limit``)."""
    return Fleet(routes, travel).rank(
        visit, weights=weights, limit=limit, include_infeasible=include_infeasible
    )


class Fleet:
    """The technicians' days flattened into arrays, with everything that does not depend on the
    job worked out: build it once per state of the day to rank many jobs against it.

    A route with ``n`` stops has ``n + 1`` positions and ``n + 2`` nodes (shift start, stops,
    shift end); position ``p`` of route ``r`` lies between nodes ``p + r`` and ``p + r + 1``.
    Per-stop arrays carry one dummy element at the end, so that gathers for the last position
    of a route stay in bounds (their values are masked out).
    """

    def __init__(self, routes: Sequence[DayRoute], travel: TravelProvider) -> None:
        self.routes = tuple(routes)
        self.legs = one_to_many(travel)
        n_routes = len(self.routes)
        stops = [stop for route in self.routes for stop in route.stops]
        n_stops = len(stops)
        counts = np.fromiter((len(r.stops) for r in self.routes), np.int64, n_routes)
        stop_offset = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.position_offset = stop_offset + np.arange(n_routes)

        shift_times = np.array(
            [(r.shift.window[0], r.shift.window[1], r.shift.overtime_s) for r in self.routes],
            dtype=np.int64,
        ).reshape(-1, 3)
        self.shift_end = shift_times[:, 1]
        self.limit = shift_times[:, 1] + shift_times[:, 2]
        stop_times = np.zeros((n_stops + 1, 3), dtype=np.int64)
        stop_times[:n_stops] = np.fromiter(
            chain.from_iterable((s.start_s, s.service_s, s.latest_start_s) for s in stops),
            np.int64,
            3 * n_stops,
        ).reshape(-1, 3)
        start, service, latest = stop_times[:, 0], stop_times[:, 1], stop_times[:, 2]
        self.nodes = np.array(
            [
                coordinate
                for route in self.routes
                for point in (route.shift.start, *(s.point for s in route.stops), route.shift.end)
                for coordinate in point
            ],
            dtype=np.float64,
        ).reshape(-1, 2)

        # Positions.
        n_positions = n_stops + n_routes
        route_of = np.repeat(np.arange(n_routes), counts + 1)
        index = np.arange(n_positions) - self.position_offset[route_of]
        self.route_of = route_of
        self.index = index
        self.is_last = index == counts[route_of]
        self.prev_node = np.arange(n_positions) + route_of
        self.next_node = self.prev_node + 1
        self.next_stop = stop_offset[route_of] + index  # the dummy (or next route's) when last
        self.next_start = start[self.next_stop]
        self.departure = np.where(
            index == 0, shift_times[route_of, 0], (start + service)[self.next_stop - 1]
        )
        self.base_leg = self.legs.legs(self.nodes)[self.prev_node]
        reach = self.departure + self.base_leg  # planned arrival at the next node
        # A route's end as planned: arrival back at its end point.
        self.planned_end = reach[self.is_last]

        # Waiting planned at each stop absorbs a push from earlier; ``absorbed`` is its running
        # total over all stops (so non-decreasing), and a push of P at stop g delays stop k of
        # the same route by max(0, P - (absorbed[k] - absorbed[g])).
        wait = np.maximum(0, start[:n_stops] - reach[~self.is_last])
        absorbed = np.zeros(n_stops + 1, dtype=np.int64)
        absorbed[:n_stops] = np.cumsum(wait)
        self.absorbed = absorbed
        self.absorbed_prefix = np.concatenate(([0], np.cumsum(absorbed[:n_stops])))
        slack = np.clip(latest - start, 0, SLACK_CAP)
        # The largest push at stop g that keeps every stop k >= g of its route by its latest
        # start: min over k of (slack[k] + absorbed[k]) - absorbed[g].
        stop_route = np.repeat(np.arange(n_routes), counts)
        reserve = np.full(n_stops + 1, UNBOUNDED, dtype=np.int64)
        reserve[:n_stops] = _segment_suffix_min(slack[:n_stops] + absorbed[:n_stops], stop_route)
        self.stop_end = (stop_offset + counts)[route_of]
        self.budget = np.where(
            self.is_last, UNBOUNDED, reserve[self.next_stop] - absorbed[self.next_stop]
        )
        self.absorbed_to_last = (
            absorbed[np.maximum(self.stop_end - 1, 0)] - absorbed[self.next_stop]
        )

        service_prefix = np.concatenate(([0], np.cumsum(service[:n_stops])))
        self.workload = service_prefix[stop_offset + counts] - service_prefix[stop_offset]
        order = sorted(range(n_routes), key=lambda r: self.routes[r].shift.technician_id)
        self.technician_order = np.empty(n_routes, dtype=np.int64)
        self.technician_order[order] = np.arange(n_routes)

    def rank(
        self,
        visit: Visit,
        *,
        weights: Weights = DEFAULT_WEIGHTS,
        limit: int = 10,
        include_infeasible: bool = False,
    ) -> list[Suggestion]:
        """As ``rank``, against the days this fleet was built from."""
        if not self.routes or limit <= 0:
            return []
        priced = self._price(visit, weights)
        feasible_routes = priced.capable & np.isfinite(priced.best_cost)
        chosen = _by_cost(np.flatnonzero(feasible_routes), priced.best_cost, self.technician_order)
        suggestions = [
            self._suggestion(visit, priced, int(priced.best_position[r]), feasible=True)
            for r in chosen[:limit]
        ]
        if include_infeasible and len(suggestions) < limit:
            # Their best place: the cheapest that fits the day, else the cheapest at all.
            fallback = np.where(
                np.isfinite(priced.best_cost), priced.best_position, priced.cheapest_position
            )
            others = np.flatnonzero(~feasible_routes)
            others = _by_cost(others, priced.cost[fallback], self.technician_order)
            suggestions += [
                self._suggestion(visit, priced, int(fallback[r]), feasible=False)
                for r in others[: limit - len(suggestions)]
            ]
        return suggestions

    def _price(self, visit: Visit, weights: Weights) -> _Priced:
        to_job, from_job = self.legs.around(visit.point, self.nodes)
        arrival = self.departure + to_job[self.prev_node]
        start, in_window = _start_in_windows(arrival, _windows(visit))
        job_end = start + visit.service_s
        after = job_end + from_job[self.next_node]
        push = np.where(self.is_last, 0, np.maximum(0, after - self.next_start))
        route_end = self.planned_end[self.route_of]
        new_end = np.where(
            self.is_last, after, route_end + np.maximum(0, push - self.absorbed_to_last)
        )
        limit = self.limit[self.route_of]
        fits = (
            in_window
            & (push <= self.budget)
            & (new_end <= np.maximum(limit, route_end))
            & (job_end <= limit)
        )

        # Delay summed over the later stops: those reached before the push is absorbed.
        base = self.absorbed[self.next_stop]
        reached = np.searchsorted(self.absorbed[:-1], base + push, side="left")
        n_pushed = np.where(
            push > 0, np.maximum(np.minimum(reached, self.stop_end) - self.next_stop, 0), 0
        )
        delay = n_pushed * (push + base) - (
            self.absorbed_prefix[self.next_stop + n_pushed] - self.absorbed_prefix[self.next_stop]
        )
        shift_end = self.shift_end[self.route_of]
        overtime = np.maximum(0, new_end - shift_end) - np.maximum(0, route_end - shift_end)
        travel_added = to_job[self.prev_node] + from_job[self.next_node] - self.base_leg
        if visit.due_s is None:
            late = np.zeros_like(start)
        else:
            late = np.maximum(0, start - visit.due_s)

        capable, surplus = self._skills(visit)
        cost = (
            weights.travel * travel_added
            + weights.slack * delay
            + weights.overtime * overtime
            + weights.lateness_risk * late
            + weights.lateness_step * (late > 0)
            + (weights.skill_surplus * surplus + weights.workload * self.workload)[self.route_of]
        )
        best_cost, best_position = _segment_argmin(
            np.where(fits, cost, np.inf), self.position_offset, self.route_of
        )
        _, cheapest_position = _segment_argmin(cost, self.position_offset, self.route_of)
        return _Priced(
            arrival=arrival,
            start=start,
            push=push,
            new_end=new_end,
            overtime=overtime,
            travel_added=travel_added,
            cost=cost,
            capable=capable,
            best_cost=best_cost,
            best_position=best_position,
            cheapest_position=cheapest_position,
        )

    def _skills(self, visit: Visit) -> tuple[BoolArray, IntArray]:
        """Whether each technician has every skill ``visit`` needs (``Shift.can_do``), and by
        how many levels they exceed it in all."""
        capable = np.ones(len(self.routes), dtype=np.bool_)
        surplus = np.zeros(len(self.routes), dtype=np.int64)
        for code, needed in visit.skills.items():
            level = np.fromiter(
                (r.shift.skills.get(code, 0) for r in self.routes), np.int64, len(self.routes)
            )
            capable &= level >= needed
            surplus += np.maximum(0, level - needed)
        return capable, surplus

    def _suggestion(
        self, visit: Visit, priced: _Priced, position: int, *, feasible: bool
    ) -> Suggestion:
        r = int(self.route_of[position])
        route = self.routes[r]
        index = int(self.index[position])
        arrival, start = int(priced.arrival[position]), int(priced.start[position])
        travel_added = int(priced.travel_added[position])
        capable = bool(priced.capable[r])
        reasons = [] if capable else _missing_skills(route.shift, visit)
        reasons += [_driving(travel_added, route, index), _timing(arrival, start, visit)]
        reasons += self._pushed(route, position, int(priced.push[position]))
        new_end = int(priced.new_end[position])
        if new_end > max(int(self.limit[r]), int(self.planned_end[r])):
            allowance = route.shift.overtime_s
            reasons.append(
                f"would end the day at {_clock(new_end)}, past the shift end"
                + (f" and its {_duration(allowance)} of overtime" if allowance else "")
            )
        elif priced.overtime[position] > 0:
            reasons.append(f"{_duration(int(priced.overtime[position]))} of overtime")
        if visit.due_s is not None:
            reasons.append(_sla(start, visit.due_s))
        if visit.skills and capable:
            reasons.append(_skills(route.shift, visit))
        workload = int(self.workload[r])
        reasons.append(
            f"{_duration(workload)} of work already planned" if workload else "no work planned yet"
        )
        return Suggestion(
            technician_id=route.shift.technician_id,
            cost=float(priced.cost[position]),
            position=index,
            arrival_s=arrival,
            start_s=start,
            travel_added_s=travel_added,
            reasons=tuple(reasons),
            feasible=feasible,
        )

    def _pushed(self, route: DayRoute, position: int, push: int) -> list[str]:
        """What a push of ``push`` seconds onto the next stop does to the later stops."""
        if push <= 0:
            return []
        first = int(self.next_stop[position])
        index = int(self.index[position])
        delays = [
            (stop, push - int(self.absorbed[first + k] - self.absorbed[first]))
            for k, stop in enumerate(route.stops[index:])
        ]
        delayed = [(stop, delay) for stop, delay in delays if delay > 0]
        reasons = []
        largest = max(delay for _, delay in delayed)
        jobs = "1 later job" if len(delayed) == 1 else f"{len(delayed)} later jobs"
        up_to = "" if all(delay == largest for _, delay in delayed) else "up to "
        pinned = [stop.visit_id for stop, _ in delayed if stop.pinned]
        reasons.append(
            f"{jobs} pushed by {up_to}{_duration(largest)}"
            + (f" ({', '.join(pinned)} pinned)" if pinned else "")
        )
        reasons += [
            f"would start {stop.visit_id} {_duration(stop.start_s + delay - stop.latest_start_s)}"
            f" after its latest start ({_clock(stop.latest_start_s)})"
            for stop, delay in delayed
            if delay > max(0, stop.latest_start_s - stop.start_s)
        ]
        return reasons


@dataclass(frozen=True)
class _Priced:
    """Every position priced for one job (per position), and each route's best (per route)."""

    arrival: IntArray
    start: IntArray
    push: IntArray
    new_end: IntArray
    overtime: IntArray
    travel_added: IntArray
    cost: FloatArray
    capable: BoolArray
    best_cost: FloatArray  # of the cheapest feasible position; inf when none
    best_position: IntArray
    cheapest_position: IntArray  # feasible or not


def _windows(visit: Visit) -> tuple[Window, ...]:
    if visit.pinned_start_s is not None:
        return ((visit.pinned_start_s, visit.pinned_start_s),)
    return visit.windows


def _start_in_windows(arrival: IntArray, windows: tuple[Window, ...]) -> tuple[IntArray, BoolArray]:
    """The earliest start at or after ``arrival`` inside one of ``windows`` (any start, when
    there are none), and whether there is one; the arrival itself when there is not."""
    if not windows:
        return arrival, np.ones(arrival.shape, dtype=np.bool_)
    bounds = np.array(windows, dtype=np.int64)
    candidates = np.where(
        arrival[:, None] <= bounds[None, :, 1],
        np.maximum(arrival[:, None], bounds[None, :, 0]),
        UNBOUNDED,
    ).min(axis=1)
    in_window = candidates < UNBOUNDED
    return np.where(in_window, candidates, arrival), in_window


def _segment_suffix_min(values: IntArray, segment: IntArray) -> IntArray:
    """For each element, the minimum of it and the later elements of its segment (``segment``
    sorted). Lifting each segment above the previous one keeps the running minimum, taken from
    the end, from leaking into an earlier segment."""
    if len(values) == 0:
        return values
    low = int(values.min())
    lift = (int(values.max()) - low + 1) * segment
    return np.minimum.accumulate((values - low + lift)[::-1])[::-1] - lift + low


def _segment_argmin(
    values: FloatArray, offsets: IntArray, segment: IntArray
) -> tuple[FloatArray, IntArray]:
    """Each segment's minimum and the index of its first occurrence (non-empty segments,
    starting at ``offsets``)."""
    minimum = np.minimum.reduceat(values, offsets)
    hits = np.flatnonzero(values == minimum[segment])
    first = np.concatenate(([True], segment[hits][1:] != segment[hits][:-1]))
    return minimum, hits[first]


def _by_cost(routes: IntArray, cost: FloatArray, technician_order: IntArray) -> IntArray:
    """``routes`` sorted by cost, then technician id."""
    return routes[np.lexsort((technician_order[routes], cost[routes]))]


# --- Reasons ---------------------------------------------------------------------------------


def _clock(seconds: int) -> str:
    """A time from the plan origin, to the nearest minute: "09:40", "01:10 (+1 d)"."""
    days, minute = divmod((seconds + 30) // 60, 24 * 60)
    text = f"{minute // 60:02d}:{minute % 60:02d}"
    return text if days == 0 else f"{text} ({days:+d} d)"


def _duration(seconds: int) -> str:
    """A length of time to the nearest minute: "under a minute", "12 min", "3 h", "3 h 20"."""
    if 0 < seconds < 30:
        return "under a minute"
    hours, minutes = divmod((seconds + 30) // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" if not minutes else f"{hours} h {minutes:02d}"


def _driving(travel_added: int, route: DayRoute, index: int) -> str:
    stops = route.stops
    if not stops:
        where = "the only job of the day"
    elif index == 0:
        where = f"first, before {stops[0].visit_id}"
    elif index == len(stops):
        where = f"last, after {stops[-1].visit_id}"
    else:
        where = f"after {stops[index - 1].visit_id}, before {stops[index].visit_id}"
    if travel_added <= 0:
        return f"no extra driving ({where})"
    return f"{_duration(travel_added)} extra driving ({where})"


def _window(window: Window) -> str:
    if window[0] == window[1]:
        return f"the {_clock(window[0])} appointment"
    return f"the {_clock(window[0])}–{_clock(window[1])} window"


def _timing(arrival: int, start: int, visit: Visit) -> str:
    windows = _windows(visit)
    if not windows:
        return f"arrives {_clock(arrival)}"
    window = next((w for w in windows if w[0] <= start <= w[1]), None)
    if window is None:
        closing = max(w[1] for w in windows)
        return f"arrives {_clock(arrival)}, after its last window closed at {_clock(closing)}"
    if start > arrival:
        return (
            f"arrives {_clock(arrival)}, waits {_duration(start - arrival)} for {_window(window)}"
        )
    return f"arrives {_clock(arrival)}, within {_window(window)}"


def _sla(start: int, due: int) -> str:
    if start <= due:
        return f"SLA: starts {_duration(due - start)} before the response deadline"
    return f"SLA: starts {_duration(start - due)} after the response deadline ({_clock(due)})"


def _skills(shift: Shift, visit: Visit) -> str:
    held = (
        f"{code} {shift.skills[code]} ≥ {needed}" for code, needed in sorted(visit.skills.items())
    )
    return "skills: " + ", ".join(held)


def _missing_skills(shift: Shift, visit: Visit) -> list[str]:
    missing = []
    for code, needed in sorted(visit.skills.items()):
        level = shift.skills.get(code, 0)
        if level >= needed:
            continue
        missing.append(
            f"missing skill {code} (needs {needed}, has {level})"
            if level
            else f"missing skill {code}"
        )
    return missing
