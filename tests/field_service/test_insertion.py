"""planning.insertion: ranking technicians for one job by the cost of inserting it.

Pure tests: no database. Most days are on a plane at one unit a second (``Euclidean()``), so a
distance is also a number of seconds, and every expected number is worked out by hand in the
comment beside it. Times are seconds from midnight; ``at(8, 30)`` is 08:30.

Default weights, used by the hand-checked tests: travel 1, lateness 4 per second plus 7200 once,
slack 0.5 per second of delay passed on, 300 per skill level too many, workload 0.05 per second
already planned, overtime 2 per second.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from field_service.planning.insertion import (
    DayRoute,
    EuclideanLegs,
    Fleet,
    FloatArray,
    HaversineLegs,
    IntArray,
    MatrixLegs,
    PlannedStop,
    Suggestion,
    Weights,
    one_to_many,
    rank,
)
from field_service.planning.problem import Point, Shift, Visit
from field_service.planning.travel import Euclidean, Haversine, IntMatrix, TravelProvider

PLANE = Euclidean()
MIN = 60


def at(hour: int, minute: int = 0) -> int:
    return hour * 3600 + minute * MIN


def shift(technician_id: str, home: Point = (0, 0), **kwargs: Any) -> Shift:
    kwargs.setdefault("window", (at(8), at(17)))
    kwargs.setdefault("end", home)
    return Shift(technician_id=technician_id, start=home, **kwargs)


def stop(visit_id: str, x: float, start_s: int, **kwargs: Any) -> PlannedStop:
    kwargs.setdefault("service_s", 10 * MIN)
    kwargs.setdefault("latest_start_s", at(12))
    return PlannedStop(visit_id=visit_id, point=(x, 0), start_s=start_s, **kwargs)


def job(x: float = 20 * MIN, y: float = 0, **kwargs: Any) -> Visit:
    kwargs.setdefault("service_s", 10 * MIN)
    return Visit(id="job", point=(x, y), **kwargs)


def ann_day(**b_changes: Any) -> DayRoute:
    """Ann starts at 0 and ends at 40 min along a road; a is at 10 min, b at 30 min.

    08:00 leaves home, 08:10 a (10 min), 08:20 leaves, 08:40 at b, waits 10 min, 08:50 b
    (10 min), 09:00 leaves, 09:10 back at the end point. 20 min of work planned.
    """
    b = stop("b", 30 * MIN, at(8, 50))
    return DayRoute(
        shift=shift("ann", skills={"hvac": 3}, end=(40 * MIN, 0)),
        stops=(stop("a", 10 * MIN, at(8, 10)), replace(b, **b_changes)),
    )


def only(suggestions: list[Suggestion]) -> Suggestion:
    (suggestion,) = suggestions
    return suggestion


# --- Where the job goes ----------------------------------------------------------------------


def test_the_closer_technician_wins() -> None:
    # given: empty days; ann lives 90 s from the job, bob 10 s
    routes = [DayRoute(shift("ann", (0, 0))), DayRoute(shift("bob", (100, 0)))]

    suggestions = rank(job(90, service_s=10), routes, PLANE)

    # then: there and back is 180 s of driving for ann, 20 s for bob; nothing else costs
    assert [(s.technician_id, s.cost, s.travel_added_s) for s in suggestions] == [
        ("bob", 20.0, 20),
        ("ann", 180.0, 180),
    ]
    assert (suggestions[0].position, suggestions[0].arrival_s, suggestions[0].start_s) == (
        0,
        at(8) + 10,
        at(8) + 10,
    )
    assert all(s.feasible for s in suggestions)


def test_the_job_goes_in_the_middle_of_the_day_when_that_is_cheapest() -> None:
    # given: the job lies on the road at 20 min, between a and b
    # Before a: 20 + 10 - 10 = 20 min more driving, and a is pushed 30 min, b (which had 10 min
    #   to wait) 20 min: 1200 + 0.5 * 3000 + 0.05 * 1200 = 2760.
    # Between a and b: 10 + 10 - 20 = no more driving; leaves a 08:20, arrives 08:30, done
    #   08:40, at b 08:50 as planned: 0.05 * 1200 = 60.
    # After b: 10 + 20 - 10 = 20 min more: 1200 + 60 = 1260.
    suggestion = only(rank(job(), [ann_day()], PLANE))

    assert (suggestion.position, suggestion.cost, suggestion.travel_added_s) == (1, 60.0, 0)
    assert (suggestion.arrival_s, suggestion.start_s) == (at(8, 30), at(8, 30))
    assert suggestion.reasons == (
        "no extra driving (after a, before b)",
        "arrives 08:30",
        "20 min of work already planned",
    )


def test_a_time_window_rules_out_the_cheapest_position() -> None:
    # given: the job must start by 08:25; between a and b it would start 08:30, after b 09:10
    visit = job(windows=((at(8), at(8, 25)),))

    suggestion = only(rank(visit, [ann_day()], PLANE))

    # then: only before a fits (the 2760 worked out above): arrives 08:20; a is pushed 30 min
    # and b, which had 10 min to wait, 20 min
    assert (suggestion.position, suggestion.cost, suggestion.arrival_s) == (0, 2760.0, at(8, 20))
    assert suggestion.reasons == (
        "20 min extra driving (first, before a)",
        "arrives 08:20, within the 08:00–08:25 window",
        "2 later jobs pushed by up to 30 min",
        "20 min of work already planned",
    )


def test_waiting_for_the_window_to_open_is_in_the_start_time() -> None:
    # given: the window opens at 08:45, and b is pinned
    # Between a and b: arrives 08:30, waits, starts 08:45, done 08:55, at b 09:05: b pushed
    #   15 min: 0.5 * 900 + 60 = 510.
    # Before a: starts 08:45, at a 09:05: a pushed 55 min, b 45 min: 1200 + 0.5 * 6000 + 60.
    # After b: arrives 09:10, inside the window: 1260.
    visit = job(windows=((at(8, 45), at(12)),))

    suggestion = only(rank(visit, [ann_day(pinned=True)], PLANE))

    assert (suggestion.position, suggestion.cost) == (1, 510.0)
    assert (suggestion.arrival_s, suggestion.start_s) == (at(8, 30), at(8, 45))
    assert suggestion.reasons == (
        "no extra driving (after a, before b)",
        "arrives 08:30, waits 15 min for the 08:45–12:00 window",
        "1 later job pushed by 15 min (b pinned)",
        "20 min of work already planned",
    )


def test_a_job_past_its_last_window_does_not_fit_anywhere() -> None:
    # given: the window closes at 08:10, and the earliest arrival is 08:20 (before a)
    visit = job(windows=((at(7), at(8, 10)),))

    assert rank(visit, [ann_day()], PLANE) == []
    suggestion = only(rank(visit, [ann_day()], PLANE, include_infeasible=True))

    # then: listed with its cheapest place all the same (between a and b, 60) and why not
    assert (suggestion.feasible, suggestion.position, suggestion.cost) == (False, 1, 60.0)
    assert suggestion.reasons[1] == "arrives 08:30, after its last window closed at 08:10"


def test_a_pinned_start_acts_as_a_window_of_one_instant() -> None:
    # given: the job is pinned to start at 08:50; after b it would arrive 09:10, too late
    # Between a and b: arrives 08:30, starts 08:50, done 09:00, at b 09:10: b pushed 20 min:
    #   0.5 * 1200 + 60 = 660.
    # Before a: starts 08:50, done 09:00, at a 09:10: a pushed 60 min, b 50 min:
    #   1200 + 0.5 * 6600 + 60 = 4560.
    visit = job(pinned_start_s=at(8, 50))

    suggestion = only(rank(visit, [ann_day()], PLANE))

    assert (suggestion.position, suggestion.start_s, suggestion.cost) == (1, at(8, 50), 660.0)
    assert suggestion.reasons[1] == "arrives 08:30, waits 20 min for the 08:50 appointment"


# --- Later stops, overtime -------------------------------------------------------------------


def test_pushing_a_later_stop_past_its_latest_start_rules_the_position_out() -> None:
    # given: the window opens at 08:45, so between a and b pushes b 15 min (see above)
    visit = job(windows=((at(8, 45), at(12)),))

    # when: b may start until 09:05 (15 min of slack) or only until 09:04
    fits = only(rank(visit, [ann_day(latest_start_s=at(9, 5))], PLANE))
    tight = only(rank(visit, [ann_day(latest_start_s=at(9, 4))], PLANE))

    # then: exactly 15 min fits; 14 min leaves only after b (1260: arrives 09:10)
    assert (fits.position, fits.cost) == (1, 510.0)
    assert (tight.position, tight.cost, tight.arrival_s) == (2, 1260.0, at(9, 10))

    # when: the window also closes at 09:05, before the arrival after b
    closing = job(windows=((at(8, 45), at(9, 5)),))
    listed = rank(closing, [ann_day(latest_start_s=at(9, 4))], PLANE, include_infeasible=True)

    # then: nothing fits; the cheapest place is still between a and b, and b is why not
    assert (only(listed).feasible, only(listed).position, only(listed).cost) == (False, 1, 510.0)
    assert only(listed).reasons[2:4] == (
        "1 later job pushed by 15 min",
        "would start b 1 min after its latest start (09:04)",
    )


def test_waiting_planned_at_a_later_stop_absorbs_part_of_a_push() -> None:
    # given: the job must start by 08:25, so it goes before a, pushing a 30 min; b had 10 min
    # to wait, so it is pushed 20 min
    visit = job(windows=((at(8), at(8, 25)),))
    a_may_slip = replace(ann_day().stops[0], latest_start_s=at(8, 40))

    def day(b_latest: int) -> DayRoute:
        route = ann_day(latest_start_s=b_latest)
        return replace(route, stops=(a_may_slip, route.stops[1]))

    # when: b may start until 09:10 (20 min of slack, less than the 30 min push), or 09:09
    fits = only(rank(visit, [day(at(9, 10))], PLANE))
    late = rank(visit, [day(at(9, 9))], PLANE)

    assert (fits.feasible, fits.position, fits.cost) == (True, 0, 2760.0)
    assert late == []


def test_overtime_is_allowed_up_to_the_shift_allowance_at_a_cost() -> None:
    # given: an empty day 08:00-09:00; the job is 20 min away, its window opens at 08:30 and
    # it lasts 30 min: arrives 08:20, starts 08:30, done 09:00, home 09:20
    visit = job(service_s=30 * MIN, windows=((at(8, 30), at(12)),))

    def day(overtime_s: int) -> list[DayRoute]:
        return [DayRoute(shift("ann", window=(at(8), at(9)), overtime_s=overtime_s))]

    within = only(rank(visit, day(20 * MIN), PLANE))
    beyond = rank(visit, day(19 * MIN), PLANE)
    listed = only(rank(visit, day(19 * MIN), PLANE, include_infeasible=True))

    # then: 40 min of driving and 20 min of overtime at 2 per second: 2400 + 2400
    assert (within.cost, within.start_s) == (4800.0, at(8, 30))
    assert "20 min of overtime" in within.reasons
    assert beyond == []
    assert listed.feasible is False
    assert listed.reasons[2] == (
        "would end the day at 09:20, past the shift end and its 19 min of overtime"
    )


# --- Skills, SLA, workload -------------------------------------------------------------------


def test_a_technician_without_the_skill_is_left_out_or_listed_last() -> None:
    # given: four technicians at the same place; the job needs hvac 3
    routes = [
        DayRoute(shift("ann", skills={"hvac": 2})),
        DayRoute(shift("bob", skills={"hvac": 4})),
        DayRoute(shift("cyd")),
        DayRoute(shift("dan", skills={"hvac": 3})),
    ]
    visit = job(skills={"hvac": 3})

    ranked = rank(visit, routes, PLANE)
    listed = rank(visit, routes, PLANE, include_infeasible=True)

    # then: 40 min there and back for everyone; bob's extra level costs 300
    assert [(s.technician_id, s.cost) for s in ranked] == [("dan", 2400.0), ("bob", 2700.0)]
    assert ranked[1].reasons[-2] == "skills: hvac 4 ≥ 3"
    # and the others follow, cheapest first (ann's surplus is 0, like cyd's), then by id
    assert [(s.technician_id, s.feasible) for s in listed] == [
        ("dan", True),
        ("bob", True),
        ("ann", False),
        ("cyd", False),
    ]
    assert listed[2].reasons[0] == "missing skill hvac (needs 3, has 2)"
    assert listed[3].reasons[0] == "missing skill hvac"


def test_starting_after_the_sla_deadline_costs_more_and_says_so() -> None:
    # given: ann's shift starts 08:00, 20 min from the job; bob's 07:30, 30 min from it
    routes = [
        DayRoute(shift("ann", (0, 0))),
        DayRoute(shift("bob", (50 * MIN, 0), window=(at(7, 30), at(17)))),
    ]
    visit = job(due_s=at(8, 10))

    suggestions = rank(visit, routes, PLANE)

    # then: bob starts 08:00, 10 min early, for 60 min of driving: 3600; ann starts 08:20,
    # 10 min late: 2400 + 4 * 600 + 7200 = 12000
    assert [(s.technician_id, s.start_s, s.cost) for s in suggestions] == [
        ("bob", at(8), 3600.0),
        ("ann", at(8, 20), 12_000.0),
    ]
    assert "SLA: starts 10 min before the response deadline" in suggestions[0].reasons
    assert "SLA: starts 10 min after the response deadline (08:10)" in suggestions[1].reasons


def test_of_two_equally_placed_technicians_the_less_loaded_wins() -> None:
    # given: both have one job 20 min down the road at 15:00, ann's 2 h long, bob's 30 min;
    # the job is on the way, 10 min out: no extra driving before that job (10 + 10 - 20)
    def day(technician_id: str, service_s: int) -> DayRoute:
        far = stop("far", 20 * MIN, at(15), service_s=service_s, latest_start_s=at(16))
        return DayRoute(shift(technician_id), (far,))

    suggestions = rank(job(10 * MIN), [day("ann", 2 * 3600), day("bob", 30 * MIN)], PLANE)

    # then: 0.05 per second planned: bob 90, ann 360
    assert [(s.technician_id, s.cost, s.position) for s in suggestions] == [
        ("bob", 90.0, 0),
        ("ann", 360.0, 0),
    ]
    assert suggestions[0].reasons[-1] == "30 min of work already planned"
    assert suggestions[1].reasons[-1] == "2 h of work already planned"


def test_the_reasons_give_the_arrival_time_and_the_extra_driving() -> None:
    # given: an empty day at 20 min from a job with a window, an SLA and a skill
    visit = job(windows=((at(8), at(12)),), due_s=at(10), skills={"hvac": 2})

    suggestion = only(rank(visit, [DayRoute(shift("ann", skills={"hvac": 2}))], PLANE))

    assert suggestion.reasons == (
        "40 min extra driving (the only job of the day)",
        "arrives 08:20, within the 08:00–12:00 window",
        "SLA: starts 1 h 40 before the response deadline",
        "skills: hvac 2 ≥ 2",
        "no work planned yet",
    )


# --- Order -----------------------------------------------------------------------------------


def test_ties_go_by_technician_id_and_limit_cuts_the_list() -> None:
    routes = [DayRoute(shift(name)) for name in ("eve", "cyd", "ann", "dan", "bob")]

    first = rank(job(), routes, PLANE, limit=3)

    assert [s.technician_id for s in first] == ["ann", "bob", "cyd"]
    assert rank(job(), routes[::-1], PLANE, limit=3) == first
    assert rank(job(), routes, PLANE, limit=0) == []
    assert rank(job(), [], PLANE) == []


def test_a_fleet_ranks_many_jobs_against_the_same_days() -> None:
    routes = [ann_day(), DayRoute(shift("bob", (30 * MIN, 0)))]
    fleet = Fleet(routes, PLANE)

    for x in (0, 5 * MIN, 25 * MIN, 40 * MIN):
        assert fleet.rank(job(x)) == rank(job(x), routes, PLANE)


def test_weights_must_be_finite_and_not_negative() -> None:
    with pytest.raises(ValueError, match="slack"):
        Weights(slack=-1.0)
    with pytest.raises(ValueError, match="travel"):
        Weights(travel=float("inf"))


# --- Travel ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatricesOnly:
    """A provider that only answers full matrices, as a routing engine might."""

    inner: TravelProvider

    def matrices(self, points: Sequence[Point]) -> tuple[IntMatrix, IntMatrix]:
        return self.inner.matrices(points)


@dataclass(frozen=True)
class RoutingEngine(MatricesOnly):
    """A provider that also answers single legs."""

    def around(self, point: Point, points: FloatArray) -> tuple[IntArray, IntArray]:
        return MatrixLegs(self.inner).around(point, points)

    def legs(self, points: FloatArray) -> IntArray:
        return MatrixLegs(self.inner).legs(points)


def lyon(rng: random.Random, n: int, spread: float = 0.2) -> FloatArray:
    """Random points around Lyon, ``spread`` degrees of longitude either way (about 16 km at
    0.2), and three quarters as many of latitude."""
    return np.array(
        [
            (4.8 + rng.uniform(-spread, spread), 45.75 + rng.uniform(-spread, spread) * 0.75)
            for _ in range(n)
        ]
    )


@pytest.mark.parametrize(
    "provider", [Haversine(speed_kmh=35), Euclidean(scale=10, speed=3)], ids=repr
)
def test_single_legs_equal_the_providers_matrices(provider: TravelProvider) -> None:
    rng = random.Random(3)
    points = lyon(rng, 40) if isinstance(provider, Haversine) else lyon(rng, 40) * 1000
    seconds, _ = provider.matrices([(x, y) for x, y in points.tolist()])
    origin = (float(points[0, 0]), float(points[0, 1]))

    for legs in (one_to_many(provider), MatrixLegs(MatricesOnly(provider), chunk=7)):
        to_origin, from_origin = legs.around(origin, points[1:])
        assert to_origin.tolist() == seconds[1:, 0].tolist()
        assert from_origin.tolist() == seconds[0, 1:].tolist()
        assert legs.legs(points).tolist() == np.diagonal(seconds, offset=1).tolist()


def test_each_provider_gets_its_own_single_legs() -> None:
    assert isinstance(one_to_many(Haversine()), HaversineLegs)
    assert isinstance(one_to_many(PLANE), EuclideanLegs)
    assert isinstance(one_to_many(MatricesOnly(PLANE)), MatrixLegs)
    engine = RoutingEngine(PLANE)
    assert one_to_many(engine) is engine  # a provider that answers single legs itself


# --- Against a day simulated stop by stop ----------------------------------------------------

INTEGER_WEIGHTS = Weights(
    travel=1, lateness_risk=3, lateness_step=100, slack=2, skill_surplus=50, workload=1, overtime=5
)


def random_routes(rng: random.Random) -> list[DayRoute]:
    """Planned days that are consistent (no stop starts before the technician can be there),
    some with waits, some with stops already late or days already past their overtime."""
    routes = []
    for number in range(rng.randint(1, 6)):
        home = (rng.randint(0, 100), rng.randint(0, 100))
        begin = rng.randint(0, 50)
        day = shift(
            f"t{number}",
            home,
            end=rng.choice([home, (rng.randint(0, 100), rng.randint(0, 100))]),
            window=(begin, begin + rng.randint(150, 600)),
            overtime_s=rng.choice([0, 30, 60]),
            skills={"hvac": rng.randint(0, 3)},
        )
        stops = []
        clock, here = begin, home
        for k in range(rng.randint(0, 5)):
            there = (rng.randint(0, 100), rng.randint(0, 100))
            clock += int(PLANE.matrices([here, there])[0][0, 1]) + rng.choice([0, 0, 5, 40])
            stops.append(
                PlannedStop(
                    visit_id=f"t{number}-{k}",
                    point=there,
                    start_s=clock,
                    service_s=rng.randint(5, 30),
                    latest_start_s=clock + rng.randint(-10, 80),
                    pinned=rng.random() < 0.2,
                )
            )
            clock += stops[-1].service_s
            here = there
        routes.append(DayRoute(day, tuple(stops)))
    return routes


def random_visit(rng: random.Random) -> Visit:
    windows = []
    for _ in range(rng.randint(0, 2)):
        opens = rng.randint(0, 400)
        windows.append((opens, opens + rng.randint(0, 150)))
    return Visit(
        id="job",
        point=(rng.randint(0, 100), rng.randint(0, 100)),
        service_s=rng.randint(5, 40),
        windows=tuple(windows),
        skills=rng.choice([{}, {"hvac": 1}, {"hvac": 2}]),
        due_s=rng.choice([None, rng.randint(0, 400)]),
    )


def simulated(visit: Visit, routes: list[DayRoute], weights: Weights) -> list[Suggestion]:
    """The ranking, one position at a time, replaying each day with the job in it."""

    def t(a: Point, b: Point) -> int:
        return int(PLANE.matrices([a, b])[0][0, 1])

    entries = []
    for route in routes:
        day, stops = route.shift, route.stops
        nodes = [day.start, *(s.point for s in stops), day.end]
        planned_end = (
            stops[-1].start_s + stops[-1].service_s + t(stops[-1].point, day.end)
            if stops
            else day.window[0] + t(day.start, day.end)
        )
        limit = day.window[1] + day.overtime_s
        surplus = sum(max(0, day.skills.get(c, 0) - n) for c, n in visit.skills.items())
        workload = sum(s.service_s for s in stops)
        options = []
        for i in range(len(stops) + 1):
            leave = day.window[0] if i == 0 else stops[i - 1].start_s + stops[i - 1].service_s
            arrival = leave + t(nodes[i], visit.point)
            starts = [max(arrival, opens) for opens, closes in visit.windows if arrival <= closes]
            start = min(starts) if starts else arrival
            fits = bool(starts) or not visit.windows
            clock, here, delay = start + visit.service_s, visit.point, 0
            fits &= clock <= limit
            for later in stops[i:]:
                begins = max(later.start_s, clock + t(here, later.point))
                delay += begins - later.start_s
                fits &= begins <= max(later.latest_start_s, later.start_s)
                clock, here = begins + later.service_s, later.point
            end = clock + t(here, day.end)
            fits &= end <= max(limit, planned_end)
            overtime = max(0, end - day.window[1]) - max(0, planned_end - day.window[1])
            late = 0 if visit.due_s is None else max(0, start - visit.due_s)
            travel = t(nodes[i], visit.point) + t(visit.point, nodes[i + 1])
            travel -= t(nodes[i], nodes[i + 1])
            cost = (
                weights.travel * travel
                + weights.slack * delay
                + weights.overtime * overtime
                + weights.lateness_risk * late
                + weights.lateness_step * (late > 0)
                + weights.skill_surplus * surplus
                + weights.workload * workload
            )
            options.append((not fits, cost, i, arrival, start, travel))
        best = min(options)
        feasible = not best[0] and day.can_do(visit)
        entries.append((not feasible, best[1], day.technician_id, best))
    entries.sort()
    return [
        Suggestion(
            technician_id=technician_id,
            cost=cost,
            position=best[2],
            arrival_s=best[3],
            start_s=best[4],
            travel_added_s=best[5],
            reasons=(),
            feasible=not infeasible,
        )
        for infeasible, cost, technician_id, best in entries
    ]


def test_the_ranking_equals_a_day_replayed_stop_by_stop() -> None:
    rng = random.Random(11)
    for case in range(400):
        routes = random_routes(rng)
        visit = random_visit(rng)

        ranked = rank(
            visit, routes, PLANE, weights=INTEGER_WEIGHTS, limit=100, include_infeasible=True
        )

        expected = simulated(visit, routes, INTEGER_WEIGHTS)
        assert [replace(s, reasons=()) for s in ranked] == expected, f"case {case}"


# --- Speed -----------------------------------------------------------------------------------


def busy_city(rng: random.Random, travel: Haversine) -> list[DayRoute]:
    """500 technicians around Lyon, each with 10 jobs a few km apart planned back to back from
    08:00, each with 15 min to 2 h of slack."""
    routes = []
    homes = lyon(rng, 500, spread=0.06).tolist()
    for number, (x, y) in enumerate(homes):
        here: Point = (x, y)
        day = shift(f"t{number:03d}", here, skills={"hvac": rng.randint(0, 4)}, overtime_s=1800)
        stops = []
        clock = at(8)
        for k, (sx, sy) in enumerate(lyon(rng, 10, spread=0.06).tolist()):
            clock += travel.between(here, (sx, sy))[0]
            service_s = rng.choice([15 * MIN, 20 * MIN, 30 * MIN])
            stops.append(
                PlannedStop(
                    f"v{number}-{k}",
                    (sx, sy),
                    clock,
                    service_s,
                    clock + rng.randint(15 * MIN, 2 * 3600),
                    pinned=k == 3,
                )
            )
            clock += service_s
            here = (sx, sy)
        routes.append(DayRoute(day, tuple(stops)))
    return routes


def test_ranking_500_technicians_with_5000_planned_jobs_is_fast() -> None:
    rng = random.Random(5)
    travel = Haversine(speed_kmh=35)
    routes = busy_city(rng, travel)
    visit = Visit(
        "job",
        (4.83, 45.76),
        30 * MIN,
        windows=((at(10), at(14)),),
        skills={"hvac": 2},
        due_s=at(13),
    )

    timings = []
    for _ in range(50):
        began = time.perf_counter()
        suggestions = rank(visit, routes, travel)
        timings.append(time.perf_counter() - began)

    median_ms = statistics.median(timings) * 1000
    print(f"rank, 500 technicians x 10 stops: median {median_ms:.2f} ms")
    assert len(suggestions) == 10
    assert median_ms < 50
