"""Benchmark (issue 5): rank 500 technicians for one job, with 5,000 open jobs in their days.

    .venv/bin/python -m infra.bench.suggestions --backend sqlite [--scale large|small]
    .venv/bin/python -m infra.bench.run_all --only suggestions --no-write

Target (issue 5): "Suggestions. Rank 500 technicians for one job, with 5,000 open jobs in their
days. Target: **p95 under 200 ms end to end through the API**, and **the ranking itself under
10 ms**."

**Database.** As ``territory_preview``: the test settings (``FIELDLINE_ENV=test``) with a
throwaway ``FIELDLINE_DATA_DIR`` (SQLite), or the PostgreSQL that ``run_all`` starts
(``DATABASE_URL``); ``migrate`` runs in a child process, the loader in another
(``--load``), so the measuring process starts clean. On PostgreSQL ``VACUUM ANALYZE`` follows
the load. The data (``large``: 500 technicians, 5,000 jobs, 50 jobs to rank; ``small``: 100,
1,000 and 20), drawn from ``--seed``:

* **Users and map, through the services**: a service manager (the set-up's actor) and a
  dispatcher (``user_create``); a territory type; one territory ``LYON`` covering 4.70–5.00 E,
  45.60–45.90 N (``territory_model_create``, ``territories_import``), activated with
  ``territory_model_activate`` once the customers below exist, so that the service writes every
  site's and account's ``Assignment`` and ``Account.territory``; the dispatcher's membership of
  ``LYON`` (``membership_add``). Five skills and two certifications (``Skill`` and
  ``Certification`` rows, as the tests make them: there is no service for them).
* **Technicians, through the services**: ``user_create`` (technician role),
  ``technician_profile_set`` (a home base uniformly spread over the region with a 2 km margin;
  1–3 skills at levels 1–5) and ``membership_add`` (technician, ``LYON``); certifications (gas
  40%, height 30%; one in twenty of them expired before the plan day) and weekly
  ``ShiftPattern`` rows Monday to Friday, 08:00–17:00, or 07:00–15:00 for one in five, as
  ``TechnicianCertification`` and ``ShiftPattern`` rows (no service sets them either). The
  plan day is Tuesday 2027-03-02, in ``Europe/Paris``.
* **Their days, bulk-inserted** (benchmark data, bypassing the services and the change log, but
  the rows the services would write): per job one customer account with one primary site
  (``Account``/``Site`` ``bulk_create``, before the map is activated, so their territory comes
  from the activation), the ``WorkOrder`` (``territory`` from ``site_territory_codes``, i.e.
  the site's ``Assignment``; ``state="scheduled"``, ``lead_id``, ``scheduled_start``/``end``),
  its ``CrewMember`` (the technician, lead), the two ``WorkOrderTransition`` rows (``new`` at
  creation, then ``scheduled``) and the ``DispatchRecord`` that ``work_order_create`` and
  ``work_order_assign`` write. Each technician gets 7–13 jobs (5,000 in all) at sites within
  7 km of home, visited in nearest-neighbour order; each start is the previous end plus the
  drive (the territory's own travel provider, ``travel_for``: haversine × 1.3 at 40 km/h) plus
  a share of 30–90 idle minutes, rounded up to 5 minutes; service times share what is left of
  the shift (at least 15 minutes). 30% of the jobs have a customer window containing their
  start (2–4 hours), 5% are pinned, half need one of their technician's skills.
* **The jobs to rank, through the services**: per job an account, a site uniformly spread over
  the region (``account_create``, ``site_create``: placed in ``LYON`` by the active map) and a
  new, unassigned work order (``work_order_create``): 0–2 required skills at levels 1–3, a
  certification for one in four, 20–120 minutes, no window for 5 in 12 of them, else one or two
  windows on the plan day.

**Checks** (a failed one fails the leg). The technicians' days as the selector reads them
(``suggestions._days``) must equal, route by route and stop by stop, the days the loader wrote
(shift window, home, skills with the certifications valid that day, overtime; each stop's
point, start, service, latest start and pin). The answer of the API for each job must be
``planning.insertion.rank`` on those days (technicians, costs, arrivals), and so must every
timed response.

**What is timed.**

1. **End to end**: ``GET /api/v1/work-orders/{id}/suggestions/?date=2027-03-02`` through DRF's
   ``APIClient`` (middleware, token authentication, view, selector, JSON rendering; no socket)
   with the dispatcher's device token from ``POST /api/v1/auth/login/``, rotating through the
   jobs to rank, ``--requests`` timed after ``--warmup``. Connections as the leg's settings
   configure them (SQLite: ``CONN_MAX_AGE=0``; PostgreSQL: Django's psycopg pool), with
   ``close_old_connections()`` after each request, outside the timing, as a server does (see
   ``account_list``). Queries are counted on a separate pass (``CaptureQueriesContext``), one
   request per job.
2. **Where the time goes**, in the same requests: the view's ``access_work_order`` and
   ``work_order_suggestions``, and in the selector ``technicians_of``, ``shifts_of``,
   ``_days`` (whose rest, after ``shifts_of``, is the stops: the crew query with its work
   orders and sites, and the ``PlannedStop`` rows), ``visit_for``/``travel_for`` and
   ``rank``, are wrapped in this process (``mock.patch`` of the module globals the view and the
   selector call) to time each call; the rest of the selector is reading the names and
   writing the entries, and the rest of the request is middleware, authentication, DRF and
   JSON rendering. The wrappers add a few microseconds per request.
3. **The ranking itself** and stage floors, interleaved round-robin (a shuffled order each
   round), ``--requests`` rounds (the floors that read the database in every tenth round
   only), on an open connection, outside any request: the days are
   built once by the selector's own ``_days`` (the same call the selector makes, for the first
   job; the jobs to rank are unassigned, so the days are the same for all of them) and each
   job's ``Visit`` by ``visit_for``; then ``rank(visit, days, travel)`` (what the selector
   calls: it builds a ``Fleet`` from the days and prices the job), ``Fleet(days, travel)`` on
   its own and ``Fleet.rank`` on a fleet built once (what a cached fleet would cost); the stops'
   query (``suggestions.day_stops``, the selector's own) as raw SQL through a cursor and
   as the selector runs it (``values_list`` rows); the whole of ``_days``; JSON rendering of
   an answer.

Full (generation 2) garbage collections during the timed requests are counted with their
pauses. cProfile, untimed, over one request for each of the first 10 jobs gives the top 20
functions by own time, and over one call of ``work_order_suggestions`` for each of them the top
20 by cumulative time. The load average (``os.getloadavg``) is recorded at the start
and end of the leg and around the timed requests: the machine's 2 CPUs are shared.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock
from zoneinfo import ZoneInfo

from .account_list import (
    BenchError,
    ConnectionCounter,
    FullCollections,
    database_description,
    percentile,
    prepare_environment,
    summarize,
)
from .common import report
from .sync_initial import run_child

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from field_service.planning.insertion import DayRoute

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = "suggestions"
TARGET_P95_MS = 200.0
TARGET_RANK_MS = 10.0


@dataclass(frozen=True)
class Scale:
    technicians: int
    jobs: int  # already in their days
    candidates: int  # new jobs to rank, rotated through


SCALES = {"large": Scale(500, 5_000, 50), "small": Scale(100, 1_000, 20)}
PLAN_DAY = dt.date(2027, 3, 2)  # a Tuesday
TIME_ZONE = "Europe/Paris"
TERRITORY = "LYON"
REGION = (4.70, 45.60, 5.00, 45.90)  # min lng, min lat, max lng, max lat
HOME_MARGIN_KM = 2.0
JOB_RADIUS_KM = 7.0
SITE_MARGIN_DEG = 0.002
SKILLS = (
    ("hvac", "Heating and cooling"),
    ("electrical", "Electrical"),
    ("plumbing", "Plumbing"),
    ("refrigeration", "Refrigeration"),
    ("boiler", "Boilers"),
)
SKILL_LEVELS = ((1, 2, 3, 4, 5), (0.15, 0.30, 0.30, 0.15, 0.10))
CERTIFICATIONS = (("gas", "Gas safety", 0.40), ("height", "Working at height", 0.30))
CERT_EXPIRED_SHARE = 0.05
CERT_FROM, CERT_TO, CERT_EXPIRED_TO = (
    dt.date(2026, 1, 1),
    dt.date(2027, 12, 31),
    dt.date(2027, 1, 31),
)
MEMBERSHIP_FROM = dt.date(2020, 1, 1)
SHIFTS = {"day": (8 * 3600, 17 * 3600), "early": (7 * 3600, 15 * 3600)}
EARLY_SHARE = 0.20
JOBS_MIN, JOBS_MAX = 7, 13
IDLE_MINUTES = (30, 90)
STEP_S = 300  # planned starts are on 5-minute marks
MIN_SERVICE_S = 15 * 60
WINDOW_SHARE = 0.30
PINNED_SHARE = 0.05
SKILLED_JOB_SHARE = 0.50
GAS_JOB_SHARE = 0.20
PRIORITIES = (("low", "normal", "high", "urgent"), (0.10, 0.70, 0.15, 0.05))
KINDS = ("repair", "maintenance", "inspection", "installation")
CANDIDATE_MINUTES = (20, 30, 45, 60, 90, 120)
CANDIDATE_WINDOWS = (  # hours on the plan day; None: no window
    None,
    None,
    None,
    None,
    None,
    ((8, 10),),
    ((10, 12),),
    ((13, 15),),
    ((15, 17),),
    ((8, 12),),
    ((13, 17),),
    ((8, 10), (15, 17)),
)
OVERTIME_S = 60 * 60  # TechnicianProfile.max_overtime_minutes' default
MANAGER = "bench-manager"
DISPATCHER = "bench-dispatcher"
PASSWORD = "bench-password"  # noqa: S105 - a throwaway database
DEVICE_ID = "bench-suggestions"
LIMIT = 10  # the API's default
ORDER_SEED = 2
PROFILED_JOBS = 10  # the cProfile pass: a request and a selector call for each of the first 10
FLOOR_EVERY = 10  # the floors that read the database run every this many rounds of the ranking
SQL_SHOWN = 400


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def origin_of(day: dt.date = PLAN_DAY) -> dt.datetime:
    """Second 0 of the plan: midnight at the start of ``day`` in the territory's time zone."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(TIME_ZONE))


def suggestions_url(work_order_id: str) -> str:
    return f"/api/v1/work-orders/{work_order_id}/suggestions/?date={PLAN_DAY.isoformat()}"


# --------------------------------------------------------------------------- drawing the data


def region_collection() -> dict[str, Any]:
    min_lng, min_lat, max_lng, max_lat = REGION
    ring = [[min_lng, min_lat], [max_lng, min_lat], [max_lng, max_lat], [min_lng, max_lat]]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": TERRITORY,
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"name": "Lyon", "type": "territory"},
            }
        ],
    }


def _km_in_degrees(latitude: float) -> tuple[float, float]:
    """Degrees of (longitude, latitude) in a kilometre at ``latitude``."""
    import math

    return 1 / (111.32 * math.cos(math.radians(latitude))), 1 / 110.57


def jobs_per_technician(scale: Scale, rng: np.random.Generator) -> list[int]:
    """About ``jobs / technicians`` each, between JOBS_MIN and JOBS_MAX, ``jobs`` in all."""
    base, extra = divmod(scale.jobs, scale.technicians)
    counts = [base + (1 if n < extra else 0) for n in range(scale.technicians)]
    if not (JOBS_MIN <= base and base + (extra > 0) <= JOBS_MAX):
        raise BenchError(f"{scale.jobs} jobs do not fit {scale.technicians} technicians' days")
    for _ in range(2 * scale.technicians):
        a, b = (int(x) for x in rng.integers(0, scale.technicians, 2))
        if a != b and counts[a] > JOBS_MIN and counts[b] < JOBS_MAX:
            counts[a] -= 1
            counts[b] += 1
    return counts


def _nearest_neighbour(start: tuple[float, float], points: list[tuple[float, float]]) -> list[int]:
    """The order a technician would drive: always to the nearest job left (planar, in
    degrees scaled to kilometres)."""
    kx, ky = _km_in_degrees(start[1])
    left, here, order = list(range(len(points))), start, []
    while left:
        nearest = min(
            left,
            key=lambda k: (
                ((points[k][0] - here[0]) / kx) ** 2 + ((points[k][1] - here[1]) / ky) ** 2
            ),
        )
        order.append(nearest)
        left.remove(nearest)
        here = points[nearest]
    return order


def _point_near(
    rng: np.random.Generator, centre: tuple[float, float], radius_km: float
) -> tuple[float, float]:
    import math

    min_lng, min_lat, max_lng, max_lat = REGION
    kx, ky = _km_in_degrees(centre[1])
    distance = radius_km * math.sqrt(float(rng.random()))
    angle = 2 * math.pi * float(rng.random())
    lng = centre[0] + distance * math.cos(angle) * kx
    lat = centre[1] + distance * math.sin(angle) * ky
    return (
        min(max(lng, min_lng + SITE_MARGIN_DEG), max_lng - SITE_MARGIN_DEG),
        min(max(lat, min_lat + SITE_MARGIN_DEG), max_lat - SITE_MARGIN_DEG),
    )


def _choice(rng: np.random.Generator, options: Sequence[Any], weights: Sequence[float]) -> Any:
    return options[int(rng.choice(len(options), p=list(weights)))]


def draw_day(
    rng: np.random.Generator,
    home: tuple[float, float],
    shift: tuple[int, int],
    count: int,
    legs_of: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.int64]],
) -> list[dict[str, Any]]:
    """``count`` jobs in one technician's day, in driving order, as the module docstring
    says: each with its point, planned start and service (seconds from the plan's origin), its
    window (or None) and pin."""
    import numpy as np

    points = [_point_near(rng, home, JOB_RADIUS_KM) for _ in range(count)]
    points = [points[k] for k in _nearest_neighbour(home, points)]
    legs = legs_of(np.array([home, *points, home], dtype=np.float64))
    idle = int(rng.integers(IDLE_MINUTES[0], IDLE_MINUTES[1] + 1)) * 60
    available = (shift[1] - shift[0]) - int(legs.sum()) - idle - count * STEP_S
    weights = rng.gamma(2.0, 1.0, count)
    services = [
        max(MIN_SERVICE_S, int(available * w / weights.sum()) // STEP_S * STEP_S) for w in weights
    ]
    while sum(services) > available:
        longest = max(range(count), key=lambda k: services[k])
        if services[longest] <= MIN_SERVICE_S:
            raise BenchError(f"{count} jobs do not fit a shift of {shift}")
        services[longest] -= STEP_S
    waits = (rng.dirichlet(np.ones(count + 1)) * idle).astype(int)[:count]
    jobs, clock = [], shift[0]
    for k, (point, service) in enumerate(zip(points, services, strict=True)):
        arrival = clock + int(legs[k])
        start = -(-(arrival + int(waits[k])) // STEP_S) * STEP_S
        window = None
        if rng.random() < WINDOW_SHARE:
            opens = (start - int(rng.integers(0, 91)) * 60) // 1800 * 1800
            window = (opens, opens + int(rng.choice([2, 3, 4])) * 3600)
        jobs.append(
            {
                "point": point,
                "start_s": start,
                "service_s": service,
                "window": window,
                "pinned": bool(rng.random() < PINNED_SHARE),
            }
        )
        clock = start + service
    if clock + int(legs[count]) > shift[1]:
        raise BenchError("a drawn day runs past its shift")  # cannot happen: see `available`
    return jobs


def draw_technicians(scale: Scale, seed: int) -> list[dict[str, Any]]:
    """Every technician with their home, shift, skills, certifications and day."""
    import numpy as np

    from field_service.day_problem import travel_for
    from field_service.planning.insertion import one_to_many

    rng = np.random.default_rng(seed)
    legs_of = one_to_many(travel_for(TERRITORY)).legs
    min_lng, min_lat, max_lng, max_lat = REGION
    kx, ky = _km_in_degrees((min_lat + max_lat) / 2)
    technicians = []
    for number, count in enumerate(jobs_per_technician(scale, rng)):
        home = (
            float(rng.uniform(min_lng + HOME_MARGIN_KM * kx, max_lng - HOME_MARGIN_KM * kx)),
            float(rng.uniform(min_lat + HOME_MARGIN_KM * ky, max_lat - HOME_MARGIN_KM * ky)),
        )
        shift_name = "early" if rng.random() < EARLY_SHARE else "day"
        codes = rng.choice(len(SKILLS), size=int(rng.integers(1, 4)), replace=False)
        skills = {SKILLS[int(c)][0]: int(_choice(rng, *SKILL_LEVELS)) for c in sorted(codes)}
        certifications = {}
        for code, _name, share in CERTIFICATIONS:
            if rng.random() < share:
                expired = rng.random() < CERT_EXPIRED_SHARE
                certifications[code] = (CERT_EXPIRED_TO if expired else CERT_TO).isoformat()
        jobs = draw_day(rng, home, SHIFTS[shift_name], count, legs_of)
        valid = [c for c, until in certifications.items() if until >= PLAN_DAY.isoformat()]
        for job in jobs:
            job["priority"] = _choice(rng, *PRIORITIES)
            job["kind"] = KINDS[int(rng.integers(0, len(KINDS)))]
            job["skills"] = {}
            if rng.random() < SKILLED_JOB_SHARE:
                code = sorted(skills)[int(rng.integers(0, len(skills)))]
                job["skills"] = {code: int(rng.integers(1, skills[code] + 1))}
            job["certifications"] = (
                ["gas"] if "gas" in valid and rng.random() < GAS_JOB_SHARE else []
            )
        technicians.append(
            {
                "number": number,
                "home": home,
                "shift": shift_name,
                "skills": skills,
                "certifications": certifications,
                "jobs": jobs,
            }
        )
    return technicians


def draw_candidates(scale: Scale, seed: int) -> list[dict[str, Any]]:
    """The new jobs to rank: anywhere in the region, with varied needs and windows."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    min_lng, min_lat, max_lng, max_lat = REGION
    origin = origin_of()
    candidates = []
    for _ in range(scale.candidates):
        point = (
            float(rng.uniform(min_lng + 0.01, max_lng - 0.01)),
            float(rng.uniform(min_lat + 0.01, max_lat - 0.01)),
        )
        count = int(_choice(rng, (0, 1, 2), (0.25, 0.55, 0.20)))
        codes = rng.choice(len(SKILLS), size=count, replace=False)
        skills = {SKILLS[int(c)][0]: int(_choice(rng, (1, 2, 3), (0.5, 0.35, 0.15))) for c in codes}
        draw = rng.random()
        certifications = ["gas"] if draw < 0.20 else ["height"] if draw < 0.25 else []
        hours = CANDIDATE_WINDOWS[int(rng.integers(0, len(CANDIDATE_WINDOWS)))]
        windows = [
            {
                "start": (origin + dt.timedelta(hours=begin)).isoformat(),
                "end": (origin + dt.timedelta(hours=end)).isoformat(),
            }
            for begin, end in (hours or ())
        ]
        candidates.append(
            {
                "point": point,
                "kind": KINDS[int(rng.integers(0, len(KINDS)))],
                "priority": _choice(rng, *PRIORITIES),
                "required_skills": skills,
                "required_certifications": certifications,
                "estimated_minutes": int(rng.choice(CANDIDATE_MINUTES)),
                "time_windows": windows,
            }
        )
    return candidates


def _latest_start(job: dict[str, Any], shift_end: int) -> int:
    """What ``suggestions._latest_start`` must find for a job the loader planned."""
    if job["pinned"]:
        return int(job["start_s"])
    window = job["window"]
    if window is not None and window[0] <= job["start_s"] <= window[1]:
        return int(window[1])
    return shift_end


# ----------------------------------------------------------------------------------- loading


def load_data(scale_name: str, seed: int) -> dict[str, Any]:
    """(In a child process.) Everything the module docstring lists; returns what was loaded,
    how long each part took, and each technician's day as written (for the checks)."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from crm import services as crm_services
    from crm.models import Account, Site
    from field_service.models import (
        Certification,
        CrewMember,
        DispatchRecord,
        ShiftPattern,
        Skill,
        State,
        TechnicianCertification,
        WorkOrder,
        WorkOrderTransition,
    )
    from field_service.services.technicians import technician_profile_set
    from field_service.services.work_orders import work_order_create
    from server.enums import Role
    from server.services import user_create
    from territories import services as territory_services
    from territories.models import Assignment, RecordType
    from territories.selectors import site_territory_codes

    scale = SCALES[scale_name]
    timings: dict[str, float] = {}
    started = mark = time.perf_counter()
    technicians = draw_technicians(scale, seed)
    candidates = draw_candidates(scale, seed)
    timings["draw_s"] = time.perf_counter() - mark
    origin = origin_of()

    def at(seconds: int) -> dt.datetime:
        return origin + dt.timedelta(seconds=seconds)

    mark = time.perf_counter()
    manager = user_create(
        username=MANAGER, password=PASSWORD, roles=[Role.SERVICE_MANAGER], display_name="Manager"
    )
    dispatcher = user_create(
        username=DISPATCHER, password=PASSWORD, roles=[Role.DISPATCHER], display_name="Dispatcher"
    )
    territory_services.territory_type_create(
        actor=manager, code="territory", name="Territory", priority=1
    )
    model = territory_services.territory_model_create(actor=manager, name="Lyon")
    territory_services.territories_import(
        actor=manager, model_id=model.pk, collection=region_collection()
    )
    for code, name in SKILLS:
        Skill.objects.create(code=code, name=name)
    for code, name, _share in CERTIFICATIONS:
        Certification.objects.create(code=code, name=name)
    timings["users_map_s"] = time.perf_counter() - mark

    # The planned jobs' customers, before the map is activated: the activation places them.
    mark = time.perf_counter()
    planned = [(t, job) for t in technicians for job in t["jobs"]]
    now = timezone.now()
    with transaction.atomic():
        accounts = [
            Account(name=f"Customer {n:05d}", created_at=now, updated_at=now)
            for n in range(len(planned))
        ]
        Account.objects.bulk_create(accounts, batch_size=1000)
        sites = [
            Site(
                account=account,
                name="Main site",
                is_primary=True,
                city="Lyon",
                country="FR",
                longitude=job["point"][0],
                latitude=job["point"][1],
                time_zone=TIME_ZONE,
                created_at=now,
                updated_at=now,
            )
            for account, (_t, job) in zip(accounts, planned, strict=True)
        ]
        Site.objects.bulk_create(sites, batch_size=1000)
    timings["customers_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    territory_services.territory_model_activate(actor=manager, model_id=model.pk)
    territory = model.territories.get(code=TERRITORY)
    territory_services.membership_add(
        actor=manager,
        territory=territory,
        user=dispatcher,
        role="dispatcher",
        valid_from=MEMBERSHIP_FROM,
    )
    timings["activate_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    unusable = make_password(None)
    known = {c.code: c for c in Certification.objects.all()}
    patterns, certifications = [], []
    with transaction.atomic():
        for technician in technicians:
            user = user_create(
                username=f"tech{technician['number']:03d}",
                password_hash=unusable,
                roles=[Role.TECHNICIAN],
                display_name=f"Technician {technician['number']:03d}",
            )
            technician["id"] = user.pk
            technician_profile_set(
                user=user,
                home_label="Home",
                home_longitude=technician["home"][0],
                home_latitude=technician["home"][1],
                skills=technician["skills"],
            )
            territory_services.membership_add(
                actor=manager,
                territory=territory,
                user=user,
                role="technician",
                valid_from=MEMBERSHIP_FROM,
            )
            begin, end = SHIFTS[technician["shift"]]
            patterns += [
                ShiftPattern(
                    user=user,
                    weekday=weekday,
                    start=dt.time(begin // 3600, begin % 3600 // 60),
                    end=dt.time(end // 3600, end % 3600 // 60),
                )
                for weekday in range(5)
            ]
            certifications += [
                TechnicianCertification(
                    user=user,
                    certification=known[code],
                    valid_from=CERT_FROM,
                    valid_to=dt.date.fromisoformat(until),
                )
                for code, until in technician["certifications"].items()
            ]
        ShiftPattern.objects.bulk_create(patterns)
        TechnicianCertification.objects.bulk_create(certifications)
    timings["technicians_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    codes = site_territory_codes([site.pk for site in sites])
    if set(codes.values()) != {TERRITORY} or len(codes) != len(sites):
        raise BenchError(f"sites outside {TERRITORY} after the activation: {len(codes)} placed")
    with transaction.atomic():
        orders = []
        for (technician, job), account, site in zip(planned, accounts, sites, strict=True):
            window = job["window"]
            orders.append(
                WorkOrder(
                    account=account,
                    site=site,
                    kind=job["kind"],
                    priority=job["priority"],
                    required_skills=job["skills"],
                    required_certifications=job["certifications"],
                    estimated_minutes=job["service_s"] // 60,
                    time_windows=[]
                    if window is None
                    else [{"start": at(window[0]).isoformat(), "end": at(window[1]).isoformat()}],
                    state=State.SCHEDULED,
                    state_changed_at=now,
                    territory=codes[site.pk],
                    scheduled_start=at(job["start_s"]),
                    scheduled_end=at(job["start_s"] + job["service_s"]),
                    pinned=job["pinned"],
                    lead_id=technician["id"],
                    created_at=now,
                    updated_at=now,
                )
            )
        WorkOrder.objects.bulk_create(orders, batch_size=1000)
        CrewMember.objects.bulk_create(
            [
                CrewMember(work_order=order, technician_id=technician["id"], is_lead=True)
                for (technician, _job), order in zip(planned, orders, strict=True)
            ],
            batch_size=1000,
        )
        WorkOrderTransition.objects.bulk_create(
            [
                WorkOrderTransition(
                    work_order=order, from_state=source, to_state=target, actor=dispatcher
                )
                for order in orders
                for source, target in ((State.NEW, State.NEW), (State.NEW, State.SCHEDULED))
            ],
            batch_size=1000,
        )
        DispatchRecord.objects.bulk_create(
            [
                DispatchRecord(
                    work_order=order,
                    actor=dispatcher,
                    technicians=[technician["id"]],
                    lead_id=technician["id"],
                    start=at(job["start_s"]),
                    end=at(job["start_s"] + job["service_s"]),
                )
                for (technician, job), order in zip(planned, orders, strict=True)
            ],
            batch_size=1000,
        )
    for (_technician, job), order in zip(planned, orders, strict=True):
        job["id"] = order.pk
    timings["work_orders_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    candidate_ids = []
    for number, candidate in enumerate(candidates):
        account = crm_services.account_create(actor=dispatcher, name=f"New customer {number:03d}")
        site = crm_services.site_create(
            actor=dispatcher,
            account=account,
            name="Main site",
            city="Lyon",
            country="FR",
            longitude=candidate["point"][0],
            latitude=candidate["point"][1],
            time_zone=TIME_ZONE,
        )
        order = work_order_create(
            actor=dispatcher,
            account=account,
            site=site,
            **{k: v for k, v in candidate.items() if k != "point"},
        )
        if order.territory != TERRITORY:
            raise BenchError(f"job {order.pk} is in territory {order.territory!r}, not {TERRITORY}")
        candidate_ids.append(order.pk)
    timings["candidates_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started

    in_territory = WorkOrder.objects.filter(territory=TERRITORY).count()
    if in_territory != len(planned) + len(candidates):
        raise BenchError(
            f"{in_territory} jobs in {TERRITORY}, not {len(planned) + len(candidates)}"
        )
    site_rows = Assignment.objects.filter(
        territory_model=model, record_type=RecordType.SITE, valid_to__isnull=True
    ).count()
    return {
        "technicians": [
            {
                "id": t["id"],
                "home": t["home"],
                "window": SHIFTS[t["shift"]],
                "skills": {
                    **t["skills"],
                    **{
                        f"cert:{code}": 1
                        for code, until in t["certifications"].items()
                        if until >= PLAN_DAY.isoformat()
                    },
                },
                "stops": [
                    [
                        job["id"],
                        job["point"][0],
                        job["point"][1],
                        job["start_s"],
                        job["service_s"],
                        _latest_start(job, SHIFTS[t["shift"]][1]),
                        job["pinned"],
                    ]
                    for job in t["jobs"]
                ],
            }
            for t in technicians
        ],
        "candidates": candidate_ids,
        "counts": {
            "technicians": len(technicians),
            "jobs": len(planned),
            "candidates": len(candidates),
            "site_assignments": site_rows,
            "crew_members": CrewMember.objects.count(),
        },
        "mix": data_mix(technicians, candidates),
        "timings": timings,
    }


def data_mix(technicians: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """What the drawn days look like, for the report."""
    import numpy as np

    from field_service.day_problem import travel_for
    from field_service.planning.insertion import one_to_many

    legs_of = one_to_many(travel_for(TERRITORY)).legs
    per_technician = [len(t["jobs"]) for t in technicians]
    jobs = [job for t in technicians for job in t["jobs"]]
    gaps, busy = [], []
    for t in technicians:
        begin, end = SHIFTS[t["shift"]]
        points = [t["home"], *(job["point"] for job in t["jobs"]), t["home"]]
        legs = legs_of(np.array(points, dtype=np.float64))
        gaps += [int(x) for x in legs[:-1]]
        busy.append((sum(j["service_s"] for j in t["jobs"]) + int(legs.sum())) / (end - begin))
    return {
        "jobs_per_technician": [
            min(per_technician),
            statistics.median(per_technician),
            max(per_technician),
        ],
        "early_shifts": sum(t["shift"] == "early" for t in technicians),
        "windows": sum(job["window"] is not None for job in jobs),
        "pinned": sum(job["pinned"] for job in jobs),
        "skilled": sum(bool(job["skills"]) for job in jobs),
        "drive_min_median": statistics.median(gaps) / 60,
        "drive_min_p90": percentile(sorted(gaps), 90) / 60,
        "service_min_median": statistics.median(job["service_s"] for job in jobs) / 60,
        "busy_share_median": statistics.median(busy),
        "candidates_windows": sum(bool(c["time_windows"]) for c in candidates),
        "candidates_skills": sum(bool(c["required_skills"]) for c in candidates),
        "candidates_certifications": sum(bool(c["required_certifications"]) for c in candidates),
    }


def load(scale: str, seed: int) -> dict[str, Any]:
    """Load in a child process, then (PostgreSQL) ``VACUUM ANALYZE``."""
    log(f"loading ({scale})")
    wall_s, out = run_child(
        ["-m", "infra.bench.suggestions", "--load", "--scale", scale, "--seed", str(seed)],
        "loading",
    )
    loaded: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    loaded["wall_s"] = wall_s
    from django.db import connection

    loaded["analyze_s"] = None
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        loaded["analyze_s"] = time.perf_counter() - started
    log(f"loaded in {wall_s:.1f}s")
    return loaded


# ------------------------------------------------------------------------------------ checks


def expected_days(loaded: dict[str, Any]) -> list[DayRoute]:
    """The technicians' days as the loader wrote them, in the selector's order (user id)."""
    from field_service.planning.insertion import DayRoute, PlannedStop
    from field_service.planning.problem import Shift

    routes = []
    for t in sorted(loaded["technicians"], key=lambda t: t["id"]):
        home = (t["home"][0], t["home"][1])
        shift = Shift(
            technician_id=str(t["id"]),
            start=home,
            end=home,
            window=(t["window"][0], t["window"][1]),
            skills=t["skills"],
            overtime_s=OVERTIME_S,
        )
        stops = tuple(
            PlannedStop(
                visit_id=job_id,
                point=(lng, lat),
                start_s=start,
                service_s=service,
                latest_start_s=latest,
                pinned=pinned,
            )
            for job_id, lng, lat, start, service, latest, pinned in t["stops"]
        )
        routes.append(DayRoute(shift, stops))
    return routes


def check_days(read: Sequence[DayRoute], written: Sequence[DayRoute]) -> None:
    if len(read) != len(written):
        raise BenchError(f"the selector reads {len(read)} technicians' days, not {len(written)}")
    for got, want in zip(read, written, strict=True):
        if got.shift != want.shift:
            raise BenchError(f"shift differs: read {got.shift}, written {want.shift}")
        if got.stops != want.stops:
            wrong = next(
                (g, w) for g, w in zip(got.stops + (None,), want.stops + (None,), strict=False)
                if g != w
            )  # fmt: skip
            raise BenchError(
                f"technician {want.shift.technician_id}'s stops differ: read {wrong[0]}, "
                f"written {wrong[1]}"
            )


def expected_answer(suggestions: Sequence[Any]) -> list[tuple[int, float, int]]:
    return [(int(s.technician_id), round(s.cost, 1), s.arrival_s) for s in suggestions]


def answer_of(body: dict[str, Any], origin: dt.datetime) -> list[tuple[int, float, int]]:
    return [
        (
            s["technician"],
            s["cost"],
            int((dt.datetime.fromisoformat(s["arrival"]) - origin).total_seconds()),
        )
        for s in body["suggestions"]
    ]


def check_response(
    response: Any, job_id: str, expected: list[tuple[int, float, int]], candidates: int
) -> dict[str, Any]:
    if response.status_code != 200:
        raise BenchError(f"job {job_id}: HTTP {response.status_code} {response.content[:300]!r}")
    body: dict[str, Any] = json.loads(response.content)
    if body.get("work_order") != job_id or body.get("candidates") != candidates:
        raise BenchError(f"job {job_id}: unexpected answer {str(body)[:300]}")
    got = answer_of(body, origin_of())
    if got != expected:
        raise BenchError(f"job {job_id}: the API ranked {got[:3]}…, rank() gives {expected[:3]}…")
    return body


# ------------------------------------------------------------------------------ instruments


class Stages:
    """Nanoseconds spent in each wrapped call during the current request."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}

    def reset(self) -> None:
        self.ns = {}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - started

        return timed

    def split(self, total_ns: int) -> dict[str, int]:
        """The request's stages (see STAGE_TEXT); they add up to ``total_ns``."""
        ns = self.ns
        selector = ns["selector"]
        days = ns["_days"]
        visit_travel = ns.get("visit_for", 0) + ns.get("travel_for", 0)
        inner = ns["technicians_of"] + days + visit_travel + ns["rank"]
        return {
            "outside": total_ns - ns["access"] - selector,
            "access": ns["access"],
            "technicians": ns["technicians_of"],
            "shifts": ns["shifts_of"],
            "stops": days - ns["shifts_of"],
            "visit_travel": visit_travel,
            "rank": ns["rank"],
            "names_entries": selector - inner,
        }


STAGES = (
    "outside",
    "access",
    "technicians",
    "shifts",
    "stops",
    "visit_travel",
    "rank",
    "names_entries",
)
STAGE_TEXT = {
    "outside": "outside the view's work: middleware, token authentication, DRF, query "
    "validation, response and JSON rendering",
    "access": "`access_work_order` (the job, its account and site, within the dispatcher's scope)",
    "technicians": "`technicians_of`: the territory's technicians on the day (memberships)",
    "shifts": "`shifts_of`: profiles, skills, certifications, shift patterns and exceptions "
    "→ `Shift`",
    "stops": "stops: the rest of `_days`, the crew query (work orders and sites) → "
    "`PlannedStop` rows",
    "visit_travel": "`visit_for` + `travel_for`",
    "rank": "`rank` (builds the `Fleet`, prices every position, writes the reasons)",
    "names_entries": "the rest of the selector: technicians' names (1 query), answer entries",
}


@contextmanager
def instrumented(stages: Stages) -> Iterator[None]:
    """Inside: the view's and the selector's calls are timed (see the module docstring)."""
    from field_service import api
    from field_service import suggestions as selector

    targets = [
        (api, "access_work_order", "access"),
        (api, "work_order_suggestions", "selector"),
        (selector, "technicians_of", "technicians_of"),
        (selector, "shifts_of", "shifts_of"),
        (selector, "_days", "_days"),
        (selector, "visit_for", "visit_for"),
        (selector, "travel_for", "travel_for"),
        (selector, "rank", "rank"),
    ]
    with ExitStack() as stack:
        for module, attribute, name in targets:
            stack.enter_context(
                mock.patch.object(module, attribute, stages.wrap(name, getattr(module, attribute)))
            )
        yield


def stops_queryset(technician_ids: list[int], origin: dt.datetime, exclude: str) -> Any:
    """``suggestions._days``'s crew query, from the selector itself (rows, not models)."""
    from field_service.suggestions import day_stops

    return day_stops(origin, exclude)


# --------------------------------------------------------------------------------- measuring


def login() -> Any:
    """An ``APIClient`` carrying the dispatcher's device access token."""
    from django.db import close_old_connections
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/",
        {
            "username": DISPATCHER,
            "password": PASSWORD,
            "device_id": DEVICE_ID,
            "platform": "android",
            "app_version": "1.0.0",
        },
        format="json",
    )
    close_old_connections()
    if response.status_code != 200:
        raise BenchError(f"login: HTTP {response.status_code} {response.content[:300]!r}")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


@dataclass
class Context:
    """What the measurements share."""

    client: Any
    jobs: list[Any]  # the WorkOrders to rank, with their sites
    routes: list[DayRoute]
    travel: Any
    visits: list[Any]
    expected: dict[str, list[tuple[int, float, int]]]
    feasible: list[int]  # per job: technicians with a feasible position
    technician_ids: list[int]
    exclude: str


def prepare(loaded: dict[str, Any]) -> Context:
    """Read back what the checks need and run them: days, then one API request per job."""
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    from field_service import suggestions as selector
    from field_service.day_problem import technicians_of, travel_for, visit_for
    from field_service.models import WorkOrder
    from field_service.planning.insertion import Fleet, rank

    ids = loaded["candidates"]
    jobs_by_id = {
        job.pk: job for job in WorkOrder.objects.select_related("site").filter(pk__in=ids)
    }
    jobs = [jobs_by_id[pk] for pk in ids]
    origin = origin_of()
    technician_ids = technicians_of(TERRITORY, PLAN_DAY)
    with CaptureQueriesContext(connection) as captured:
        routes = selector._days(technician_ids, PLAN_DAY, TIME_ZONE, origin, jobs[0].pk)
    check_days(routes, expected_days(loaded))
    shift_ids = [int(route.shift.technician_id) for route in routes]
    with CaptureQueriesContext(connection) as copied:
        rows = list(stops_queryset(shift_ids, origin, jobs[0].pk))
    if copied.captured_queries[-1]["sql"] != captured.captured_queries[-1]["sql"]:
        raise BenchError("stops_queryset no longer sends _days's query; update the copy")
    if len(rows) != sum(len(route.stops) for route in routes):
        raise BenchError("stops_queryset does not read every stop")
    travel = travel_for(TERRITORY)
    visits = [visit_for(job, origin) for job in jobs]
    expected = {
        job.pk: expected_answer(rank(visit, routes, travel, limit=LIMIT))
        for job, visit in zip(jobs, visits, strict=True)
    }
    fleet = Fleet(routes, travel)
    feasible = [len(fleet.rank(visit, limit=len(routes))) for visit in visits]
    client = login()
    for job in jobs:  # a full check of every answer before anything is timed
        check_response(client.get(suggestions_url(job.pk)), job.pk, expected[job.pk], len(routes))
        close_old_connections()
    close_old_connections()
    return Context(
        client=client,
        jobs=jobs,
        routes=routes,
        travel=travel,
        visits=visits,
        expected=expected,
        feasible=feasible,
        technician_ids=shift_ids,
        exclude=jobs[0].pk,
    )


def measure_requests(context: Context, requests: int, warmup: int) -> dict[str, Any]:
    """End to end, with the stages of each request; see the module docstring (1, 2)."""
    from django.db import close_old_connections
    from django.db.backends.signals import connection_created

    stages = Stages()
    counter = ConnectionCounter()
    collections = FullCollections()
    samples: list[int] = []
    splits: list[dict[str, int]] = []
    paused: list[int] = []  # per request: full-GC pauses during it
    jobs, n = context.jobs, len(context.jobs)
    connection_created.connect(counter, weak=False)
    try:
        with instrumented(stages):
            for number in range(warmup):
                job = jobs[number % n]
                context.client.get(suggestions_url(job.pk))
                close_old_connections()
            load_before = load_average()
            opened = counter.opened
            gc.callbacks.append(collections)
            try:
                for number in range(requests):
                    job = jobs[number % n]
                    url = suggestions_url(job.pk)
                    stages.reset()
                    collected = len(collections.pauses_ns)
                    started = time.perf_counter_ns()
                    response = context.client.get(url)
                    elapsed = time.perf_counter_ns() - started
                    close_old_connections()
                    check_response(response, job.pk, context.expected[job.pk], len(context.routes))
                    samples.append(elapsed)
                    splits.append(stages.split(elapsed))
                    paused.append(sum(collections.pauses_ns[collected:]))
            finally:
                gc.callbacks.remove(collections)
            opened = counter.opened - opened
            load_after = load_average()
    finally:
        connection_created.disconnect(counter)
    pauses = sorted(p / 1e6 for p in collections.pauses_ns)
    clean = [s for s, pause in zip(samples, paused, strict=True) if not pause]
    return {
        **summarize(samples),
        "samples_ms": [s / 1e6 for s in samples],
        "connections_per_request": opened / requests,
        "stages": {
            name: {
                "mean_ms": statistics.fmean(s[name] for s in splits) / 1e6,
                "p50_ms": percentile(sorted(s[name] / 1e6 for s in splits), 50),
                "p95_ms": percentile(sorted(s[name] / 1e6 for s in splits), 95),
            }
            for name in STAGES
        },
        "full_gc": {
            "count": len(pauses),
            "p50_ms": percentile(pauses, 50) if pauses else 0.0,
            "total_ms": sum(pauses),
            "requests_hit": sum(1 for pause in paused if pause),
            # The same requests without those during which a full collection ran.
            "without": summarize(clean) if clean else None,
        },
        "load_before": load_before,
        "load_after": load_after,
    }


def count_queries(context: Context) -> dict[str, Any]:
    """One request per job with ``CaptureQueriesContext``: the count, and the statements of
    the first job's request with the time each spent in ``execute`` (an execute wrapper; the
    rows are fetched after it, so that time is not included)."""
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    executed: list[float] = []

    def timed(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, ctx)
        finally:
            executed.append((time.perf_counter() - started) * 1000)

    counts, first = [], None
    for job in context.jobs:
        executed.clear()
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
            response = context.client.get(suggestions_url(job.pk))
        close_old_connections()
        check_response(response, job.pk, context.expected[job.pk], len(context.routes))
        counts.append(len(captured.captured_queries))
        if first is None and len(executed) == len(captured.captured_queries):
            first = [
                {"sql": q["sql"][:SQL_SHOWN], "ms": ms}
                for q, ms in zip(captured.captured_queries, executed, strict=True)
            ]
    return {"min": min(counts), "max": max(counts), "first": first or []}


def explain_stops(context: Context) -> str:
    """The database's plan for the stops' query (PostgreSQL: executed, with its times)."""
    from django.db import close_old_connections, connection

    query = stops_queryset(context.technician_ids, origin_of(), context.exclude)
    try:
        if connection.vendor == "postgresql":
            plan = str(query.explain(analyze=True, buffers=True))
        else:
            plan = str(query.explain())
    finally:
        close_old_connections()
    # The technicians' ids, listed in full, say nothing: count them.
    return re.sub(r"\{(\d+,){3,}\d+\}", lambda m: f"{{…{m[0].count(',') + 1} ids…}}", plan)


def measure_probes(context: Context, rounds: int) -> dict[str, Any]:
    """The ranking and the stage floors, interleaved; see the module docstring (3)."""
    from django.db import close_old_connections, connection
    from rest_framework.renderers import JSONRenderer

    from field_service import suggestions as selector
    from field_service.planning.insertion import Fleet, rank

    origin = origin_of()
    fleet = Fleet(context.routes, context.travel)
    payloads = [
        selector.work_order_suggestions(job, day=PLAN_DAY, limit=LIMIT) for job in context.jobs
    ]
    query = stops_queryset(context.technician_ids, origin, context.exclude)
    sql, params = query.query.sql_with_params()
    rows_expected = sum(len(route.stops) for route in context.routes)
    renderer = JSONRenderer()

    def raw_sql(_: int) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if len(rows) != rows_expected:
            raise BenchError(f"the stops' SQL read {len(rows)} rows, not {rows_expected}")
        return rows

    probes: dict[str, tuple[Callable[[int], Any], bool]] = {  # name: (call, uses the database)
        "rank": (
            lambda j: rank(context.visits[j], context.routes, context.travel, limit=LIMIT),
            False,
        ),
        "fleet": (lambda j: Fleet(context.routes, context.travel), False),
        "fleet_rank": (lambda j: fleet.rank(context.visits[j], limit=LIMIT), False),
        "stops_sql": (raw_sql, True),
        "stops_models": (lambda j: list(query.all()), True),
        "days": (
            lambda j: selector._days(
                context.technician_ids, PLAN_DAY, TIME_ZONE, origin, context.exclude
            ),
            True,
        ),
        "render": (lambda j: renderer.render(payloads[j]), False),
    }
    samples: dict[str, list[int]] = {name: [] for name in probes}
    order, shuffle = list(probes), random.Random(ORDER_SEED).shuffle
    n = len(context.jobs)
    for number in range(rounds):
        shuffle(order)
        for name in order:
            call, uses_db = probes[name]
            if uses_db and number % FLOOR_EVERY:
                continue
            if uses_db:  # on an open, checked connection: the work, not the connect
                connection.ensure_connection()
            started = time.perf_counter_ns()
            call(number % n)
            samples[name].append(time.perf_counter_ns() - started)
            close_old_connections()
    return {name: summarize(values) for name, values in samples.items()}


def profile(context: Context) -> dict[str, str]:
    """cProfile, untimed: one request for each of the first PROFILED_JOBS jobs, top 20 by own
    time; and one call of the selector for each (what the view calls), top 20 by cumulative
    time (a request's cumulative view would be the test client's and DRF's call chain)."""
    from django.db import close_old_connections

    from field_service.suggestions import work_order_suggestions

    def top(profiler: cProfile.Profile, order: str) -> str:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(20)
        return out.getvalue().strip()

    requests, selector = cProfile.Profile(), cProfile.Profile()
    for job in context.jobs[:PROFILED_JOBS]:
        requests.enable()
        context.client.get(suggestions_url(job.pk))
        requests.disable()
        close_old_connections()
        selector.enable()
        work_order_suggestions(job, day=PLAN_DAY, limit=LIMIT)
        selector.disable()
        close_old_connections()
    return {"tottime": top(requests, "tottime"), "cumulative": top(selector, "cumulative")}


def run(*, backend: str, scale: str, requests: int, warmup: int, seed: int) -> dict[str, Any]:
    """Set up a fresh database on ``backend``, load, check, measure; the structured results."""
    started = time.perf_counter()
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="fieldline-bench-") as data_dir:
        prepare_environment(backend, Path(data_dir))
        try:
            migrate_s, _ = run_child(
                [str(REPO_ROOT / "manage.py"), "migrate", "--no-input", "--verbosity", "0"],
                "migrate",
            )
            log(f"migrated in {migrate_s:.1f}s")
            import django

            django.setup()
            from django.db import connection

            loaded = load(scale, seed)
            database = database_description()
            configured = {
                "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE", 0),
                "pool": bool(connection.settings_dict.get("OPTIONS", {}).get("pool")),
            }
            context = prepare(loaded)
            log(f"checked {len(context.jobs)} answers; timing {requests} requests")
            timed = measure_requests(context, requests, warmup)
            log(f"requests: p50 {timed['p50_ms']:.1f} ms, p95 {timed['p95_ms']:.1f} ms")
            queries = count_queries(context)
            probes = measure_probes(context, requests)
            ranked = probes["rank"]
            log(f"rank(): p50 {ranked['p50_ms']:.2f} ms, p95 {ranked['p95_ms']:.2f} ms")
            explained = explain_stops(context)
            profiled = profile(context)
            log(f"cProfile, top 20 by own time:\n{profiled['tottime']}")
            answers = {
                "candidates": len(context.routes),
                "feasible": context.feasible,
                "returned": [len(context.expected[job.pk]) for job in context.jobs],
                "stops": sum(len(route.stops) for route in context.routes),
            }
        finally:
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
    import numpy

    return {
        "benchmark": BENCHMARK,
        "backend": backend,
        "scale": scale,
        "seed": seed,
        "requests": requests,
        "warmup": warmup,
        "database": database,
        "configured_connection": configured,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "migrate_s": migrate_s,
        "load": {k: v for k, v in loaded.items() if k != "technicians"},
        "answers": answers,
        "api": timed,
        "queries": queries,
        "probes": probes,
        "profile": profiled,
        "explain": explained,
        "load_average": {"start": load_start, "end": load_average()},
        "elapsed_s": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------------ report


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _loads(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "?"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _connection_mode(leg: dict[str, Any]) -> str:
    configured = leg["configured_connection"]
    if configured["pool"]:
        return "pooled"
    return "a new connection per request" if configured["conn_max_age"] == 0 else "persistent"


def _spread(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:g} / {statistics.median(ordered):g} / {ordered[-1]:g}"


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more backends (a leg that failed carries ``error``)."""
    ok = [leg for leg in legs if "error" not in leg]
    lines = [
        "What is measured: `GET /api/v1/work-orders/{id}/suggestions/?date=…` in-process through "
        "DRF's `APIClient` with a dispatcher's device token: every technician of the job's "
        "territory ranked by the cost of inserting the job into their day, read from the "
        "database (memberships, profiles, skills, certifications, shift patterns, and the "
        "jobs already in their days with their sites), then `planning.insertion.rank`. "
        "One territory around Lyon; the jobs ranked are new ones, rotated through. Targets: "
        f"**p95 under {TARGET_P95_MS:g} ms end to end** and **the ranking itself under "
        f"{TARGET_RANK_MS:g} ms**, for 500 technicians with 5,000 jobs in their days.",
        "",
    ]
    lines += [
        f"**{BACKEND_LABELS.get(leg['backend'], leg['backend'])}: failed**: {leg['error']}\n"
        for leg in legs
        if "error" in leg
    ]
    if not ok:
        return "\n".join(lines).rstrip() + "\n"
    for leg in ok:
        api, ranked = leg["api"], leg["probes"]["rank"]
        counts = leg["load"]["counts"]
        lines.append(
            f"- **{BACKEND_LABELS[leg['backend']]}** ({counts['technicians']:,} technicians, "
            f"{counts['jobs']:,} jobs in their days): end to end p95 **{_ms(api['p95_ms'])} ms**"
            f", {_met(api['p95_ms'] < TARGET_P95_MS)} (p50 {_ms(api['p50_ms'])} ms); the "
            f"ranking p95 **{_ms(ranked['p95_ms'])} ms**, {_met(ranked['p95_ms'] < TARGET_RANK_MS)}"
            f" (p50 {_ms(ranked['p50_ms'])} ms)."
        )
    small = [
        leg for leg in ok if leg["load"]["counts"]["technicians"] != SCALES["large"].technicians
    ]
    if small:
        lines.append(
            f"- Run at `--scale small`: the targets are for {SCALES['large'].technicians} "
            f"technicians and {SCALES['large'].jobs:,} jobs."
        )
    lines.append("")
    lines += _api_table(ok)
    lines += _ranking_table(ok)
    lines += _breakdown_table(ok)
    lines += _floor_table(ok)
    lines += _answers_text(ok)
    lines += _setup_table(ok)
    lines += _data_text(ok)
    lines += _sql(ok)
    lines += _explain(ok)
    lines += _profiles(ok)
    return "\n".join(lines).rstrip() + "\n"


def _api_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    first = legs[0]
    lines = [
        "### End to end through the API",
        "",
        f"Milliseconds of wall time per request, {first['requests']} timed requests after "
        f"{first['warmup']} warm-up requests, rotating through the "
        f"{first['load']['counts']['candidates']} jobs; every response checked against "
        "`rank` on the days the loader wrote. Queries counted on a separate pass (one request "
        "per job). Full GCs: Python's generation-2 collections during the timed requests "
        "(count, total pause). Load average (1 / 5 / 15 min) before and after the timed "
        "requests.",
        "",
        "| Backend | Connections | p50 | **p95** | p99 | max | mean | Queries | Full GCs | "
        f"Load average | Target (p95 < {TARGET_P95_MS:g} ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for leg in legs:
        api, queries = leg["api"], leg["queries"]
        low, high = queries["min"], queries["max"]
        count = str(low) if low == high else f"{low}–{high}"
        gc_text = f"{api['full_gc']['count']} ({api['full_gc']['total_ms']:.0f} ms)"
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {_connection_mode(leg)} "
            f"({api['connections_per_request']:.2f}/request) | {_ms(api['p50_ms'])} | "
            f"**{_ms(api['p95_ms'])}** | {_ms(api['p99_ms'])} | {_ms(api['max_ms'])} | "
            f"{_ms(api['mean_ms'])} | {count} | {gc_text} | {_loads(api['load_before'])} → "
            f"{_loads(api['load_after'])} | {_met(api['p95_ms'] < TARGET_P95_MS)} |"
        )
    lines.append("")
    for leg in legs:
        full_gc = leg["api"]["full_gc"]
        without = full_gc["without"]
        if not full_gc["count"]:
            continue
        rest = (
            f"the {without['n']} requests without one: p50 {_ms(without['p50_ms'])}, p95 "
            f"{_ms(without['p95_ms'])} ms"
            if without
            else "every request had one"
        )
        lines.append(
            f"{BACKEND_LABELS[leg['backend']]}: a full garbage collection ran during "
            f"{full_gc['requests_hit']} of the {leg['api']['n']} timed requests (pause p50 "
            f"{_ms(full_gc['p50_ms'])} ms); {rest}."
        )
    return [*lines, ""]


PROBE_TEXT = {
    "rank": "`rank(visit, days, travel)`: what the selector calls (a `Fleet` built, then priced)",
    "fleet": "of which `Fleet(days, travel)`: flattening the days (once per call of `rank`)",
    "fleet_rank": "`Fleet.rank(visit)` on a fleet built once: pricing + reasons only",
    "stops_sql": "the stops' crew query, raw SQL through a cursor (rows fetched, no models)",
    "stops_models": "the same query as the selector runs it (`values_list` rows)",
    "days": "the whole of `_days`: `shifts_of` (5 queries) + the stops query + `PlannedStop`s",
    "render": "`JSONRenderer().render()` of one answer",
}


def _ranking_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### The ranking itself",
        "",
        "Milliseconds per call, outside any request, interleaved round-robin with the floors "
        "below; the days built once by the selector's own `_days` "
        f"({legs[0]['answers']['stops']:,} stops), each job's `Visit` by `visit_for`.",
        "",
        f"| Backend | Call | p50 | **p95** | p99 | max | Target (< {TARGET_RANK_MS:g} ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for leg in legs:
        for name in ("rank", "fleet", "fleet_rank"):
            row = leg["probes"][name]
            target = _met(row["p95_ms"] < TARGET_RANK_MS) if name == "rank" else ""
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {PROBE_TEXT[name]} | {_ms(row['p50_ms'])} "
                f"| **{_ms(row['p95_ms'])}** | {_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | "
                f"{target} |"
            )
        inner = leg["api"]["stages"]["rank"]
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | `rank` inside the timed requests (wrapped) | "
            f"{_ms(inner['p50_ms'])} | **{_ms(inner['p95_ms'])}** | | | "
            f"{_met(inner['p95_ms'] < TARGET_RANK_MS)} |"
        )
    return [*lines, ""]


def _breakdown_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    labels = " | ".join(BACKEND_LABELS[leg["backend"]] for leg in legs)
    lines = [
        "### Where the time goes, per request",
        "",
        "Mean milliseconds per timed request (share of the mean request), and p95, from "
        "wrappers around the view's and the selector's calls in the same requests; the means "
        "add up to the request.",
        "",
        f"| Stage | {labels} |",
        "| --- |" + " ---: |" * len(legs),
    ]
    for name in STAGES:
        cells = []
        for leg in legs:
            stage, total = leg["api"]["stages"][name], leg["api"]["mean_ms"]
            cells.append(
                f"{_ms(stage['mean_ms'])} ({stage['mean_ms'] / total:.0%}), "
                f"p95 {_ms(stage['p95_ms'])}"
            )
        lines.append(f"| {STAGE_TEXT[name]} | " + " | ".join(cells) + " |")
    lines.append(
        "| **request** | " + " | ".join(f"**{_ms(leg['api']['mean_ms'])}**" for leg in legs) + " |"
    )
    return [*lines, ""]


def _floor_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    labels = " | ".join(BACKEND_LABELS[leg["backend"]] for leg in legs)
    lines = [
        "### Stages on their own",
        "",
        "p50 (p95) milliseconds per call, interleaved with the ranking above (those reading "
        f"the database in one round in {FLOOR_EVERY}), on an open connection: how much of the "
        "stops is the database, how much making models.",
        "",
        f"| Call | {labels} |",
        "| --- |" + " ---: |" * len(legs),
    ]
    for name in ("stops_sql", "stops_models", "days", "render"):
        cells = [
            f"{_ms(leg['probes'][name]['p50_ms'])} ({_ms(leg['probes'][name]['p95_ms'])})"
            for leg in legs
        ]
        lines.append(f"| {PROBE_TEXT[name]} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _answers_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["### The answers (checked)", ""]
    for leg in legs:
        answers = leg["answers"]
        lines.append(
            f"- {BACKEND_LABELS[leg['backend']]}: {answers['candidates']:,} technicians "
            f"ranked per job ({answers['stops']:,} stops in their days); technicians with a "
            f"feasible place, per job (min / median / max): {_spread(answers['feasible'])}; "
            f"suggestions returned (limit {LIMIT}): {_spread(answers['returned'])}."
        )
    return [*lines, ""]


def _setup_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Set-up (not timed against the target)",
        "",
        "`migrate` and the loader run in child processes; the loader's parts as the module "
        "docstring describes them (services for users, the map, technicians and the jobs to "
        "rank; bulk inserts for the days).",
        "",
        "| Backend | Database | `migrate` | users + map | customers (bulk) | activation | "
        "technicians (services) | jobs in days (bulk) | jobs to rank (services) | loader (wall) "
        "| `VACUUM ANALYZE` | leg load average (start → end) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for leg in legs:
        t, loaded = leg["load"]["timings"], leg["load"]
        analyze = "–" if loaded["analyze_s"] is None else f"{loaded['analyze_s']:.1f} s"
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {leg['database']} | {leg['migrate_s']:.1f} s "
            f"| {t['users_map_s']:.1f} s | {t['customers_s']:.1f} s | {t['activate_s']:.1f} s | "
            f"{t['technicians_s']:.1f} s | {t['work_orders_s']:.1f} s | {t['candidates_s']:.1f} s "
            f"| {loaded['wall_s']:.1f} s | {analyze} | {_loads(leg['load_average']['start'])} → "
            f"{_loads(leg['load_average']['end'])} |"
        )
    return [*lines, ""]


def _data_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    leg = legs[0]
    mix, counts = leg["load"]["mix"], leg["load"]["counts"]
    low, median, high = mix["jobs_per_technician"]
    return [
        "### Data",
        "",
        f"{counts['technicians']:,} technicians (homes spread over 4.70–5.00 E, 45.60–45.90 N; "
        f"{mix['early_shifts']} on 07:00–15:00, the others 08:00–17:00), {counts['jobs']:,} "
        f"scheduled jobs in their days on {PLAN_DAY.isoformat()} ({low} / {median:g} / {high} "
        f"per technician), within {JOB_RADIUS_KM:g} km of home: drives between them of "
        f"{mix['drive_min_median']:.1f} min (median; p90 {mix['drive_min_p90']:.1f}), services "
        f"of {mix['service_min_median']:.0f} min (median), days {mix['busy_share_median']:.0%} "
        f"busy (median, service + driving); {mix['windows']:,} with a customer window, "
        f"{mix['pinned']} pinned, {mix['skilled']:,} needing a skill. Jobs to rank: "
        f"{counts['candidates']}, {mix['candidates_windows']} with windows, "
        f"{mix['candidates_skills']} needing skills, {mix['candidates_certifications']} a "
        f"certification. Seed {leg['seed']}; Python {leg['python']}, numpy {leg['numpy']}.",
        "",
    ]


def _sql(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for leg in legs:
        statements = leg["queries"]["first"]
        lines += [
            "<details><summary>"
            f"{BACKEND_LABELS[leg['backend']]}: the {len(statements)} queries of one request "
            "(with their times on the counting pass, ms; first "
            f"{SQL_SHOWN} characters)</summary>",
            "",
            "```sql",
        ]
        lines += [
            f"-- {number}: {q['ms']:.2f} ms\n{' '.join(q['sql'].split())}"
            for number, q in enumerate(statements, 1)
        ]
        lines += ["```", "", "</details>", ""]
    return lines


PROFILE_TEXT = {
    "tottime": f"one request for each of {PROFILED_JOBS} jobs, top 20 by own time",
    "cumulative": f"one call of `work_order_suggestions` for each of {PROFILED_JOBS} jobs, top 20 "
    "by cumulative time",
}


def _explain(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for leg in legs:
        analyzed = " (`EXPLAIN (ANALYZE, BUFFERS)`)" if leg["backend"] == "postgres" else ""
        lines += [
            "<details><summary>"
            f"{BACKEND_LABELS[leg['backend']]}: the database's plan for the stops' query"
            f"{analyzed}</summary>",
            "",
            "```",
            leg["explain"],
            "```",
            "",
            "</details>",
            "",
        ]
    return lines


def _profiles(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for leg in legs:
        for order, text in leg["profile"].items():
            lines += [
                "<details><summary>"
                f"{BACKEND_LABELS[leg['backend']]}: cProfile, {PROFILE_TEXT[order]}</summary>",
                "",
                "```",
                text,
                "```",
                "",
                "</details>",
                "",
            ]
    return lines


# -------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="large",
        help="; ".join(
            f"{k}: {s.technicians} technicians, {s.jobs:,} jobs, {s.candidates} to rank"
            for k, s in SCALES.items()
        ),
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests (and rounds)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    # Internal: what the loading child process runs.
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(load_data(args.scale, args.seed)))
        return 0
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            scale=args.scale,
            requests=args.requests,
            warmup=args.warmup,
            seed=args.seed,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
