"""Benchmark (issue 4): a realignment preview over 1,000,000 accounts, end to end through the
database, as a territory job.

    .venv/bin/python -m infra.bench.territory_preview --backend sqlite [--scale large|small]
    .venv/bin/python -m infra.bench.run_all --only territory_preview --backend postgres --no-write

Target (issue 4): "preview of a realignment over 1,000,000 accounts in under 60 s, end to end
through the database", with 1,000 territories of about 300 vertices each.

**Database.** With the test settings (``FIELDLINE_ENV=test``) and a throwaway
``FIELDLINE_DATA_DIR`` (SQLite), or the PostgreSQL that ``run_all`` starts (``DATABASE_URL``), a
fresh database is migrated in a child process, then loaded by another child process
(``--load-accounts N``), so the measuring process starts clean:

* a user ``salesmanager`` with the sales manager role (``server.services.user_create``), the
  actor of every service call and of the jobs;
* two territory types through ``territory_type_create`` (``cell``, priority 2; ``keyaccount``,
  priority 1);
* the **active map**: ``territory_assign.territory_collection(seed)`` (a jittered 33 × 30 grid
  of cells over 10°W–30°E, 36°N–60°N sharing wiggly 297-position edges, plus 10 overlapping
  key-account discs of 300 positions: 1,000 territories), each feature given its type, imported
  with ``territory_model_create`` and ``territories_import`` into a planning model, which is
  then **made active directly** (``state`` and ``activated_at`` set with a queryset update):
  activating it through ``territory_model_activate`` would record a million assignment rows and
  move a million accounts through crm's service, which is not what is measured here, and the
  preview reads neither;
* the **planning map**: the same collection with every position moved by a tenth of a cell
  east and 8% of a cell north (the edges stay shared exactly), imported with the services as a
  second planning model, as a planner's new map would be; about 16% of the accounts change
  territory, and a few leave or enter the map along its edges;
* the accounts (``large``: 1,000,000; ``small``: 100,000), each with one primary site, and 20%
  with a second, non-primary site, at points drawn by ``territory_assign.random_points`` (60%
  around towns, 35% uniform, 4% outside the region, 1% without a geocode). Ids are random
  16-character ``[0-9a-z]`` strings like ``sync.ids.new_id``'s. Each account's
  ``Account.territory`` is the active map's code for its primary site's point (or empty),
  computed in the loader with a ``TerritoryIndex`` built from the active collection, vectorised.
  Rows are inserted raw, bypassing services and the change log (benchmark data): ``executemany``
  on SQLite, ``COPY`` on PostgreSQL, every column of the models filled (their defaults for the
  ones that do not matter). No overrides, nothing archived, no territory hierarchy (every
  territory is a leaf, so all of them enter the coefficients of variation). On PostgreSQL
  ``VACUUM ANALYZE`` follows. The loader reports its times; they are not part of the target.

**What is timed, per round** (``--rounds``, default 3; the process's cached spatial indexes,
``territories.services.assignment._indexes``, are cleared before each, so every round builds
the planning map's index as a worker's first preview of a model does):

1. ``territories.services.territory_job_start(actor=salesmanager, model_id=planning,
   kind="preview")``: the ``TerritoryJob`` row and, on commit, the task's enqueueing. The task
   backend is swapped for Django's ``DummyBackend`` in this process, so the enqueued task is
   kept rather than run at commit (the test settings' immediate backend would run it inline);
2. the enqueued task itself, ``run_territory_job(job_id)``, called in-process with the enqueued
   arguments, exactly what ``manage.py db_worker`` calls (``territory_job_run``: claim the row,
   run ``realignment_preview`` with a ``JobProgress`` writing stage and counts to the row, write
   the result);
3. reading the job row back: it must be ``succeeded``; its ``result`` is checked.

End to end is 1 to 3. The stages come from the job's own progress reports: ``jobs.JobProgress``
is replaced in this process by a subclass that timestamps each ``stage()`` call (and ``flush()``,
which the runner calls when the operation has returned) before doing what the original does;
``assignment.index_for`` is wrapped to time its first, building call. Python's garbage
collections during the round are counted (``gc.callbacks``).

**Checks.** The loader computes, from its known active codes and a vectorised assignment of the
primary sites' points with an index built from the planning collection (not the service's
code), the expected accounts moved, added and unassigned, the first 1,000 ids of each, the
accounts per territory before and after, and the coefficients of variation. Every round's
``result`` must equal them, or the leg fails.

**Memory.** ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end (the process's peak), and
per round the peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs`` before each round)
against the RSS before it.

``--profile`` adds an untimed round under ``cProfile`` and logs its top 20 functions (cumulative
and own time); they are also in ``--json``.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import io
import json
import math
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from .account_list import BenchError, database_description, prepare_environment
from .common import report
from .sync_initial import run_child
from .territory_assign import COLUMNS, REGION, ROWS, random_points, territory_collection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = "territory_preview"
TARGET_SECONDS = 60.0
ACCOUNTS = {"large": 1_000_000, "small": 100_000}
SECOND_SITE_SHARE = 0.20
# The planning map: the active one moved by these fractions of a cell (east, north).
SHIFT_CELLS = (0.10, 0.08)
TYPES = (  # code, name, priority (lower wins); the collection's "priority" picks the type
    ("keyaccount", "Key-account overlay", 1),
    ("cell", "Territory", 2),
)
USERNAME = "salesmanager"
INSERT_CHUNK = 100_000
SAMPLE = 1000  # realignment.SAMPLE: ids listed per kind of move
ID_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 16
STAGES = ("reading sites", "assigning sites", "assigning accounts", "comparing")
TASK_PATH = "territories.tasks.run_territory_job"
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- the maps


def typed_collection(seed: int) -> dict[str, Any]:
    """``territory_collection(seed)`` with each feature's ``type`` (by its priority) and name,
    as ``territories_import`` expects."""
    collection = territory_collection(seed)
    by_priority = {priority: code for code, _name, priority in TYPES}
    for feature in collection["features"]:
        properties = feature["properties"]
        properties["type"] = by_priority[properties["priority"]]
        properties["name"] = f"Territory {properties['code']}"
    return collection


def shifted_collection(collection: dict[str, Any]) -> dict[str, Any]:
    """The same map with every position moved by ``SHIFT_CELLS`` of a cell: equal positions
    stay equal, so shared edges stay shared exactly."""
    min_lng, min_lat, max_lng, max_lat = REGION
    d_lng = SHIFT_CELLS[0] * (max_lng - min_lng) / COLUMNS
    d_lat = SHIFT_CELLS[1] * (max_lat - min_lat) / ROWS
    moved = copy.deepcopy(collection)
    for feature in moved["features"]:
        geometry = feature["geometry"]
        geometry["coordinates"] = [
            [[lng + d_lng, lat + d_lat] for lng, lat in ring] for ring in geometry["coordinates"]
        ]
    return moved


def collection_index(collection: dict[str, Any]) -> tuple[Any, list[str]]:
    """A ``TerritoryIndex`` built straight from a collection (keys: feature positions; the
    priority of each feature's type, its order), and the code of each key."""
    from territories.geometry import TerritoryIndex, read_feature_collection

    priorities = {code: priority for code, _name, priority in TYPES}
    features = read_feature_collection(collection)
    index = TerritoryIndex(
        (n, f.shape, priorities[f.properties["type"]], int(f.properties["order"]))
        for n, f in enumerate(features)
    )
    return index, [str(f.id) for f in features]


# ------------------------------------------------------------------------------- loading


def random_ids(count: int, seed: int) -> npt.NDArray[np.str_]:
    """``count`` distinct random ids shaped like ``sync.ids.new_id``'s."""
    import numpy as np

    rng = np.random.default_rng(seed + 3)
    alphabet = np.frombuffer(ID_ALPHABET, dtype=np.uint8)
    letters = alphabet[rng.integers(0, len(ID_ALPHABET), size=(count, ID_LENGTH))]
    ids = np.ascontiguousarray(letters).view(f"S{ID_LENGTH}").ravel().astype(f"U{ID_LENGTH}")
    if np.unique(ids).size != count:
        raise BenchError("random ids collided; try another --seed")
    return ids


def codes_of(keys: npt.NDArray[np.int64], codes: Sequence[str]) -> npt.NDArray[np.str_]:
    """The code of each key, or "" for -1."""
    import numpy as np

    table = np.array([*codes, ""])
    return table[np.where(keys >= 0, keys, len(codes))]


def _cv(values: list[float]) -> float | None:
    """As ``realignment._cv``, recomputed: population standard deviation over the mean."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean else None


def expected_preview(
    ids: npt.NDArray[np.str_],
    before: npt.NDArray[np.str_],
    after: npt.NDArray[np.str_],
    active_codes: Sequence[str],
    planning_codes: Sequence[str],
) -> dict[str, Any]:
    """What the preview must answer, from each account's code before (active) and after
    (planning), "" for none."""
    import numpy as np

    has_before, has_after = before != "", after != ""
    masks = {
        "moved": has_before & has_after & (before != after),
        "added": has_after & ~has_before,
        "unassigned": has_before & ~has_after,
    }

    def counts(codes: npt.NDArray[np.str_]) -> dict[str, int]:
        names, numbers = np.unique(codes[codes != ""], return_counts=True)
        return {str(n): int(c) for n, c in zip(names.tolist(), numbers.tolist(), strict=True)}

    count_before, count_after = counts(before), counts(after)
    return {
        **{f"accounts_{kind}": int(mask.sum()) for kind, mask in masks.items()},
        **{kind: np.sort(ids[mask])[:SAMPLE].tolist() for kind, mask in masks.items()},
        "before": count_before,
        "after": count_after,
        "cv_before": _cv([float(count_before.get(c, 0)) for c in sorted(set(active_codes))]),
        "cv_after": _cv([float(count_after.get(c, 0)) for c in sorted(set(planning_codes))]),
    }


def _reason_counts(reasons: npt.NDArray[np.uint8]) -> dict[str, int]:
    import numpy as np

    from territories.geometry import REASONS

    numbers = np.bincount(reasons, minlength=len(REASONS))
    return {(name or "assigned"): int(n) for name, n in zip(REASONS, numbers, strict=True)}


def _constant_columns(model: Any, given: dict[str, Any], variable: Sequence[str]) -> Any:
    """The columns of ``model`` other than ``variable`` (attnames), with their values for
    every row, prepared for this database: from ``given``, else the field's default."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.attname in variable:
            continue
        value = given[field.attname] if field.attname in given else field.get_default()
        columns.append(field.column)
        values.append(field.get_db_prep_save(value, connection))
    return columns, tuple(values)


def insert_rows(table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Raw insert: ``COPY`` on PostgreSQL, ``executemany`` elsewhere."""
    from django.db import connection

    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy_in:
                for row in rows:
                    copy_in.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            # Model names, quoted; the values are parameters.
            statement = f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(statement, rows)


def load_data(accounts: int, seed: int) -> dict[str, Any]:
    """(In a child process.) The user, the two maps and the accounts with their sites; see
    the module docstring. Returns what was loaded, how long it took and what the preview must
    answer."""
    import django

    django.setup()
    import numpy as np
    from django.db import transaction
    from django.utils import timezone

    from crm.models import Account, Site
    from server.enums import Role
    from server.services import user_create
    from territories.models import ModelState, TerritoryModel
    from territories.services import (
        territories_import,
        territory_model_create,
        territory_type_create,
    )

    timings: dict[str, float] = {}
    started = time.perf_counter()
    user = user_create(
        username=USERNAME,
        password="bench-password",  # noqa: S106 - a throwaway database
        roles=[Role.SALES_MANAGER],
        display_name="Bench sales manager",
    )
    for code, name, priority in TYPES:
        territory_type_create(actor=user, code=code, name=name, priority=priority)
    active_collection = typed_collection(seed)
    planning_collection = shifted_collection(active_collection)
    mark = time.perf_counter()
    active = territory_model_create(actor=user, name="Active map")
    territories_import(actor=user, model_id=active.pk, collection=active_collection)
    # Benchmark set-up, not the service: see the module docstring.
    TerritoryModel.objects.filter(pk=active.pk).update(
        state=ModelState.ACTIVE, activated_at=timezone.now()
    )
    timings["import_active_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    planning = territory_model_create(actor=user, name="Planning map (moved)")
    territories_import(actor=user, model_id=planning.pk, collection=planning_collection)
    timings["import_planning_s"] = time.perf_counter() - mark
    log(f"maps imported in {timings['import_active_s'] + timings['import_planning_s']:.1f}s")

    mark = time.perf_counter()
    lngs, lats, mix = random_points(accounts, seed)
    rng = np.random.default_rng(seed + 2)
    with_second = np.flatnonzero(rng.random(accounts) < SECOND_SITE_SHARE)
    second_lngs, second_lats, second_mix = random_points(with_second.size, seed + 7)
    ids = random_ids(2 * accounts + with_second.size, seed)
    account_ids = ids[:accounts]
    primary_ids = ids[accounts : 2 * accounts]
    second_ids = ids[2 * accounts :]
    active_index, active_codes = collection_index(active_collection)
    planning_index, planning_codes = collection_index(planning_collection)
    active_assigned = active_index.assign(lngs, lats)
    planning_assigned = planning_index.assign(lngs, lats)
    before = codes_of(active_assigned.keys, active_codes)
    after = codes_of(planning_assigned.keys, planning_codes)
    expected = expected_preview(account_ids, before, after, active_codes, planning_codes)
    timings["generate_s"] = time.perf_counter() - mark
    log(
        f"{accounts:,} accounts drawn and assigned in {timings['generate_s']:.1f}s: "
        f"{expected['accounts_moved']:,} move"
    )

    def nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
        return [None if math.isnan(v) else v for v in values.tolist()]

    now = timezone.now()
    variable_accounts = ("id", "name", "territory")
    account_columns, account_constants = _constant_columns(
        Account, {"created_at": now, "updated_at": now}, variable_accounts
    )
    variable_sites = ("id", "account_id", "name", "is_primary", "longitude", "latitude")
    site_columns, site_constants = _constant_columns(
        Site, {"created_at": now, "updated_at": now, "time_zone": "UTC"}, variable_sites
    )
    mark = time.perf_counter()
    with transaction.atomic():
        for start in range(0, accounts, INSERT_CHUNK):
            part = range(start, min(start + INSERT_CHUNK, accounts))
            rows = [
                (aid, f"Bench account {n}", code, *account_constants)
                for n, aid, code in zip(
                    part, account_ids[part.start : part.stop].tolist(),
                    before[part.start : part.stop].tolist(), strict=True,
                )
            ]  # fmt: skip
            insert_rows(Account._meta.db_table, [*variable_accounts, *account_columns], rows)
    timings["insert_accounts_s"] = time.perf_counter() - mark
    log(f"accounts inserted in {timings['insert_accounts_s']:.1f}s")
    mark = time.perf_counter()
    site_names = [*variable_sites, *site_columns]
    with transaction.atomic():
        for start in range(0, accounts, INSERT_CHUNK):
            stop = min(start + INSERT_CHUNK, accounts)
            rows = [
                (sid, aid, "Main site", True, lng, lat, *site_constants)
                for sid, aid, lng, lat in zip(
                    primary_ids[start:stop].tolist(), account_ids[start:stop].tolist(),
                    nullable(lngs[start:stop]), nullable(lats[start:stop]), strict=True,
                )
            ]  # fmt: skip
            insert_rows(Site._meta.db_table, site_names, rows)
        owners = account_ids[with_second]
        for start in range(0, with_second.size, INSERT_CHUNK):
            stop = min(start + INSERT_CHUNK, int(with_second.size))
            rows = [
                (sid, aid, "Branch", False, lng, lat, *site_constants)
                for sid, aid, lng, lat in zip(
                    second_ids[start:stop].tolist(), owners[start:stop].tolist(),
                    nullable(second_lngs[start:stop]), nullable(second_lats[start:stop]),
                    strict=True,
                )
            ]  # fmt: skip
            insert_rows(Site._meta.db_table, site_names, rows)
    timings["insert_sites_s"] = time.perf_counter() - mark
    log(f"sites inserted in {timings['insert_sites_s']:.1f}s")

    if Account.objects.count() != accounts or Site.objects.count() != accounts + with_second.size:
        raise BenchError("the loaded row counts are not the ones inserted")
    vertices = [
        sum(len(ring) for ring in f["geometry"]["coordinates"])
        for f in active_collection["features"]
    ]
    timings["total_s"] = time.perf_counter() - started
    return {
        "accounts": accounts,
        "primary_sites": accounts,
        "secondary_sites": int(with_second.size),
        "point_mix": mix,
        "secondary_point_mix": second_mix,
        "territories": len(active_codes),
        "vertices": {
            "min": min(vertices),
            "median": statistics.median(vertices),
            "max": max(vertices),
        },
        "shift_cells": list(SHIFT_CELLS),
        "active_model": active.pk,
        "planning_model": planning.pk,
        "active_reasons": _reason_counts(active_assigned.reasons),
        "planning_reasons": _reason_counts(planning_assigned.reasons),
        "expected": expected,
        "timings": timings,
    }


def load(accounts: int, seed: int) -> dict[str, Any]:
    """Load the data in a child process, then (PostgreSQL) ``VACUUM ANALYZE``, so that
    autovacuum does not catch up on the bulk load during the measurement."""
    log(f"loading {accounts:,} accounts")
    wall_s, out = run_child(
        ["-m", "infra.bench.territory_preview", "--load-accounts", str(accounts),
         "--seed", str(seed)],
        f"loading {accounts} accounts",
    )  # fmt: skip
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


# --------------------------------------------------------------------------------- timing


class Clock:
    """What one round records: the stage marks, index builds, progress writes and garbage
    collections."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, int]] = []
        self.index_calls: list[float] = []
        self.writes = 0
        self.gc: dict[int, dict[str, float]] = {}
        self._gc_started = 0.0

    def mark(self, name: str, total: int = 0) -> None:
        self.marks.append((name, time.perf_counter(), total))

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        entry = self.gc.setdefault(info["generation"], {"count": 0, "seconds": 0.0})
        entry["count"] += 1
        entry["seconds"] += time.perf_counter() - self._gc_started


CLOCK = Clock()


def timed_progress_class() -> type:
    """A ``JobProgress`` that timestamps its stages on ``CLOCK``, then does what it does."""
    from territories.progress import JobProgress

    class TimedJobProgress(JobProgress):
        def stage(self, name: str, total: int = 0) -> None:
            CLOCK.mark(name, total)
            super().stage(name, total)

        def flush(self) -> None:
            CLOCK.mark("finishing")  # the runner flushes once the operation has returned
            super().flush()

        def _write(self, **fields: object) -> None:
            CLOCK.writes += 1
            super()._write(**fields)

    return TimedJobProgress


@contextmanager
def instrumented() -> Iterator[None]:
    """Inside: the job runner uses the timed progress, ``index_for`` is timed, and tasks are
    kept by the dummy backend rather than run at commit."""
    from django.test import override_settings

    from territories.services import assignment, jobs

    original = assignment.index_for

    def timed_index_for(model: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(model)
        finally:
            CLOCK.index_calls.append(time.perf_counter() - started)

    with (
        override_settings(TASKS=DUMMY_TASKS),
        mock.patch.object(jobs, "JobProgress", timed_progress_class()),
        mock.patch.object(assignment, "index_for", timed_index_for),
    ):
        yield


def _status_kb() -> dict[str, int]:
    values = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def preview_round(
    *, user: Any, model_id: int, profiler: cProfile.Profile | None = None
) -> dict[str, Any]:
    """One end-to-end preview job (see the module docstring); the row's result and times.
    With ``profiler``, it profiles the timed part."""
    global CLOCK
    from django.tasks import default_task_backend

    from territories.models import JobKind, JobState, TerritoryJob
    from territories.services import assignment, territory_job_start

    with assignment._lock:
        assignment._indexes.clear()
    gc.collect()
    reset = _reset_peak()
    rss_before = _status_kb().get("VmRSS", 0)
    CLOCK = Clock()
    gc.callbacks.append(CLOCK.on_gc)
    try:
        backend: Any = default_task_backend
        backend.clear()
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        job = territory_job_start(actor=user, model_id=model_id, kind=JobKind.PREVIEW)
        enqueued_at = time.perf_counter()
        if len(backend.results) != 1:
            raise BenchError(f"territory_job_start enqueued {len(backend.results)} tasks, not 1")
        task_result = backend.results[0]
        if task_result.task.module_path != TASK_PATH or list(task_result.args) != [job.pk]:
            raise BenchError(f"unexpected task enqueued: {task_result.task} {task_result.args}")
        CLOCK.mark("run")
        task_result.task.call(*task_result.args, **task_result.kwargs)
        row = TerritoryJob.objects.get(pk=job.pk)
        finished = time.perf_counter()
    finally:
        if profiler is not None:
            profiler.disable()
        gc.callbacks.remove(CLOCK.on_gc)
    if row.state != JobState.SUCCEEDED:
        raise BenchError(f"the preview job ended {row.state}: {row.error}")
    status = _status_kb()
    marks = CLOCK.marks
    names = [name for name, _, _ in marks]
    if names != ["run", *STAGES, "finishing"]:
        raise BenchError(f"unexpected progress stages: {names}")
    times = [t for _, t, _ in marks] + [finished]
    stages = {"job start (service)": enqueued_at - started}
    stages["before the first stage"] = times[1] - times[0]
    for number, name in enumerate(STAGES, start=1):
        stages[name] = times[number + 1] - times[number]
    stages["finishing (result written, row read)"] = times[-1] - times[-2]
    return {
        "seconds": finished - started,
        "stages_s": stages,
        "stage_totals": {name: total for name, _, total in marks if name in STAGES},
        "index_build_s": CLOCK.index_calls[0] if CLOCK.index_calls else None,
        "index_calls": len(CLOCK.index_calls),
        "progress_writes": CLOCK.writes,
        "gc": {str(generation): entry for generation, entry in sorted(CLOCK.gc.items())},
        "rss_before_kb": rss_before,
        "peak_kb": status.get("VmHWM") if reset else None,
        "result": row.result,
    }


def check_result(result: dict[str, Any], expected: dict[str, Any]) -> None:
    """The job's result against the loader's expectations; raise ``BenchError`` if not equal."""
    problems = []
    for kind in ("moved", "added", "unassigned"):
        if result[f"accounts_{kind}"] != expected[f"accounts_{kind}"]:
            problems.append(
                f"accounts_{kind} {result[f'accounts_{kind}']:,} (expected "
                f"{expected[f'accounts_{kind}']:,})"
            )
        if result[kind] != expected[kind]:
            problems.append(f"the {kind} ids differ from the expected first {SAMPLE}")
    codes = sorted(set(expected["before"]) | set(expected["after"]))
    seen = [entry["code"] for entry in result["territories"]]
    if not set(codes) <= set(seen):
        problems.append("territories missing from the result")
    wrong = [
        entry["code"]
        for entry in result["territories"]
        if entry["accounts"]["before"] != expected["before"].get(entry["code"], 0)
        or entry["accounts"]["after"] != expected["after"].get(entry["code"], 0)
    ]
    if wrong:
        problems.append(f"accounts per territory differ in {len(wrong)}, e.g. {wrong[:3]}")
    cv = result["coefficient_of_variation"]["accounts"]
    for side in ("before", "after"):
        got, want = cv[side], expected[f"cv_{side}"]
        if (got is None) != (want is None) or (
            got is not None and not math.isclose(got, want, rel_tol=1e-9)
        ):
            problems.append(f"coefficient of variation {side}: {got} (expected {want})")
    if problems:
        raise BenchError("the preview's result is wrong: " + "; ".join(problems))


def profile_round(*, user: Any, model_id: int) -> dict[str, str]:
    """One more (untimed) round under cProfile: the top 20 by cumulative and by own time."""
    profiler = cProfile.Profile()
    preview_round(user=user, model_id=model_id, profiler=profiler)
    tops = {}
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(20)
        tops[order] = out.getvalue().strip()
    return tops


def measure(*, loaded: dict[str, Any], rounds: int, profile: bool) -> dict[str, Any]:
    from server.models import User

    user = User.objects.get(username=USERNAME)
    model_id = loaded["planning_model"]
    results = []
    idle = _status_kb().get("VmRSS", 0)
    with instrumented():
        for number in range(rounds):
            outcome = preview_round(user=user, model_id=model_id)
            check_result(outcome.pop("result"), loaded["expected"])
            results.append(outcome)
            log(
                f"round {number + 1}/{rounds}: {outcome['seconds']:.1f}s ("
                + ", ".join(f"{k} {v:.1f}" for k, v in outcome["stages_s"].items())
                + ")"
            )
        profiled = profile_round(user=user, model_id=model_id) if profile else None
    if profiled is not None:
        for order, text in profiled.items():
            log(f"cProfile, top 20 by {order}:\n{text}")
    samples = [r["seconds"] for r in results]
    median = statistics.median(samples)
    return {
        "rounds": results,
        "median_s": median,
        "best_s": min(samples),
        "samples_s": samples,
        "accounts_per_s": loaded["accounts"] / median,
        "stages_median_s": {
            name: statistics.median(r["stages_s"][name] for r in results)
            for name in results[0]["stages_s"]
        },
        "index_build_median_s": statistics.median(
            r["index_build_s"] for r in results if r["index_build_s"] is not None
        ),
        "idle_rss_kb": idle,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "profile": profiled,
    }


def run(*, backend: str, scale: str, rounds: int, seed: int, profile: bool) -> dict[str, Any]:
    """Set up a fresh database on ``backend``, load, measure; the structured results."""
    started = time.perf_counter()
    accounts = ACCOUNTS[scale]
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
            loaded = load(accounts, seed)
            database = database_description()
            measured = measure(loaded=loaded, rounds=rounds, profile=profile)
        finally:
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
    import numpy
    import shapely

    return {
        "benchmark": BENCHMARK,
        "backend": backend,
        "scale": scale,
        "seed": seed,
        "database": database,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "shapely": shapely.__version__,
        "migrate_s": migrate_s,
        "load": loaded,
        **measured,
        "elapsed_s": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------------- report


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _mib(kb: float | None) -> str:
    return "–" if kb is None else f"{kb / 1024:,.0f} MiB"


def _verdict(leg: dict[str, Any]) -> str:
    median = leg["median_s"]
    met = median < TARGET_SECONDS
    facts = (
        f"{median:.1f} s end to end (median of {len(leg['samples_s'])}), "
        f"{leg['accounts_per_s']:,.0f} accounts/s, peak RSS {_mib(leg['maxrss_kb'])}"
    )
    return f"met ({facts})" if met else f"**missed** ({facts})"


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more backends (a leg that failed carries ``error``)."""
    ok = [leg for leg in legs if "error" not in leg]
    lines = [
        "What is measured: a realignment preview as a territory job, end to end through the "
        'database: `territory_job_start(kind="preview")` on a planning map, then the task it '
        "enqueued (`run_territory_job`, i.e. `territory_job_run`) called in-process as the "
        "worker calls it, until the job row reads `succeeded` with its result. The preview "
        "reads every site and account, assigns them in the planning map (vectorised point in "
        "polygon) and compares with each account's territory in the active map. Both maps: "
        "1,000 territories of about 300 positions; the planning map is the active one moved "
        "by a fraction of a cell. The spatial index cache is cleared before every round, so "
        f"each round builds the index, as a worker's first preview of a map does. Target: "
        f"under {TARGET_SECONDS:g} s for 1,000,000 accounts.",
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
        lines.append(
            f"- **{BACKEND_LABELS[leg['backend']]}, preview over {leg['load']['accounts']:,} "
            f"accounts**: {_verdict(leg)}."
        )
    if any(leg["load"]["accounts"] != ACCOUNTS["large"] for leg in ok):
        lines.append(f"- Run at `--scale small`: the target is for {ACCOUNTS['large']:,} accounts.")
    lines.append("")
    lines += _results_table(ok)
    lines += _stages_table(ok)
    lines += _answer_table(ok)
    lines += _memory_table(ok)
    lines += _setup_table(ok)
    lines += _data_text(ok)
    for leg in ok:
        if leg.get("profile"):
            lines += [
                f"### cProfile of one more round ({BACKEND_LABELS[leg['backend']]})",
                "",
                "```",
                leg["profile"]["tottime"],
                "```",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def _results_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Preview, end to end",
        "",
        "Seconds of wall time from `territory_job_start` to the job row read back "
        "`succeeded`, each round; accounts/s = accounts ÷ the median.",
        "",
        "| Backend | Accounts | Sites | Rounds | **median** | best | each round | accounts/s "
        f"| target (< {TARGET_SECONDS:g} s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for leg in legs:
        loaded = leg["load"]
        sites = loaded["primary_sites"] + loaded["secondary_sites"]
        met = "met" if leg["median_s"] < TARGET_SECONDS else "**missed**"
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {loaded['accounts']:,} | {sites:,} | "
            f"{len(leg['samples_s'])} | **{leg['median_s']:.1f} s** | {leg['best_s']:.1f} s | "
            + ", ".join(f"{s:.1f}" for s in leg["samples_s"])
            + f" s | {leg['accounts_per_s']:,.0f} | {met} |"
        )
    return [*lines, ""]


STAGE_TEXT = {
    "job start (service)": "job start: `territory_job_start` (row, enqueue on commit)",
    "before the first stage": "claim the job, load the model, **build the planning index** "
    "(`index_for`, of which: see below)",
    "reading sites": "reading sites: `count()` + every live site's "
    "(pk, account, primary, lng, lat) in chunks of 50,000",
    "assigning sites": "assigning sites: `TerritoryIndex.assign` + one placement per site "
    "(Python loop)",
    "assigning accounts": "assigning accounts: `count()` + every live account id + its "
    "primary site's placement",
    "comparing": "comparing: every account's current territory, moved/added/unassigned, "
    "sorting, per-territory counts",
    "finishing (result written, row read)": "finishing: last progress write, result JSON "
    "written, row read back",
}


def _stages_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    names = list(legs[0]["stages_median_s"])
    lines = [
        "### Where the time goes (median per stage, seconds)",
        "",
        "Stages as the job reports them (`JobProgress.stage`), timestamped in the process; "
        "each stage runs until the next one begins.",
        "",
        "| Stage | " + " | ".join(BACKEND_LABELS[leg["backend"]] for leg in legs) + " |",
        "| --- |" + " ---: |" * len(legs),
    ]
    for name in names:
        cells = []
        for leg in legs:
            seconds = leg["stages_median_s"][name]
            cells.append(f"{seconds:.2f} ({seconds / leg['median_s']:.0%})")
        lines.append(f"| {STAGE_TEXT.get(name, name)} | " + " | ".join(cells) + " |")
    lines.append(
        "| of which `index_for` building the planning map's index | "
        + " | ".join(f"{leg['index_build_median_s']:.2f}" for leg in legs)
        + " |"
    )
    lines.append(
        "| **end to end** | " + " | ".join(f"**{leg['median_s']:.2f}**" for leg in legs) + " |"
    )
    return [*lines, ""]


def _answer_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### The preview's answer (checked)",
        "",
        "Counts from the job's `result`. Every round's result equals what the loader computed "
        "on its own (the active codes it wrote, and the primary sites' points assigned with an "
        f"index built from the planning collection): the three counts, the first {SAMPLE:,} "
        "ids of each, the accounts per territory before and after, and the coefficients of "
        "variation.",
        "",
        "| Backend | accounts moved | added | unassigned | CV of accounts per territory, "
        "before → after |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for leg in legs:
        expected, accounts = leg["load"]["expected"], leg["load"]["accounts"]

        def share(kind: str, expected: dict[str, Any] = expected, accounts: int = accounts) -> str:
            count = expected[f"accounts_{kind}"]
            return f"{count:,} ({count / accounts:.1%})"

        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {share('moved')} | {share('added')} | "
            f"{share('unassigned')} | {expected['cv_before']:.3f} → {expected['cv_after']:.3f} |"
        )
    return [*lines, ""]


def _memory_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Memory and garbage collection",
        "",
        "*Peak RSS*: `getrusage(RUSAGE_SELF).ru_maxrss` of the measuring process at the end "
        "(it only sets Django up and runs the rounds). Per round: the RSS before it and its "
        "peak (`VmHWM`, reset through `/proc/self/clear_refs`). Full (generation 2) garbage "
        "collections during each round, and their pauses.",
        "",
        "| Backend | peak RSS | idle RSS | per round: RSS before → peak | gen-2 collections "
        "(pause) per round | progress writes per round |",
        "| --- | ---: | ---: | --- | --- | ---: |",
    ]
    for leg in legs:
        rounds = leg["rounds"]
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | **{_mib(leg['maxrss_kb'])}** | "
            f"{_mib(leg['idle_rss_kb'])} | "
            + ", ".join(f"{_mib(r['rss_before_kb'])} → {_mib(r['peak_kb'])}" for r in rounds)
            + " | "
            + ", ".join(
                f"{int(r['gc'].get('2', {}).get('count', 0))} "
                f"({r['gc'].get('2', {}).get('seconds', 0.0):.1f} s)"
                for r in rounds
            )
            + f" | {statistics.median(r['progress_writes'] for r in rounds):.0f} |"
        )
    return [*lines, ""]


def _setup_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Set-up (not part of the target)",
        "",
        "`migrate` and the loader run in child processes. The loader: the user, the territory "
        "types and both maps through the services (the active one then set active directly), "
        "the points drawn and assigned to the active map (numpy, shapely), then accounts and "
        "sites inserted raw (`executemany` on SQLite, `COPY` on PostgreSQL, one transaction "
        "each), bypassing services and the change log.",
        "",
        "| Backend | Database | `migrate` | maps (2 × import) | draw + assign | insert accounts "
        "| insert sites | loader total (wall) | `VACUUM ANALYZE` |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        loaded = leg["load"]
        t = loaded["timings"]
        analyze = "–" if loaded["analyze_s"] is None else f"{loaded['analyze_s']:.1f} s"
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {leg['database']} | {leg['migrate_s']:.1f} s "
            f"| {t['import_active_s'] + t['import_planning_s']:.1f} s | {t['generate_s']:.1f} s "
            f"| {t['insert_accounts_s']:.1f} s | {t['insert_sites_s']:.1f} s | "
            f"{loaded['wall_s']:.1f} s | {analyze} |"
        )
    return [*lines, ""]


def _data_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["### Data", ""]
    for leg in legs:
        loaded = leg["load"]
        vertices = loaded["vertices"]
        reasons = ", ".join(f"{n:,} {name}" for name, n in loaded["planning_reasons"].items())
        shift = loaded["shift_cells"]
        lines.append(
            f"- {BACKEND_LABELS[leg['backend']]}: {loaded['accounts']:,} accounts, each with a "
            f"primary site, and {loaded['secondary_sites']:,} second sites; primary sites' "
            "points: "
            + ", ".join(f"{n:,} {what}" for what, n in loaded["point_mix"].items())
            + f". {loaded['territories']:,} territories per map (positions per territory: min "
            f"{vertices['min']}, median {vertices['median']:g}, max {vertices['max']}); the "
            f"planning map is the active one moved {shift[0]:g} of a cell east and {shift[1]:g} "
            f"north. Accounts in the planning map: {reasons}. Seed {leg['seed']}; Python "
            f"{leg['python']}, numpy {leg['numpy']}, shapely {leg['shapely']}."
        )
    return [*lines, ""]


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--scale",
        choices=sorted(ACCOUNTS),
        default="large",
        help="accounts: " + ", ".join(f"{k}: {v:,}" for k, v in ACCOUNTS.items()),
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed preview jobs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="one more, untimed round under cProfile"
    )
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    # Internal: what the loading child process runs.
    parser.add_argument("--load-accounts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_accounts is not None:
        print(json.dumps(load_data(args.load_accounts, args.seed)))
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            scale=args.scale,
            rounds=args.rounds,
            seed=args.seed,
            profile=args.profile,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
