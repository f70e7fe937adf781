"""Day plans: a dispatcher asks for a territory's day to be optimised (a task runs PyVRP
with a time limit, reporting progress), reads the proposal, and accepts it whole or in part.
Acceptance assigns each job through ``work_order_assign``, the service a manual assignment
uses, so every check applies; a job that no longer passes is reported, the rest goes
through. A re-plan does the same for the rest of a day already under way (a job overran, an
urgent one arrived) and reports how each arrival time changes."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from field_service.day_problem import TerritoryDay, territory_day, travel_for
from field_service.models import DayPlanProposal, PlanKind, PlanState, WorkOrder
from field_service.permissions import require_board
from field_service.planning.problem import DayPlan
from field_service.planning.solver import ProgressInfo, Weights, solve_day
from field_service.services.dispatch import work_order_assign
from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User

logger = logging.getLogger(__name__)

MAX_TIME_LIMIT_S = 300.0
PLAN_TIME_LIMIT_S = 10.0
REPLAN_TIME_LIMIT_S = 0.8
# Distance in metres, plus each second of a technician's day (waiting included) as 5 metres:
# among routes of about the same length, the one that ends sooner wins.
WEIGHTS = Weights(distance=1, duration=5)


@transaction.atomic
def day_plan_start(
    *,
    actor: User,
    territory: str,
    date: dt.date,
    time_limit_s: float | None = None,
    kind: str = PlanKind.PLAN,
) -> DayPlanProposal:
    """Queue the optimisation of ``territory``'s ``date``; the task worker runs it after
    commit. The solver's time limit defaults to 10 s for a plan and 0.8 s for a re-plan (the
    service adds some 15 ms around it: a re-plan answers within a second)."""
    if time_limit_s is None:
        time_limit_s = REPLAN_TIME_LIMIT_S if kind == PlanKind.REPLAN else PLAN_TIME_LIMIT_S
    require_capability(actor, Capability.DISPATCH)
    require_board(actor, territory)
    if not 0.1 <= time_limit_s <= MAX_TIME_LIMIT_S:
        raise ApplicationError(
            "invalid",
            f"time_limit_s is from 0.1 to {MAX_TIME_LIMIT_S:g}.",
            fields={"time_limit_s": ["Out of range."]},
        )
    proposal = DayPlanProposal.objects.create(
        kind=kind, territory=territory, date=date, time_limit_s=time_limit_s, created_by=actor
    )
    from field_service.tasks import run_day_plan  # the task module imports this one

    transaction.on_commit(lambda: run_day_plan.enqueue(proposal.pk))
    return proposal


def day_plan_run(proposal_id: int) -> None:
    """(The task.) Solve a queued proposal once, writing the solver's progress to it."""
    claimed = DayPlanProposal.objects.filter(pk=proposal_id, state=PlanState.QUEUED).update(
        state=PlanState.RUNNING
    )
    if not claimed:
        return
    proposal = DayPlanProposal.objects.get(pk=proposal_id)
    replan = proposal.kind == PlanKind.REPLAN
    try:
        day = territory_day(
            proposal.territory, proposal.date, now=timezone.now() if replan else None, replan=replan
        )

        def report(info: ProgressInfo) -> None:
            DayPlanProposal.objects.filter(pk=proposal_id).update(
                progress={
                    "best_cost": info.best_cost,
                    "elapsed_s": round(info.elapsed_s, 2),
                    "iterations": info.iterations,
                }
            )

        plan = solve_day(
            day.problem,
            travel_for(proposal.territory),
            time_limit_s=proposal.time_limit_s,
            on_progress=report,
            weights=WEIGHTS,
        )
        result = _result(day, plan, replan=replan)
    except Exception:
        logger.exception("day plan %s failed", proposal_id)
        DayPlanProposal.objects.filter(pk=proposal_id).update(
            state=PlanState.FAILED,
            finished_at=timezone.now(),
            error={"code": "internal_error", "message": "The plan failed; see the server log."},
        )
        return
    DayPlanProposal.objects.filter(pk=proposal_id).update(
        state=PlanState.PROPOSED, result=result, time_zone=day.time_zone, finished_at=timezone.now()
    )


def _result(day: TerritoryDay, plan: DayPlan, *, replan: bool) -> dict[str, Any]:
    routes = [
        {
            "technician": int(route.technician_id),
            "stops": [
                {
                    "work_order": stop.visit_id,
                    "arrival": day.at(stop.arrival_s).isoformat(),
                    "start": day.at(stop.start_s).isoformat(),
                    "end": day.at(stop.end_s).isoformat(),
                }
                for stop in route.stops
            ],
            "travel_s": route.travel_s,
            "distance_m": route.distance_m,
        }
        for route in plan.routes
        if route.stops
    ]
    result: dict[str, Any] = {
        "routes": routes,
        "unplanned": sorted(plan.unplanned),
        "skipped": day.skipped,
        "travel_s": plan.travel_s,
        "distance_m": plan.distance_m,
        "feasible": plan.feasible,
        "runtime_s": round(plan.runtime_s, 2),
        "iterations": plan.iterations,
    }
    if replan:
        result["changed_arrivals"] = _changed_arrivals(routes)
    return result


def _changed_arrivals(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Jobs whose planned start moves, by how much, and whether their technician changes."""
    stops = {s["work_order"]: (r["technician"], s["start"]) for r in routes for s in r["stops"]}
    current = {
        job.pk: job
        for job in WorkOrder.objects.filter(pk__in=list(stops)).only("scheduled_start", "lead_id")
    }
    changed = []
    for job_id, (technician, start) in sorted(stops.items()):
        job = current.get(job_id)
        before = job.scheduled_start if job else None
        new_start = dt.datetime.fromisoformat(start)
        moved_by = int((new_start - before).total_seconds()) if before else None
        if moved_by != 0 or (job and job.lead_id != technician):
            changed.append(
                {
                    "work_order": job_id,
                    "before": before.isoformat() if before else None,
                    "after": start,
                    "moved_by_s": moved_by,
                    "technician_before": job.lead_id if job else None,
                    "technician_after": technician,
                }
            )
    return changed


def day_plan_accept(
    *,
    actor: User,
    proposal: DayPlanProposal,
    work_order_ids: Iterable[str] | None = None,
    dispatch: bool = False,
    override_reason: str = "",
) -> dict[str, Any]:
    """Assign the proposal's jobs (all of them, or ``work_order_ids``), each through the
    manual assignment service in a transaction of its own: what passes is assigned, what no
    longer does (the day changed since the plan) is listed with why."""
    require_capability(actor, Capability.DISPATCH)
    if proposal.state not in (PlanState.PROPOSED, PlanState.ACCEPTED) or not proposal.result:
        raise ApplicationError(
            "invalid_state",
            f"The plan is {proposal.state}; only a proposal is accepted.",
            status=409,
        )
    stops = {
        stop["work_order"]: (route["technician"], stop)
        for route in proposal.result["routes"]
        for stop in route["stops"]
    }
    wanted = list(stops) if work_order_ids is None else list(work_order_ids)
    unknown = sorted(set(wanted) - set(stops))
    if unknown:
        raise ApplicationError(
            "invalid",
            "Some jobs are not in this plan.",
            fields={"work_orders": [f"{job_id} is not planned here." for job_id in unknown]},
        )
    technicians = {u.pk: u for u in User.objects.filter(pk__in={t for t, _ in stops.values()})}
    assigned, failed = [], []
    for job_id in wanted:
        technician_id, stop = stops[job_id]
        try:
            with transaction.atomic():
                job = (
                    WorkOrder.objects.select_for_update()
                    .select_related("account", "site")
                    .get(pk=job_id)
                )
                technician = technicians[technician_id]
                work_order_assign(
                    actor=actor,
                    work_order=job,
                    technicians=[technician],
                    lead=technician,
                    start=dt.datetime.fromisoformat(stop["start"]),
                    end=dt.datetime.fromisoformat(stop["end"]),
                    dispatch=dispatch,
                    override_reason=override_reason,
                )
            assigned.append(job_id)
        except ApplicationError as error:
            failed.append({"work_order": job_id, "code": error.code, "message": error.message})
    with transaction.atomic():
        locked = DayPlanProposal.objects.select_for_update().get(pk=proposal.pk)
        locked.accepted = sorted(set(locked.accepted) | set(assigned))
        locked.state = PlanState.ACCEPTED if assigned else locked.state
        locked.save(update_fields=["accepted", "state"])
    return {"assigned": assigned, "failed": failed}
