"""Reading a territory's day from the database as a ``DayProblem`` for the planner.

* **Visits**: the territory's open jobs not yet under way (new, scheduled, dispatched) that
  are unscheduled or scheduled on the day; pinned ones keep their technician and start. For a
  re-plan, a job under way (en route, on site) is not planned again: its lead's day resumes
  at its site when it is expected to end (and not before now).
* **Shifts**: the technicians who work in the territory (a technician membership there or
  above), with their working time that day (the span of their shift periods), home base,
  skills, and each certification valid on the day as a skill ``cert:<code>`` at level 1, so
  a job needing a certification only goes to someone who holds it then.
* Times are seconds from midnight at the start of the day in the territory's time zone (the
  time zone of its sites).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils.module_loading import import_string

from field_service import states
from field_service.models import (
    CrewMember,
    State,
    TechnicianCertification,
    TechnicianProfile,
    TechnicianSkill,
    WorkOrder,
)
from field_service.planning.problem import DayProblem, Shift, Visit, Window
from field_service.planning.travel import Haversine, TravelProvider
from field_service.services.work_orders import parse_windows
from field_service.shifts import working_intervals_of
from server.errors import ApplicationError
from territories.models import MemberRole, Membership, ModelState, Territory

PRIORITY_WEIGHT = {"low": 1, "normal": 2, "high": 4, "urgent": 8}
UNDER_WAY = frozenset({State.EN_ROUTE, State.ON_SITE})


@dataclass(frozen=True)
class TerritoryDay:
    problem: DayProblem
    origin: dt.datetime  # what second 0 is
    time_zone: str
    # Jobs left out, with why (no geocode, no technician could do it, ...).
    skipped: dict[str, str]

    def at(self, seconds: int) -> dt.datetime:
        return self.origin + dt.timedelta(seconds=seconds)


def travel_for(territory: str) -> TravelProvider:
    """The travel provider for ``territory``: ``FIELDLINE_TRAVEL_PROVIDER`` (a dotted path to
    a callable taking the territory code, for a routing engine), else haversine at the
    territory's speed (``FIELDLINE_TERRITORY_SPEEDS_KMH``, default
    ``FIELDLINE_DEFAULT_SPEED_KMH`` or 40 km/h)."""
    factory = getattr(settings, "FIELDLINE_TRAVEL_PROVIDER", None)
    if factory:
        provider: TravelProvider = import_string(factory)(territory)
        return provider
    speeds: dict[str, float] = getattr(settings, "FIELDLINE_TERRITORY_SPEEDS_KMH", {})
    default = float(getattr(settings, "FIELDLINE_DEFAULT_SPEED_KMH", 40.0))
    return Haversine(speed_kmh=float(speeds.get(territory, default)))


def _time_zone(jobs: list[WorkOrder]) -> str:
    zones = Counter(job.site.time_zone for job in jobs)
    return zones.most_common(1)[0][0] if zones else str(settings.TIME_ZONE)


def seconds_from(origin: dt.datetime, moment: dt.datetime) -> int:
    """``moment`` as whole seconds after ``origin`` (the plan's times)."""
    return int((moment - origin).total_seconds())


def _windows(job: WorkOrder, origin: dt.datetime) -> tuple[Window, ...]:
    end_of_day = 24 * 3600
    windows = []
    for start, end in parse_windows(job.time_windows):
        begin, finish = (
            max(0, seconds_from(origin, start)),
            min(end_of_day, seconds_from(origin, end)),
        )
        if begin < finish:
            windows.append((begin, finish))
    return tuple(windows)


def technicians_of(territory: str, day: dt.date) -> list[int]:
    """Technicians who work in ``territory`` on ``day``: a technician membership there or
    above it."""
    codes = {territory}
    node = Territory.objects.filter(
        territory_model__state=ModelState.ACTIVE, code=territory
    ).first()
    while node is not None and node.parent_id is not None:
        node = Territory.objects.get(pk=node.parent_id)
        codes.add(node.code)
    return sorted(
        set(
            Membership.objects.filter(
                Q(valid_to__isnull=True) | Q(valid_to__gte=day),
                role=MemberRole.TECHNICIAN,
                valid_from__lte=day,
                territory__territory_model__state=ModelState.ACTIVE,
                territory__code__in=codes,
            ).values_list("user_id", flat=True)
        )
    )


def shifts_of(
    technician_ids: list[int],
    day: dt.date,
    time_zone: str,
    origin: dt.datetime,
    after_s: int,
    busy: dict[int, tuple[tuple[float, float], int]],
) -> list[Shift]:
    profiles = {p.user_id: p for p in TechnicianProfile.objects.filter(user_id__in=technician_ids)}
    skills: dict[int, dict[str, int]] = {}
    for user_id, code, level in TechnicianSkill.objects.filter(
        user_id__in=technician_ids
    ).values_list("user_id", "skill__code", "level"):
        skills.setdefault(user_id, {})[code] = level
    for user_id, code in TechnicianCertification.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=day),
        user_id__in=technician_ids,
        valid_from__lte=day,
    ).values_list("user_id", "certification__code"):
        skills.setdefault(user_id, {})[f"cert:{code}"] = 1
    working = working_intervals_of(technician_ids, day, time_zone)
    shifts = []
    for user_id in technician_ids:
        profile = profiles.get(user_id)
        periods = working.get(user_id)
        if profile is None or not periods:
            continue
        start = max(seconds_from(origin, periods[0][0]), after_s)
        end = seconds_from(origin, periods[-1][1])
        home = (profile.home_longitude, profile.home_latitude)
        departure = home
        if user_id in busy:  # on a job: the day resumes where and when it ends
            departure, free_at = busy[user_id]
            start = max(start, free_at)
        if start >= end:
            continue
        shifts.append(
            Shift(
                technician_id=str(user_id),
                start=departure,
                end=home,
                window=(start, end),
                skills=skills.get(user_id, {}),
                overtime_s=profile.max_overtime_minutes * 60,
            )
        )
    return shifts


def visit_for(
    job: WorkOrder, origin: dt.datetime, *, pinned_to: int | None = None, after_s: int = 0
) -> Visit:
    """A job as the planner sees it. Certifications it needs are skills ``cert:<code>`` at
    level 1."""
    if job.site.longitude is None or job.site.latitude is None:
        raise ApplicationError(
            "no_geocode", "The job's site has no coordinates: it cannot be planned.", status=409
        )
    pinned_start = None
    if pinned_to is not None and job.scheduled_start is not None:
        pinned_start = max(seconds_from(origin, job.scheduled_start), after_s)
    needs = dict(job.required_skills)
    needs.update({f"cert:{code}": 1 for code in job.required_certifications})
    return Visit(
        id=job.pk,
        point=(job.site.longitude, job.site.latitude),
        service_s=job.estimated_minutes * 60,
        windows=() if pinned_to is not None else _windows(job, origin),
        skills=needs,
        priority=PRIORITY_WEIGHT.get(job.priority, 2),
        pinned_to=str(pinned_to) if pinned_to is not None else None,
        pinned_start_s=pinned_start,
    )


def _last_finished(
    territory: str,
    origin: dt.datetime,
    now: dt.datetime,
    busy: dict[int, tuple[tuple[float, float], int]],
) -> None:
    """(A re-plan.) A technician between jobs resumes from the site of the job they finished
    last today, not from home: ``busy`` gains them, unless a job under way placed them."""
    finished = (
        CrewMember.objects.filter(
            is_lead=True,
            work_order__territory=territory,
            work_order__state__in=(State.COMPLETED, State.CANNOT_COMPLETE),
            work_order__state_changed_at__gte=origin,
            work_order__state_changed_at__lte=now,
        )
        .select_related("work_order__site")
        .order_by("work_order__state_changed_at")
    )
    after_s = max(0, seconds_from(origin, now))
    on_a_job = set(busy)
    for member in finished:  # later ones overwrite earlier ones
        site = member.work_order.site
        if member.technician_id in on_a_job or site.longitude is None or site.latitude is None:
            continue
        busy[member.technician_id] = ((site.longitude, site.latitude), after_s)


def territory_day(
    territory: str, day: dt.date, *, now: dt.datetime | None = None, replan: bool = False
) -> TerritoryDay:
    """The territory's ``day`` as a problem. A re-plan starts from ``now``: jobs under way
    stay with their lead where they are."""
    candidates = list(
        WorkOrder.objects.filter(territory=territory, state__in=states.OPEN)
        .exclude(state=State.ON_HOLD)
        .select_related("site")
        .order_by("pk")
    )
    time_zone = _time_zone(candidates)
    origin = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(time_zone))
    after_s = max(0, seconds_from(origin, now)) if replan and now is not None else 0
    leads = dict(
        CrewMember.objects.filter(work_order__in=candidates, is_lead=True).values_list(
            "work_order_id", "technician_id"
        )
    )
    visits, skipped = [], {}
    busy: dict[int, tuple[tuple[float, float], int]] = {}
    for job in candidates:
        scheduled_day = (
            job.scheduled_start.astimezone(ZoneInfo(time_zone)).date()
            if job.scheduled_start
            else None
        )
        if scheduled_day not in (None, day):
            continue
        if job.site.latitude is None or job.site.longitude is None:
            skipped[job.pk] = "no_geocode"
            continue
        point = (job.site.longitude, job.site.latitude)
        if job.state in UNDER_WAY:
            if replan and job.pk in leads:
                expected_end = (
                    seconds_from(origin, job.scheduled_end)
                    if job.scheduled_end
                    else after_s + job.estimated_minutes * 60
                )
                busy[leads[job.pk]] = (point, max(after_s, expected_end))
            continue
        pinned = job.pinned and job.pk in leads
        if job.time_windows and not pinned and not _windows(job, origin):
            skipped[job.pk] = "no_window_that_day"  # its customer is not available that day
            continue
        visits.append(
            visit_for(job, origin, pinned_to=leads.get(job.pk) if pinned else None, after_s=after_s)
        )
    if replan and now is not None:
        _last_finished(territory, origin, now, busy)
    shifts = shifts_of(technicians_of(territory, day), day, time_zone, origin, after_s, busy)
    return TerritoryDay(DayProblem(tuple(visits), tuple(shifts)), origin, time_zone, skipped)
