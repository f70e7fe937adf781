"""planning.solver: the day-plan optimiser on small hand-made days and on a Solomon instance.

Pure tests: no database. Travel is on a plane at one unit a second, so a distance is also a
number of seconds. Small days are bounded by iterations, which makes them deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from field_service.planning.problem import DayPlan, DayProblem, Point, RoutePlan, Shift, Visit
from field_service.planning.solomon import gap, read_solomon
from field_service.planning.solver import ProgressInfo, Weights, solve_day
from field_service.planning.travel import Euclidean

# C101, copied from ../shared/data/solomon/ (the benchmark reads the three instances there):
# the suite must not depend on what lies beside the checkout.
SOLOMON = Path(__file__).resolve().parent / "data"
PLANE = Euclidean()
DAY = (0, 20_000)


def shift(technician_id: str, at: Point = (0, 0), **kwargs: Any) -> Shift:
    kwargs.setdefault("window", DAY)
    return Shift(technician_id=technician_id, start=at, end=at, **kwargs)


def visit(visit_id: str, at: Point, service_s: int = 300, **kwargs: Any) -> Visit:
    return Visit(id=visit_id, point=at, service_s=service_s, **kwargs)


def solve(problem: DayProblem, **kwargs: Any) -> DayPlan:
    kwargs.setdefault("time_limit_s", 10.0)
    kwargs.setdefault("max_iterations", 300)
    return solve_day(problem, PLANE, **kwargs)


def route_of(plan: DayPlan, technician_id: str) -> RoutePlan:
    return next(route for route in plan.routes if route.technician_id == technician_id)


def visits_of(plan: DayPlan, technician_id: str) -> set[str]:
    return {stop.visit_id for stop in route_of(plan, technician_id).stops}


def assert_consistent(plan: DayPlan, problem: DayProblem) -> None:
    """Every stop starts in one of its windows (or anywhere without), after arriving, and lasts
    its service; every route is back within its shift; every visit is planned once at most."""
    shifts = {s.technician_id: s for s in problem.shifts}
    seen: list[str] = []
    for route in plan.routes:
        shift_ = shifts[route.technician_id]
        for stop in route.stops:
            v = problem.visit(stop.visit_id)
            assert stop.arrival_s <= stop.start_s
            assert stop.end_s == stop.start_s + v.service_s
            if v.windows:
                assert any(early <= stop.start_s <= late for early, late in v.windows)
            assert shift_.window[0] <= stop.arrival_s
            assert stop.end_s <= route.finish_s
            seen.append(stop.visit_id)
        assert route.finish_s <= shift_.window[1] + shift_.overtime_s
    assert len(seen) == len(set(seen))
    assert set(seen) | set(plan.unplanned) == {v.id for v in problem.visits}
    assert not set(seen) & set(plan.unplanned)


def test_a_visit_needing_a_skill_level_goes_only_to_a_technician_who_has_it() -> None:
    # given: ann (gas level 2) starts next to the two gas jobs, bob (level 3) far away
    problem = DayProblem(
        visits=(
            visit("gas1", (1100, 0), skills={"gas": 3}),
            visit("gas2", (1000, 100), skills={"gas": 3}),
            visit("near-ann", (1100, 100)),
            visit("near-bob", (-1100, 0)),
        ),
        shifts=(
            shift("ann", (1000, 0), skills={"gas": 2}),
            shift("bob", (-1000, 0), skills={"gas": 3}),
        ),
    )

    plan = solve(problem)

    # then: bob drives over for them
    assert plan.feasible
    assert plan.unplanned == ()
    assert {"gas1", "gas2", "near-bob"} <= visits_of(plan, "bob")
    assert not {"gas1", "gas2"} & visits_of(plan, "ann")
    assert_consistent(plan, problem)


def test_stops_start_within_their_windows_in_the_order_they_impose() -> None:
    # given: three jobs along a line whose windows ask for the far one first
    problem = DayProblem(
        visits=(
            visit("a", (1000, 0), windows=((9000, 9500),)),
            visit("b", (2000, 0), windows=((5000, 5500),)),
            visit("c", (3000, 0), windows=((3000, 3500),)),
        ),
        shifts=(shift("ann"),),
    )

    plan = solve(problem)

    assert plan.feasible
    stops = route_of(plan, "ann").stops
    assert [stop.visit_id for stop in stops] == ["c", "b", "a"]
    assert [stop.start_s for stop in stops] == [3000, 5000, 9000]
    assert [stop.arrival_s for stop in stops] == [3000, 4300, 6300]
    assert route_of(plan, "ann").finish_s == 10_300
    assert route_of(plan, "ann").distance_m == 6000
    assert_consistent(plan, problem)


def test_a_visit_whose_first_window_cannot_be_reached_is_served_in_its_second() -> None:
    # given: 5000 s away, the first window closes at 1000
    problem = DayProblem(
        visits=(visit("far", (5000, 0), windows=((0, 1000), (6000, 7000))),),
        shifts=(shift("ann"),),
    )

    plan = solve(problem)

    assert plan.feasible
    (stop,) = route_of(plan, "ann").stops
    assert (stop.visit_id, stop.arrival_s, stop.start_s, stop.end_s) == ("far", 5000, 6000, 6300)
    assert_consistent(plan, problem)


def test_a_pinned_visit_with_two_windows_is_served_in_one_by_its_technician() -> None:
    problem = DayProblem(
        visits=(visit("far", (5000, 0), windows=((0, 1000), (6000, 7000)), pinned_to="bob"),),
        shifts=(shift("ann"), shift("bob", (0, 100))),
    )

    plan = solve(problem)

    assert plan.feasible
    assert [(s.visit_id, s.start_s) for s in route_of(plan, "bob").stops] == [("far", 6000)]
    assert route_of(plan, "ann").stops == ()


def test_a_pinned_visit_stays_with_its_technician_at_its_pinned_start() -> None:
    # given: the pinned job is on bob's doorstep, but pinned to ann at 5000
    problem = DayProblem(
        visits=(
            visit("pinned", (3900, 0), pinned_to="ann", pinned_start_s=5000),
            visit("free", (4500, 0)),
        ),
        shifts=(shift("ann", (0, 0)), shift("bob", (4000, 0))),
    )

    plan = solve(problem)

    assert plan.feasible
    assert [(s.visit_id, s.start_s) for s in route_of(plan, "ann").stops] == [("pinned", 5000)]
    assert visits_of(plan, "bob") == {"free"}
    assert_consistent(plan, problem)


def test_a_pin_to_a_technician_without_a_shift_comes_back_unplanned_and_infeasible() -> None:
    problem = DayProblem(
        visits=(visit("pinned", (100, 0), pinned_to="carol"), visit("free", (200, 0))),
        shifts=(shift("ann"),),
    )

    plan = solve(problem)

    assert plan.unplanned == ("pinned",)
    assert visits_of(plan, "ann") == {"free"}
    assert not plan.feasible


def test_a_visit_nobody_has_the_skill_for_is_unplanned_and_the_rest_planned() -> None:
    problem = DayProblem(
        visits=(
            visit("crane", (500, 0), skills={"crane": 1}),
            visit("a", (600, 0)),
            visit("b", (-600, 0), skills={"gas": 1}),
            visit("c", (0, 700)),
        ),
        shifts=(shift("ann", skills={"gas": 2}), shift("bob")),
    )

    plan = solve(problem)

    assert plan.feasible
    assert plan.unplanned == ("crane",)
    assert visits_of(plan, "ann") | visits_of(plan, "bob") == {"a", "b", "c"}
    assert "b" in visits_of(plan, "ann")
    assert_consistent(plan, problem)


def test_the_shift_end_bounds_the_day_and_the_higher_priorities_are_kept() -> None:
    # given: four hour-long jobs 100 s from home, a shift of three and a half hours
    visits = tuple(
        visit(name, (100, 0), service_s=3600, priority=priority)
        for name, priority in [("low", 1), ("high1", 3), ("high2", 3), ("high3", 3)]
    )
    problem = DayProblem(visits=visits, shifts=(shift("ann", window=(0, 11_000)),))

    plan = solve(problem)

    # then: three fit (200 + 3 x 3600 = 11 000), the low-priority one waits
    assert plan.feasible
    assert plan.unplanned == ("low",)
    assert route_of(plan, "ann").finish_s == 11_000
    # the trip, and the prize of the job left out: more than any job can add (2 x 100 + 1)
    assert plan.cost == 200 + 201
    assert_consistent(plan, problem)


def test_overtime_is_used_to_plan_more_but_never_beyond_its_allowance() -> None:
    visits = tuple(visit(f"job{n}", (100, 0), service_s=3600) for n in range(4))
    allowed = DayProblem(visits=visits, shifts=(shift("ann", window=(0, 11_000), overtime_s=3600),))
    too_short = DayProblem(
        visits=visits, shifts=(shift("ann", window=(0, 11_000), overtime_s=3500),)
    )

    plan = solve(allowed)
    short_plan = solve(too_short)

    assert plan.feasible
    assert plan.unplanned == ()
    assert route_of(plan, "ann").finish_s == 14_600
    # 3600 s of overtime at 10 a second, plus the 200 m of the single trip
    assert plan.cost == 200 + 10 * 3600
    assert len(short_plan.unplanned) == 1
    assert route_of(short_plan, "ann").finish_s == 11_000
    assert_consistent(plan, allowed)


def test_an_idle_technician_has_an_empty_route() -> None:
    problem = DayProblem(visits=(visit("a", (100, 0)),), shifts=(shift("ann"), shift("bob")))

    plan = solve(problem)

    assert [len(route.stops) for route in plan.routes] == [1, 0]
    assert plan.distance_m == 200
    assert plan.travel_s == 200
    assert plan.cost == 200


def mixed_day() -> DayProblem:
    """Eight jobs with windows and skills for two technicians: enough for the search to have
    choices to make."""
    points = [(500, 300), (900, -200), (-400, 800), (-700, -600), (300, 1200), (1500, 400)]
    points += [(-1200, 100), (200, -900)]
    visits = tuple(
        visit(
            f"v{n}",
            point,
            windows=((1000 * n, 1000 * n + 4000),) if n % 2 else (),
            skills={"gas": 1} if n % 3 == 0 else {},
        )
        for n, point in enumerate(points)
    )
    shifts = (shift("ann", (0, 0), skills={"gas": 1}), shift("bob", (100, 100)))
    return DayProblem(visits=visits, shifts=shifts)


def test_the_same_seed_gives_the_same_plan() -> None:
    problem = mixed_day()

    first = solve(problem, seed=7, max_iterations=2000)
    second = solve(problem, seed=7, max_iterations=2000)

    assert first.feasible
    assert (first.routes, first.unplanned, first.cost) == (
        second.routes,
        second.unplanned,
        second.cost,
    )
    assert first.iterations == second.iterations == 2000
    assert_consistent(first, problem)


def test_progress_is_reported_while_searching_and_at_the_end() -> None:
    reports: list[ProgressInfo] = []

    plan = solve(
        mixed_day(),
        time_limit_s=0.5,
        max_iterations=None,
        on_progress=reports.append,
        progress_interval_s=0.1,
    )

    assert len(reports) >= 3
    assert [r.elapsed_s for r in reports] == sorted(r.elapsed_s for r in reports)
    assert [r.iterations for r in reports] == sorted(r.iterations for r in reports)
    assert reports[-1].iterations == plan.iterations
    assert reports[-1].best_cost == plan.cost
    assert 0.5 <= plan.runtime_s < 2.0


def test_the_duration_weight_charges_the_whole_day_waiting_included() -> None:
    # given: the second job's window makes ann wait an hour
    problem = DayProblem(
        visits=(
            visit("early", (1000, 0), windows=((1000, 1200),)),
            visit("late", (1000, 100), windows=((5000, 5200),)),
        ),
        shifts=(shift("ann", window=(0, 20_000)),),
    )

    by_time = solve(problem, weights=Weights(distance=1, duration=1))

    assert by_time.feasible
    # then: back at 5300 + 1004 from (1000, 100); the day costs its distance plus its duration
    assert route_of(by_time, "ann").finish_s == 6304
    assert route_of(by_time, "ann").distance_m == 2104
    assert by_time.cost == 2104 + 6304


def test_solomon_c101_reads_as_a_day_of_25_vans_and_100_visits() -> None:
    problem, meta = read_solomon(SOLOMON / "C101.txt")

    assert (meta.name, meta.vehicles, meta.capacity, meta.scale) == ("C101", 25, 200, 10)
    assert (meta.optimum, meta.optimum_vehicles) == (827.3, 10)
    assert len(problem.shifts) == 25
    assert {s.window for s in problem.shifts} == {(0, 12_360)}
    assert len(problem.visits) == 100
    assert problem.visit("1") == Visit(
        id="1", point=(45.0, 68.0), service_s=900, windows=((9120, 9670),)
    )
    assert sum(meta.demands.values()) == 1810


def test_solomon_c101_is_solved_within_two_percent_in_three_seconds() -> None:
    problem, meta = read_solomon(SOLOMON / "C101.txt")

    plan = solve_day(problem, meta.travel, time_limit_s=3.0, extra_loads=meta.extra_loads(problem))

    assert plan.feasible
    assert plan.unplanned == ()
    assert gap(plan, meta) < 0.02
    for route in plan.routes:
        assert sum(meta.demands[stop.visit_id] for stop in route.stops) <= meta.capacity
    assert_consistent(plan, problem)
