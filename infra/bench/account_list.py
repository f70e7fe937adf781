"""Benchmark (issue 2): list 50 accounts with their sites and tags through the API.

    .venv/bin/python -m infra.bench.account_list --backend sqlite
    infra/testservices/with-services.sh .venv/bin/python -m infra.bench.account_list \\
        --backend postgres

With the test settings (``FIELDLINE_ENV=test``) and a throwaway ``FIELDLINE_DATA_DIR``, a fresh
database is migrated and loaded with ``seed_demo --scale large --seed 1`` (50,000 accounts; both
in child processes), then this process sends ``GET /api/v1/accounts/?page_size=50`` through
DRF's ``APIClient`` (middleware, authentication, view, pagination and JSON rendering; no socket)
with a device token from ``POST /api/v1/auth/login/``. It does so as ``rep1`` (sees only their
own accounts) and as ``salesmanager`` (back office, sees all 50,000), on page 1 and on deeper
pages reached by following ``next`` cursors.

Connection modes are measured one after the other: first what the settings configure
(SQLite: ``CONN_MAX_AGE=0``, a new connection per request; PostgreSQL: Django's native psycopg
pool), then, for comparison in the same run, ``per-request`` (``CONN_MAX_AGE=0``, no pool) and
``persistent`` (``CONN_MAX_AGE=None``, no pool: one connection for the whole run). Django's test
client disconnects ``close_old_connections`` from request_finished, so the benchmark calls it
after every request (outside the timing), as a server does.

In the persistent mode, floors and stages are interleaved with the API requests, so that machine
noise hits them alike and the ratios between them hold: ``GET /api/v1/me/`` (the fixed cost of
any authenticated request), the selector and presenter without HTTP (``account_list(...)[:50]``
rows, ``account_list_related``, ``payloads.accounts``), a plain ``.values()`` fetch of 50
accounts, the list's stages on their own (the queries, their raw SQL, the presenter, JSON
rendering), and, for reference, the list as built before commit 5b23b2c (models, prefetch and
DRF's ``AccountOutput``).

Wall time comes from ``time.perf_counter_ns``; queries are counted on a separate pass with
``CaptureQueriesContext``, so counting never perturbs the timings. Every response is checked:
HTTP 200, 50 results, each with ``sites`` and ``tags``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = "account_list"
TARGET_P50_MS = 15.0
TARGET_QUERIES = 10  # "under 10 queries": at most 9
PAGE_SIZE = 50
ORDERING = ("-created_at", "-id")  # the cursor pagination's (server.api.StableCursorPagination)
LIST_URL = f"/api/v1/accounts/?page_size={PAGE_SIZE}"
ME_URL = "/api/v1/me/"
USERS = ("rep1", "salesmanager")
DEPTHS = (1, 10, 100)  # pages; a depth a user does not have is skipped (and said so)
COUNT_PASSES = 5
STINTS = 6  # the modes take turns this many times, each timing requests / STINTS rounds
STINT_WARMUP = 3  # untimed rounds after each switch of mode (after the first)
ORDER_SEED = 2  # the shuffled order of the probes in each round is the same from run to run
# The services leg's variables; the SQLite leg drops them so it is the embedded default.
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_REGION", "S3_ENDPOINT_URL")
VALUES_FIELDS = (
    "id",
    "name",
    "kind",
    "tier_id",
    "lifecycle_stage",
    "owner_id",
    "phone",
    "email",
    "created_at",
    "updated_at",
)
KIND_LABELS = {
    "api": "API list page",
    "me": "`GET /api/v1/me/`: any authenticated request (middleware, token, device, roles)",
    "selector": "floor: selector + presenter, no HTTP (the view's work without auth/render)",
    "values": "floor: plain `.values()` fetch of 50 accounts (1 query)",
    "queries": "stage: `account_list()[:50]` rows + `account_list_related()` (3 queries)",
    "present": "stage: `payloads.accounts()` on loaded rows",
    "render": "stage: `JSONRenderer().render()` of the page",
    "sql": "stage: the 3 SQL statements of the queries stage alone, through a cursor",
    "drf": "reference: models + prefetch + DRF `AccountOutput` (the list before 5b23b2c)",
}
REQUEST_KINDS = frozenset({"api", "me"})
# Floors and stages only mean something on an open connection: they are measured in the
# persistent mode only, and the per-request mode's ratios use them too (same process).
FLOOR_MODE = "persistent"
SQL_SHOWN = 600  # characters of each captured statement kept in the report


class BenchError(Exception):
    """The benchmark could not run, or a response was wrong; the message says which."""


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- set-up


def prepare_environment(backend: str, data_dir: Path) -> None:
    """Point the settings at a throwaway data directory before Django reads them."""
    from django.conf import settings

    if settings.configured:
        raise BenchError("Django is already configured in this process; run it in a fresh one")
    os.environ["FIELDLINE_ENV"] = "test"
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.settings"
    os.environ["FIELDLINE_DATA_DIR"] = str(data_dir)
    if backend == "sqlite":
        for name in SERVICE_VARIABLES:
            os.environ.pop(name, None)
    elif not os.environ.get("DATABASE_URL"):
        raise BenchError(
            "--backend postgres needs DATABASE_URL: run it through "
            "infra/testservices/with-services.sh, or use `python -m infra.bench.run_all`"
        )


def database_description() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} (infra/testservices: loopback TCP, fsync off)"
    return f"SQLite {sqlite3.sqlite_version} (WAL, file in a temp dir)"


def manage(*args: str) -> float:
    """Run ``manage.py ARGS`` in a child process (with this process's environment); return
    its wall time. The child does the loading, so the measuring process starts as clean as a
    server process would, without the seeder's half a million objects on its heap."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BenchError(f"manage.py {' '.join(args)} failed:\n" + "\n".join(tail))
    return time.perf_counter() - started


def build_database(scale: str, seed: int) -> dict[str, Any]:
    """Migrate and seed (in child processes), then set Django up here."""
    migrate_s = manage("migrate", "--no-input", "--verbosity", "0")
    log(f"migrated in {migrate_s:.1f}s; seeding --scale {scale} --seed {seed}")
    seed_s = manage("seed_demo", "--scale", scale, "--seed", str(seed))
    log(f"seeded in {seed_s:.1f}s")

    import django

    django.setup()
    from django.db import connection

    from crm.models import Account, AccountTag, Site

    analyze_s = None
    if connection.vendor == "postgresql":
        # A database in service has statistics and a visibility map; a freshly loaded one has
        # neither, and autovacuum would catch up during the measurement (on two CPUs).
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - started
    return {
        "database": database_description(),
        "migrate_s": migrate_s,
        "seed_s": seed_s,
        "analyze_s": analyze_s,
        "accounts": Account.objects.count(),
        "sites": Site.objects.count(),
        "account_tags": AccountTag.objects.count(),
    }


# ------------------------------------------------------------------------------ requests


def login(username: str) -> Any:
    """An ``APIClient`` carrying a device access token for ``username``."""
    from rest_framework.test import APIClient

    from server.management.commands.seed_demo import DEMO_PASSWORD

    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/",
        {
            "username": username,
            "password": DEMO_PASSWORD,
            "device_id": f"bench-{username}",
            "platform": "android",
            "app_version": "1.0.0",
        },
        format="json",
    )
    if response.status_code != 200:
        raise BenchError(
            f"login as {username}: HTTP {response.status_code} {response.content[:300]!r}"
        )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def check_status(response: Any, what: str) -> None:
    if response.status_code != 200:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.content[:300]!r}")


def check_page(response: Any, what: str, expected: int = PAGE_SIZE) -> dict[str, Any]:
    check_status(response, what)
    body: dict[str, Any] = json.loads(response.content)
    results = body.get("results")
    if not isinstance(results, list) or len(results) != expected:
        count = len(results) if isinstance(results, list) else results
        raise BenchError(f"{what}: expected {expected} results, got {count}")
    incomplete = [r.get("id") for r in results if "sites" not in r or "tags" not in r]
    if incomplete:
        raise BenchError(f"{what}: results without sites/tags: {incomplete[:5]}")
    if not any(r["sites"] for r in results):
        raise BenchError(f"{what}: no account on the page has a site")
    return body


def page_urls(client: Any, username: str) -> dict[int, str]:
    """URLs of the pages in DEPTHS that ``username`` has, found by following ``next``."""
    from django.db import close_old_connections

    urls, url, page = {1: LIST_URL}, LIST_URL, 1
    while page < max(DEPTHS):
        response = client.get(url)
        close_old_connections()
        check_status(response, f"{username} page {page}")
        following = json.loads(response.content).get("next")
        if not following:
            break
        parts = urlsplit(following)
        url, page = f"{parts.path}?{parts.query}", page + 1
        if page in DEPTHS:
            urls[page] = url
    return urls


# -------------------------------------------------------------------------------- probes


@dataclass
class Probe:
    """One thing that is timed: an API request, or a floor measured without HTTP."""

    key: str
    kind: str  # one of KIND_LABELS
    user: str
    page: int
    visible: int
    call: Callable[[], Any]
    verify: Callable[[Any], object]

    @property
    def is_request(self) -> bool:
        return self.kind in REQUEST_KINDS


def api_probe(client: Any, username: str, visible: int, page: int, url: str) -> Probe:
    what = f"{username} page {page}"
    expected = min(PAGE_SIZE, visible - (page - 1) * PAGE_SIZE)
    return Probe(
        key=f"api/{username}/p{page}",
        kind="api",
        user=username,
        page=page,
        visible=visible,
        call=lambda: client.get(url),
        verify=lambda response: check_page(response, what, expected),
    )


def build_probes(username: str) -> tuple[list[Probe], list[str]]:
    """The probes for one user: the API pages, ``/me/``, and the floors and stages of page 1.

    The stages call what ``AccountListCreateApi.get`` calls, in the same order: the
    ``account_list`` rows, ``account_list_related`` (sites and tags), ``payloads.accounts``,
    then JSON rendering."""
    from django.db import connection
    from django.db.models import Prefetch
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext
    from rest_framework.renderers import JSONRenderer

    from crm import payloads
    from crm.models import Site
    from crm.permissions import can_view_sensitive, visible_accounts
    from crm.selectors import account_list, account_list_related
    from crm.serializers import AccountOutput
    from server.models import User

    user = User.objects.get(username=username)
    visible = visible_accounts(user).count()
    expected = min(PAGE_SIZE, visible)
    client = login(username)
    urls = page_urls(client, username)
    skipped = [
        f"{username} sees {visible:,} accounts, so has no page {depth}"
        for depth in DEPTHS
        if depth not in urls
    ]
    filters = QueryDict(f"page_size={PAGE_SIZE}")
    sensitive = can_view_sensitive(user)

    def query_page() -> tuple[list[dict[str, Any]], Any]:
        queryset = account_list(actor=user, filters=filters).order_by(*ORDERING)
        rows = list(queryset[:PAGE_SIZE])
        return rows, account_list_related([row["id"] for row in rows])

    def present(loaded: tuple[list[dict[str, Any]], Any]) -> list[dict[str, Any]]:
        rows, (sites, tags) = loaded
        return payloads.accounts(rows, sites=sites, tags=tags, can_view_sensitive=sensitive)

    def values_page() -> list[dict[str, Any]]:
        queryset = visible_accounts(user).order_by(*ORDERING)
        return list(queryset.values(*VALUES_FIELDS)[:PAGE_SIZE])

    def drf_reference() -> Any:
        """The list as it was built before commit 5b23b2c: models with prefetched sites and
        tags, through DRF's ``AccountOutput``."""
        queryset = (
            visible_accounts(user)
            .select_related("tier")
            .prefetch_related(
                Prefetch("sites", queryset=Site.objects.filter(archived_at__isnull=True)), "tags"
            )
            .order_by(*ORDERING)
        )
        context = {"can_view_sensitive": sensitive}
        return AccountOutput(queryset[:PAGE_SIZE], many=True, context=context).data

    loaded = query_page()  # the page the presenter and renderer stages work on
    with CaptureQueriesContext(connection) as captured:
        query_page()
    statements = [query["sql"] for query in captured.captured_queries]
    # The page of accounts, among the scope lookups (territory memberships) and related rows.
    page_statement = next(i for i, sql in enumerate(statements) if 'FROM "crm_account"' in sql)
    body = {"next": None, "previous": None, "results": present(loaded)}

    def raw_sql() -> list[int]:
        with connection.cursor() as cursor:
            counts = []
            for statement in statements:
                cursor.execute(statement)
                counts.append(len(cursor.fetchall()))
        return counts

    def check_rows(rows: Any, what: str) -> None:
        if len(rows) != expected:
            raise BenchError(f"{what}: expected {expected} rows, got {len(rows)}")

    def floor(kind: str, call: Callable[[], Any], verify: Callable[[Any], object]) -> Probe:
        return Probe(f"{kind}/{username}", kind, username, 1, visible, call, verify)

    probes = [api_probe(client, username, visible, page, url) for page, url in sorted(urls.items())]
    probes += [
        Probe(
            key=f"me/{username}",
            kind="me",
            user=username,
            page=0,
            visible=visible,
            call=lambda: client.get(ME_URL),
            verify=lambda response: check_status(response, f"{username} /me/"),
        ),
        floor(
            "selector",
            lambda: present(query_page()),
            lambda rows: check_rows(rows, f"{username} selector floor"),
        ),
        floor("values", values_page, lambda rows: check_rows(rows, f"{username} values floor")),
        floor(
            "queries",
            query_page,
            lambda result: check_rows(result[0], f"{username} queries stage"),
        ),
        floor(
            "present",
            lambda: present(loaded),
            lambda rows: check_rows(rows, f"{username} presenter stage"),
        ),
        floor(
            "render",
            lambda: JSONRenderer().render(body),
            lambda content: check_rows(json.loads(content)["results"], f"{username} render"),
        ),
        floor(
            "sql",
            raw_sql,
            lambda counts: check_rows(range(counts[page_statement]), f"{username} raw SQL"),
        ),
        floor(
            "drf",
            drf_reference,
            lambda rows: check_rows(rows, f"{username} DRF reference"),
        ),
    ]
    return probes, skipped


# ------------------------------------------------------------------------ connection modes


@dataclass(frozen=True)
class Mode:
    """How the database connection is handled across requests."""

    name: str  # "pooled" | "per-request" | "persistent" | "CONN_MAX_AGE=N"
    conn_max_age: int | None
    pool: Any  # the value of OPTIONS["pool"], or None for no pool
    configured: bool  # what the settings configure


def connection_modes(settings_dict: dict[str, Any]) -> list[Mode]:
    """What the settings configure first, then, for comparison in the same run, a new
    connection per request without a pool and a single persistent connection (FLOOR_MODE)."""
    max_age = settings_dict.get("CONN_MAX_AGE", 0)
    pool = settings_dict.get("OPTIONS", {}).get("pool") or None
    if pool:
        configured = Mode("pooled", max_age, pool, True)
    elif max_age == 0:
        configured = Mode("per-request", 0, None, True)
    elif max_age is None:
        configured = Mode(FLOOR_MODE, None, None, True)
    else:
        configured = Mode(f"CONN_MAX_AGE={max_age}", max_age, None, True)
    extras = [Mode("per-request", 0, None, False), Mode(FLOOR_MODE, None, None, False)]
    return [configured, *(mode for mode in extras if mode.name != configured.name)]


def apply_mode(mode: Mode) -> None:
    from django.db import connection

    connection.close()
    close_pool = getattr(connection, "close_pool", None)  # PostgreSQL only
    if close_pool is not None:
        close_pool()
    connection.settings_dict["CONN_MAX_AGE"] = mode.conn_max_age
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if mode.pool:
        options["pool"] = mode.pool
    else:
        options.pop("pool", None)


def pool_connections() -> int | None:
    """Connections the current psycopg pool has opened so far (None without a pool)."""
    from django.db import connection

    pool = getattr(connection, "pool", None)
    return None if pool is None else int(pool.get_stats().get("connections_num", 0))


# --------------------------------------------------------------------------- measurement


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    ms = sorted(value / 1e6 for value in samples_ns)
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": ms[0],
        "max_ms": ms[-1],
    }


class ConnectionCounter:
    """Counts new database connections (the ``connection_created`` signal)."""

    def __init__(self) -> None:
        self.opened = 0

    def __call__(self, **kwargs: Any) -> None:
        self.opened += 1


class FullCollections:
    """Pauses of Python's full (generation 2) garbage collections, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses_ns: list[int] = []
        self.started = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self.started = time.perf_counter_ns()
        else:
            self.pauses_ns.append(time.perf_counter_ns() - self.started)


def run_once(probe: Probe, counter: ConnectionCounter) -> tuple[int, int, Any]:
    """Time one call of ``probe``: (nanoseconds, connections it opened, its result)."""
    from django.db import close_old_connections, connection

    if not probe.is_request:
        # Floors run on an open, checked connection: they measure the work, not the connect.
        connection.ensure_connection()
        connection.close_if_health_check_failed()
    opened = counter.opened
    start = time.perf_counter_ns()
    result = probe.call()
    elapsed = time.perf_counter_ns() - start
    opened = counter.opened - opened
    # A server sends request_finished after the response, which runs close_old_connections;
    # Django's test client disconnects that handler, so do it here (outside the timing). After
    # a floor too, so that with CONN_MAX_AGE=0 no request inherits the floor's connection.
    close_old_connections()
    if probe.is_request:
        check_status(result, probe.key)
    return elapsed, opened, result


def count_queries(probe: Probe, counter: ConnectionCounter) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts: list[int] = []
    sql: list[str] = []
    for _ in range(COUNT_PASSES):
        with CaptureQueriesContext(connection) as captured:
            _, _, result = run_once(probe, counter)
        probe.verify(result)
        counts.append(len(captured.captured_queries))
        sql = [query["sql"] for query in captured.captured_queries]
    return {"queries_min": min(counts), "queries_max": max(counts), "sql": sql}


@dataclass
class ModeRun:
    """What one connection mode accumulates over its stints."""

    mode: Mode
    probes: list[Probe]
    samples: dict[str, list[int]]
    opened: dict[str, int]
    sessions: int = 0  # database sessions opened during the timed requests
    timed_ns: int = 0


def run_stint(run: ModeRun, rounds: int, warmup: int, counter: ConnectionCounter) -> None:
    """Switch to ``run.mode``, warm up, then time ``rounds`` rounds of its probes."""
    apply_mode(run.mode)
    for _ in range(warmup):
        for probe in run.probes:
            run_once(probe, counter)
    # Round-robin, so that noise (other tenants, CPU frequency) hits every probe alike, in a
    # shuffled order each round, so that a periodic pause does not keep hitting the same probe.
    order, shuffle = list(run.probes), random.Random(ORDER_SEED).shuffle
    requests_opened = 0
    pool_before = pool_connections()
    started = time.perf_counter_ns()
    for _ in range(rounds):
        shuffle(order)
        for probe in order:
            elapsed, new_connections, _ = run_once(probe, counter)
            run.samples[probe.key].append(elapsed)
            run.opened[probe.key] += new_connections
            requests_opened += new_connections if probe.is_request else 0
    run.timed_ns += time.perf_counter_ns() - started
    pool_after = pool_connections()
    if pool_before is None or pool_after is None:
        run.sessions += requests_opened  # without a pool, each connect is a new session
    else:
        run.sessions += pool_after - pool_before


def measure_modes(
    modes: list[Mode], probes: list[Probe], requests: int, warmup: int
) -> list[dict[str, Any]]:
    """Measure every mode, in STINTS alternating stints, so that slow drifts of the machine
    (and of the database: autovacuum, caches) hit the modes alike."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    runs = []
    for mode in modes:
        mode_probes = [p for p in probes if mode.name == FLOOR_MODE or p.is_request]
        keys = [p.key for p in mode_probes]
        runs.append(ModeRun(mode, mode_probes, {k: [] for k in keys}, dict.fromkeys(keys, 0)))
    counter = ConnectionCounter()
    connection_created.connect(counter, weak=False)
    collections: dict[str, FullCollections] = {mode.name: FullCollections() for mode in modes}
    try:
        for run in runs:  # a full check of every response before anything is timed
            apply_mode(run.mode)
            for probe in run.probes:
                probe.verify(run_once(probe, counter)[2])
        stints = [len(part) for part in _split(requests, STINTS)]
        for number, rounds in enumerate(stints):
            for run in runs:
                gc.callbacks.append(collections[run.mode.name])
                try:
                    run_stint(run, rounds, warmup if number == 0 else STINT_WARMUP, counter)
                finally:
                    gc.callbacks.remove(collections[run.mode.name])
            log(f"stint {number + 1}/{len(stints)} done")
        results = []
        for run in runs:
            apply_mode(run.mode)
            rows = [
                {
                    "key": probe.key,
                    "kind": probe.kind,
                    "user": probe.user,
                    "page": probe.page,
                    "visible": probe.visible,
                    **summarize(run.samples[probe.key]),
                    "connections_per_call": run.opened[probe.key] / requests,
                    **count_queries(probe, counter),
                }
                for probe in run.probes
            ]
            pauses = sorted(collections[run.mode.name].pauses_ns)
            requests_timed = requests * sum(p.is_request for p in run.probes)
            results.append(
                {
                    "mode": run.mode.name,
                    "configured": run.mode.configured,
                    "conn_max_age": run.mode.conn_max_age,
                    "pool": run.mode.pool,
                    "sessions_per_request": run.sessions / requests_timed,
                    "timed_s": run.timed_ns / 1e9,
                    "calls": requests * len(run.probes),
                    "full_gc": {
                        "count": len(pauses),
                        "p50_ms": percentile([p / 1e6 for p in pauses], 50) if pauses else 0.0,
                        "total_ms": sum(pauses) / 1e6,
                    },
                    "rows": rows,
                }
            )
            log(f"{run.mode.name}: {requests} rounds of {len(run.probes)} probes")
    finally:
        connection_created.disconnect(counter)
        connection.close()
    return results


def _split(total: int, parts: int) -> list[range]:
    """``range(total)`` cut into at most ``parts`` nearly equal, non-empty pieces."""
    parts = max(1, min(parts, total))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(parts)]


def run(*, backend: str, requests: int, warmup: int, scale: str, seed: int = 1) -> dict[str, Any]:
    """Set up a fresh database on ``backend``, measure, and return the structured results."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fieldline-bench-") as data_dir:
        prepare_environment(backend, Path(data_dir))
        try:
            setup = build_database(scale, seed)
            from django.db import connection

            configured = {
                "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE", 0),
                "conn_health_checks": connection.settings_dict.get("CONN_HEALTH_CHECKS", False),
                "pool": connection.settings_dict.get("OPTIONS", {}).get("pool"),
            }
            modes_to_run = connection_modes(connection.settings_dict)
            probes: list[Probe] = []
            skipped: list[str] = []
            for username in USERS:
                user_probes, user_skipped = build_probes(username)
                probes += user_probes
                skipped += user_skipped
            modes = measure_modes(modes_to_run, probes, requests, warmup)
        finally:
            from django.apps import apps

            if apps.ready:
                from django.db import connections

                connections.close_all()
    return {
        "benchmark": BENCHMARK,
        "backend": backend,
        "scale": scale,
        "seed": seed,
        "requests": requests,
        "warmup": warmup,
        "configured_connection": configured,
        "setup": setup,
        "skipped": skipped,
        "modes": modes,
        "elapsed_s": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------- report


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _ratio(numerator: float, denominator: float | None) -> str:
    return f"{numerator / denominator:.1f}×" if denominator else "–"


def _queries(row: dict[str, Any]) -> str:
    low, high = row["queries_min"], row["queries_max"]
    return str(low) if low == high else f"{low}–{high}"


def _page(row: dict[str, Any]) -> str:
    return str(row["page"])


def _meets(row: dict[str, Any]) -> bool:
    return row["p50_ms"] < TARGET_P50_MS and row["queries_max"] < TARGET_QUERIES


def _verdict(row: dict[str, Any]) -> str:
    misses = []
    if row["p50_ms"] >= TARGET_P50_MS:
        misses.append("p50")
    if row["queries_max"] >= TARGET_QUERIES:
        misses.append("queries")
    return "met" if not misses else "**missed** (" + ", ".join(misses) + ")"


def _floors(leg: dict[str, Any], user: str) -> dict[str, dict[str, Any]]:
    """The floor and stage rows of ``user`` (measured in FLOOR_MODE), by kind."""
    mode = next(m for m in leg["modes"] if m["mode"] == FLOOR_MODE)
    return {r["kind"]: r for r in mode["rows"] if r["user"] == user and r["kind"] != "api"}


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more backends (a leg that failed carries ``error``)."""
    ok = [leg for leg in legs if "error" not in leg]
    lines: list[str] = [
        "What is measured: `GET /api/v1/accounts/?page_size=50` (50 accounts with their sites "
        "and tags) sent in-process through DRF's `APIClient` with a device token, as `rep1` (a "
        "rep: only their accounts) and `salesmanager` (back office: all of them), on page 1 and "
        "on deeper pages reached through `next` cursors. "
        f"Target: p50 under {TARGET_P50_MS:g} ms and under {TARGET_QUERIES} queries per request.",
        "",
    ]
    lines += [
        f"**{BACKEND_LABELS[leg['backend']]}: failed**: {leg['error']}\n" for leg in legs
        if "error" in leg
    ]  # fmt: skip
    api_rows = [
        (leg, mode, row)
        for leg in ok
        for mode in leg["modes"]
        for row in mode["rows"]
        if row["kind"] == "api"
    ]
    if not api_rows:
        return "\n".join(lines).rstrip() + "\n"
    configured = [case for case in api_rows if case[1].get("configured")]
    others: dict[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]] = {}
    for case in api_rows:
        if not case[1].get("configured"):
            others.setdefault(case[1]["mode"], []).append(case)
    as_configured = ", ".join(
        f"{BACKEND_LABELS[leg['backend']]} {_configured_mode(leg)}" for leg in ok
    )
    lines += [f"**Target, as configured** ({as_configured}): {_verdict_cases(configured)}.", ""]
    if others:
        lines += [
            "Other connection modes, same run: "
            + "; ".join(f"**{name}**: {_verdict_cases(cases)}" for name, cases in others.items())
            + ".",
            "",
        ]
    lines += _setup_table(ok)
    first = ok[0]
    lines += [
        "### API",
        "",
        f"Milliseconds of wall time per request: {first['requests']} timed requests per row "
        f"after {first['warmup']} warm-up requests, every row interleaved round-robin with the "
        "other rows (and floors) of its backend and connection mode; the modes take turns in "
        f"{STINTS} stints. Queries are counted on a "
        f"separate pass ({COUNT_PASSES} requests). The last two columns divide the API's p50 by "
        "the p50 of a floor measured in the same process (same user, page 1, persistent "
        "connection; see the floors below).",
        "",
        "| Backend | Connections | User (sees) | Page | p50 | p95 | p99 | mean | Queries "
        "| ÷ selector floor | ÷ `.values()` floor | Target |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for leg, mode, row in api_rows:
        floors = _floors(leg, row["user"])
        label = f"{mode['mode']} (configured)" if mode.get("configured") else mode["mode"]
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {label} | {row['user']} "
            f"({row['visible']:,}) | {_page(row)} | **{_ms(row['p50_ms'])}** | "
            f"{_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} | {_ms(row['mean_ms'])} | "
            f"{_queries(row)} | {_ratio(row['p50_ms'], floors['selector']['p50_ms'])} | "
            f"{_ratio(row['p50_ms'], floors['values']['p50_ms'])} | {_verdict(row)} |"
        )
    lines += ["", *_connections_text(ok), ""]
    lines += [
        "The tail (p95, p99) is mostly Python's full garbage collection, which stops the "
        "process every few dozen requests and lands on whichever request is running (the "
        "order of the rows is shuffled each round so that it spreads): "
        + "; ".join(
            f"{BACKEND_LABELS[leg['backend']]} {mode['mode']}: {_collections(mode)}"
            for leg in ok
            for mode in leg["modes"]
            if "full_gc" in mode
        )
        + ".",
        "",
    ]
    lines += _breakdown_table(ok)
    lines += _floor_table(ok)
    lines += _ratio_tables(ok)
    lines += _skipped(ok)
    lines += _sql(ok)
    return "\n".join(lines).rstrip() + "\n"


def _setup_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Set-up",
        "",
        "`migrate` and `seed_demo` run in child processes (wall time, including Django's "
        "start-up), so the measuring process does not carry the seeder's objects.",
        "",
        "| Backend | Database | Data | `migrate` | `seed_demo` | `VACUUM ANALYZE` |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for leg in legs:
        setup = leg["setup"]
        analyze = "–" if setup["analyze_s"] is None else f"{setup['analyze_s']:.1f} s"
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {setup['database']} | "
            f"`--scale {leg['scale']} --seed {leg['seed']}`: {setup['accounts']:,} accounts, "
            f"{setup['sites']:,} sites, {setup['account_tags']:,} tag links | "
            f"{setup['migrate_s']:.1f} s | {setup['seed_s']:.1f} s | {analyze} |"
        )
    return [*lines, ""]


def _collections(mode: dict[str, Any]) -> str:
    count, calls = mode["full_gc"]["count"], f"{mode['calls']:,} timed calls"
    if not count:
        return f"no full collection in {calls}"
    plural = "collection" if count == 1 else "collections"
    return f"{count} full {plural} in {calls}, {_ms(mode['full_gc']['p50_ms'])} ms each (p50)"


def _configured_mode(leg: dict[str, Any]) -> str:
    return next((m["mode"] for m in leg["modes"] if m.get("configured")), "?")


def _verdict_cases(cases: Sequence[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> str:
    missed = [(leg, mode, row) for leg, mode, row in cases if not _meets(row)]
    if not missed:
        return f"met in all {len(cases)} cases"
    return f"**missed in {len(missed)} of {len(cases)} cases**: " + ", ".join(
        f"{BACKEND_LABELS[leg['backend']]} {mode['mode']} {row['user']} page "
        f"{row['page']} ({_ms(row['p50_ms'])} ms, {_queries(row)} queries)"
        for leg, mode, row in missed
    )


MODE_TEXT = {
    "pooled": "**pooled**: Django's native psycopg pool (`OPTIONS['pool']`, `CONN_MAX_AGE=0`); "
    "each request borrows a connection from the process's pool and gives it back",
    "per-request": "**per-request**: `CONN_MAX_AGE=0` without a pool; each request opens and "
    "closes its own database connection",
    FLOOR_MODE: f"**{FLOOR_MODE}**: `CONN_MAX_AGE=None` without a pool; one connection for the "
    "whole run. Not something to run under ASGI (Django's connections are per thread, and "
    "a sync request may run on another thread each time), but the floor of connection handling",
}


def _mode_names(legs: Sequence[dict[str, Any]]) -> list[str]:
    """Every mode measured in ``legs``, in MODE_TEXT's order, then any other."""
    names = {mode["mode"] for leg in legs for mode in leg["modes"]}
    return [n for n in MODE_TEXT if n in names] + sorted(names - set(MODE_TEXT))


def _connections_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    names = _mode_names(legs)
    lines = [f"Connection modes, taking turns in {STINTS} stints in each leg:", ""]
    lines += [f"- {MODE_TEXT.get(name, f'**{name}**')}." for name in names]
    sessions = "; ".join(
        f"{BACKEND_LABELS[leg['backend']]} "
        + ", ".join(
            f"{mode['mode']} {mode['sessions_per_request']:.2f}"
            for mode in leg["modes"]
            if "sessions_per_request" in mode
        )
        for leg in legs
    )
    checks = ", ".join(
        f"{BACKEND_LABELS[leg['backend']]} "
        f"{'on' if leg['configured_connection']['conn_health_checks'] else 'off'}"
        for leg in legs
        if "configured_connection" in leg
    )
    lines += [
        "",
        "*(configured)* marks what the leg's settings (`FIELDLINE_ENV=test`) configure. "
        "Django's test client skips `close_old_connections` at the end of a request, so the "
        "benchmark calls it after each one, as a server does (outside the timing). Database "
        f"sessions opened per request: {sessions}. `CONN_HEALTH_CHECKS` as configured: "
        f"{checks}.",
    ]
    return lines


def _share(part: float, whole: float) -> str:
    return f"{_ms(part)} ({part / whole:.0%})" if whole else _ms(part)


def _breakdown_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Where the time goes (page 1, persistent connection)",
        "",
        "p50 of each stage, measured on its own in the same run, in ms and as a share of the "
        "API's p50. `/me/` stands for what any authenticated request costs (middleware, token "
        "check, device and roles queries, test client). The rest is the list view's own glue "
        "(filterset, cursor pagination, links) plus the error of adding up medians. The last "
        "column compares the list as it was built before commit 5b23b2c (models, prefetch, "
        "DRF serializers) with the selector + presenter floor, same run.",
        "",
        "| Backend | User | API p50 | `/me/` | queries | of which SQL | presenter | JSON render "
        "| rest | DRF reference ÷ floor |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        mode = next(m for m in leg["modes"] if m["mode"] == FLOOR_MODE)
        for row in mode["rows"]:
            if row["kind"] != "api" or row["page"] != 1:
                continue
            f = _floors(leg, row["user"])
            api = row["p50_ms"]
            stages = [f[kind]["p50_ms"] for kind in ("me", "queries", "present", "render")]
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {row['user']} | {_ms(api)} | "
                f"{_share(stages[0], api)} | {_share(stages[1], api)} | "
                f"{_share(f['sql']['p50_ms'], api)} | {_share(stages[2], api)} | "
                f"{_share(stages[3], api)} | {_share(api - sum(stages), api)} | "
                f"{_ratio(f['drf']['p50_ms'], f['selector']['p50_ms'])} |"
            )
    return [*lines, ""]


def _floor_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Floors and stages (same run)",
        "",
        "| Backend | Connections | User | What | p50 | p95 | mean | Queries |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for mode in leg["modes"]:
            for row in mode["rows"]:
                if row["kind"] == "api":
                    continue
                lines.append(
                    f"| {BACKEND_LABELS[leg['backend']]} | {mode['mode']} | {row['user']} | "
                    f"{KIND_LABELS[row['kind']]} | {_ms(row['p50_ms'])} | "
                    f"{_ms(row['p95_ms'])} | {_ms(row['mean_ms'])} | {_queries(row)} |"
                )
    lines += [
        "",
        "Floors and stages run without HTTP on an open connection (persistent mode only), for "
        "page 1, and reuse one loaded `User` (its roles are cached on the instance), so they "
        "are the data work alone.",
        "",
    ]
    return lines


def _p50(leg: dict[str, Any], mode_name: str, key: str) -> float | None:
    for mode in leg["modes"]:
        if mode["mode"] == mode_name:
            for row in mode["rows"]:
                if row["key"] == key:
                    return float(row["p50_ms"])
    return None


def _ratio_tables(legs: Sequence[dict[str, Any]]) -> list[str]:
    others = [name for name in _mode_names(legs) if name != FLOOR_MODE]
    lines = [
        "### Ratios",
        "",
        "Within one backend (same process; rows interleaved, modes taking turns): what each way of "
        f"handling connections costs next to the {FLOOR_MODE} one, and how much of a request "
        "the list itself is.",
        "",
        "| Backend | User | Page | "
        + " | ".join(f"{name} ÷ {FLOOR_MODE}" for name in others)
        + f" | {FLOOR_MODE}: API ÷ `/me/` |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in others) + " | ---: |",
    ]
    for leg in legs:
        floor_mode = next(m for m in leg["modes"] if m["mode"] == FLOOR_MODE)
        for row in floor_mode["rows"]:
            if row["kind"] != "api":
                continue
            cells = [_ratio_or_dash(_p50(leg, name, row["key"]), row["p50_ms"]) for name in others]
            me = _p50(leg, FLOOR_MODE, f"me/{row['user']}")
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {row['user']} | {_page(row)} | "
                + " | ".join(cells)
                + f" | {_ratio(row['p50_ms'], me)} |"
            )
    lines.append("")
    by_backend = {leg["backend"]: leg for leg in legs}
    if {"sqlite", "postgres"} <= set(by_backend):
        sqlite_leg, pg_leg = by_backend["sqlite"], by_backend["postgres"]
        common = [
            m["mode"]
            for m in pg_leg["modes"]
            if any(n["mode"] == m["mode"] for n in sqlite_leg["modes"])
        ]
        lines += [
            "Across backends (PostgreSQL ÷ SQLite, p50, same connection mode). Weaker than the "
            "ratios above: the two legs run one after the other in separate processes of the "
            "same `make bench`.",
            "",
            "| User | Page | " + " | ".join(common) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in common) + " |",
        ]
        floor_mode = next(m for m in pg_leg["modes"] if m["mode"] == FLOOR_MODE)
        for row in floor_mode["rows"]:
            if row["kind"] != "api":
                continue
            cells = [
                _ratio_or_dash(_p50(pg_leg, name, row["key"]), _p50(sqlite_leg, name, row["key"]))
                for name in common
            ]
            lines.append(f"| {row['user']} | {_page(row)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _ratio_or_dash(numerator: float | None, denominator: float | None) -> str:
    return "–" if numerator is None else _ratio(numerator, denominator)


def _skipped(legs: Sequence[dict[str, Any]]) -> list[str]:
    notes = sorted({note for leg in legs for note in leg["skipped"]})
    return [f"Not measured: {'; '.join(notes)}.", ""] if notes else []


def _compact_sql(statement: str) -> str:
    """A statement without its column list and with long ``IN`` lists counted, not listed."""
    text = " ".join(statement.split())
    text = re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", text, count=1)
    text = re.sub(
        r"IN \(([^()]*,[^()]*,[^()]*,[^()]*)\)",  # four values or more
        lambda m: f"IN (…{m[1].count(',') + 1} values…)",
        text,
    )
    return text if len(text) <= SQL_SHOWN else text[:SQL_SHOWN] + " …"


def _sql(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for leg in legs:
        floor_mode = next(m for m in leg["modes"] if m["mode"] == FLOOR_MODE)
        for row in floor_mode["rows"]:
            if row["kind"] != "api" or row["page"] != 1:
                continue
            lines += [
                "<details><summary>"
                f"{BACKEND_LABELS[leg['backend']]}: the {len(row['sql'])} queries of "
                f"{row['user']}'s page 1</summary>",
                "",
                "```sql",
            ]
            lines += [
                f"-- {number}\n{_compact_sql(statement)}"
                for number, statement in enumerate(row["sql"], 1)
            ]
            lines += ["```", "", "</details>", ""]
    return lines


# --------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    from .common import report  # (common imports this module)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case first")
    parser.add_argument("--scale", choices=["large", "small"], default="large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            requests=args.requests,
            warmup=args.warmup,
            scale=args.scale,
            seed=args.seed,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
