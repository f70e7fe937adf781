"""Who should take a job: every technician working in its territory on its day, ranked by the
cost of inserting it into the day they already have (``planning.insertion``). Read-only.

A technician's day is their shift (``day_problem.shifts_of``) and the jobs already assigned
to them that day, in order of their scheduled start; each of those may start no later than
the end of its customer window (or the shift end), and a pinned one no later than planned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from field_service import states
from field_service.day_problem import (
    seconds_from,
    shifts_of,
    technicians_of,
    travel_for,
    visit_for,
)
from field_service.models import CrewMember, WorkOrder
from field_service.planning.insertion import DayRoute, PlannedStop, Suggestion, rank
from field_service.services.work_orders import parse_windows
from server.models import User


def _latest_start(
    pinned: bool, windows: list[Any], start: dt.datetime, shift_end_s: int, origin: dt.datetime
) -> int:
    if pinned:
        return seconds_from(origin, start)
    for begin, end in parse_windows(windows) if windows else ():
        if begin <= start <= end:
            return seconds_from(origin, end)
    return shift_end_s


def day_stops(origin: dt.datetime, exclude: str) -> Any:
    """Every assigned job of the day starting at ``origin`` but ``exclude``, with its crew
    member, as plain rows in order of start (thousands are read per request: rows, not
    models). Every technician's jobs are read (a technician may work in several
    territories); the caller keeps those of the technicians it ranks."""
    return (
        CrewMember.objects.filter(
            work_order__state__in=states.ASSIGNED,
            work_order__scheduled_start__gte=origin,
            work_order__scheduled_start__lt=origin + dt.timedelta(days=1),
        )
        .exclude(work_order_id=exclude)
        .order_by("work_order__scheduled_start", "work_order_id")
        .values_list(
            "technician_id",
            "work_order_id",
            "work_order__scheduled_start",
            "work_order__scheduled_end",
            "work_order__estimated_minutes",
            "work_order__pinned",
            "work_order__time_windows",
            "work_order__site__longitude",
            "work_order__site__latitude",
        )
    )


def _days(
    technician_ids: list[int], day: dt.date, time_zone: str, origin: dt.datetime, exclude: str
) -> list[DayRoute]:
    shifts = {
        int(shift.technician_id): shift
        for shift in shifts_of(technician_ids, day, time_zone, origin, 0, {})
    }
    stops: dict[int, list[PlannedStop]] = {user_id: [] for user_id in shifts}
    rows = day_stops(origin, exclude)
    for technician, job_id, start, end, minutes, pinned, windows, lng, lat in rows:
        shift = shifts.get(technician)
        if shift is None or start is None or lng is None or lat is None:
            continue
        end = end or start + dt.timedelta(minutes=minutes)
        stops[technician].append(
            PlannedStop(
                visit_id=job_id,
                point=(lng, lat),
                start_s=seconds_from(origin, start),
                service_s=max(0, seconds_from(start, end)),
                latest_start_s=_latest_start(pinned, windows, start, shift.window[1], origin),
                pinned=pinned,
            )
        )
    return [DayRoute(shifts[user_id], tuple(stops[user_id])) for user_id in sorted(shifts)]


def work_order_suggestions(
    work_order: WorkOrder, *, day: dt.date | None = None, limit: int = 10
) -> dict[str, Any]:
    """The best technicians for ``work_order`` on ``day`` (its scheduled day, else today in
    its site's time zone), with each one's estimated arrival and the reasons."""
    zone = ZoneInfo(work_order.site.time_zone)
    if day is None:
        moment = work_order.scheduled_start or dt.datetime.now(tz=zone)
        day = moment.astimezone(zone).date()
    origin = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    visit = visit_for(work_order, origin)
    technician_ids = technicians_of(work_order.territory, day) if work_order.territory else []
    routes = _days(technician_ids, day, work_order.site.time_zone, origin, work_order.pk)
    ranked = rank(visit, routes, travel_for(work_order.territory), limit=limit)
    names = dict(
        User.objects.filter(pk__in=[int(s.technician_id) for s in ranked]).values_list(
            "pk", "display_name"
        )
    )
    return {
        "work_order": work_order.pk,
        "date": day.isoformat(),
        "candidates": len(routes),
        "suggestions": [_entry(suggestion, origin, names) for suggestion in ranked],
    }


def _entry(suggestion: Suggestion, origin: dt.datetime, names: dict[int, str]) -> dict[str, Any]:
    technician = int(suggestion.technician_id)
    return {
        "technician": technician,
        "name": names.get(technician, ""),
        "cost": round(suggestion.cost, 1),
        "arrival": (origin + dt.timedelta(seconds=suggestion.arrival_s)).isoformat(),
        "start": (origin + dt.timedelta(seconds=suggestion.start_s)).isoformat(),
        "travel_added_s": suggestion.travel_added_s,
        "position": suggestion.position,
        "feasible": suggestion.feasible,
        "reasons": list(suggestion.reasons),
    }
