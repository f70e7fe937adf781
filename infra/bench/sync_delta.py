"""Benchmark (issue 3): delta pulls and poke-to-applied with 200 devices connected.

    .venv/bin/python -m infra.bench.sync_delta --backend sqlite
    infra/testservices/with-services.sh .venv/bin/python -m infra.bench.sync_delta \\
        --backend postgres

With the test settings (``FIELDLINE_ENV=test``: login throttles at 1000/min) and a throwaway
``FIELDLINE_DATA_DIR``, a fresh database is migrated and loaded, in child processes, by the demo
seeder (``seed_demo.Seeder``) with 60 reps, 72 technicians, 4 dispatchers, the back office and
``--scale`` accounts (large: 5,000; small: 1,000) with their sites, contacts and assets. A daphne
process serves ``server.asgi:application`` on the leg's backend (PostgreSQL: the leg's Redis
channel layer). Through it, this process signs in 200 reading devices (one per back-office user,
two per rep, one per technician) and 61 writing devices (one per rep, one for ``salesmanager``),
gives every device an initial sync with the reference client (``sync.client.SyncClient``), and
connects the 200 reading devices to ``/ws/device/`` (``websockets``, bearer token). Then:

* **quiet**: one write at a time (``salesmanager`` pushes 1 to 100 changes to records of two
  reps), then each device whose scope holds a changed record pulls, one after the other, with
  nothing else running: the cost of a delta pull on its own, and the commit-to-poke delay.
* **live**: writes at a steady rate (``--rate``, default 4 a second, open loop): three in four
  are a rep's device pushing 1 to 100 changes to its own records (sizes log-uniform), one in
  four is ``salesmanager`` editing one account through ``PATCH /api/v1/accounts/ID/``. Devices
  pull when poked, as an app does (a poke during a pull makes one more pull after it).
* **fan-out**: ``salesmanager`` pushes 100 account changes touching every rep, so 128 devices
  are poked at once; the next one waits until every device has applied the last.

**Server time** is measured inside the daphne process by this module's ASGI wrapper (``--serve``
runs daphne's own command line on it): from the moment daphne hands the request to the
application to the moment the response body is handed back, reported in a ``Server-Timing``
header along with the time in DRF's ``dispatch`` (authentication and view), in
``sync.pull.pull``, in SQL statements and in opening database connections. No application code
is changed. Client-observed times on loopback are reported next to it.

**Poke to applied** runs from the commit of a write to the end of the reference client's
``pull()`` after which the device's local copy holds the value written (each write stores a
unique, increasing marker, checked on every device whose scope holds the record; a value a
device never receives counts as missed). The commit is when daphne published the write's first
poke (its on-commit callback), which the wrapper reports in the write's ``Server-Timing`` on the
machine's monotonic clock (``perf_counter``, the same in every process); the writer's answer
comes later. Each phase also records the CPU used by other processes on the machine, and the
report warns when other work disturbed a phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import itertools
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sync.client import PULL_PATH, HttpTransport, SyncClient, SyncError

from .account_list import BenchError, manage, percentile, prepare_environment
from .common import (
    Server,
    daphnes,
    machine_cpu,
    process_cpu_s,
    report,
    run_child,
    server_errors,
    service_cpu_s,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = "sync_delta"
TARGET_PULL_P99_MS = 50.0  # delta pull of 100 changes or fewer, server time
TARGET_APPLIED_P99_MS = 250.0  # poke to applied
MAX_DELTA = 100
ACCOUNTS = {"large": 5_000, "small": 1_000}
REPS = 60
TECHNICIANS = 72
DISPATCHERS = 4
BACK_OFFICE = (
    "admin",
    "salesmanager",
    "servicemanager",
    "finance",
    *(f"dispatcher{n}" for n in range(1, DISPATCHERS + 1)),
)
DEVICES_PER_REP = 2
DEVICES = len(BACK_OFFICE) + REPS * DEVICES_PER_REP + TECHNICIANS  # 200
PASSWORD = "fieldline-demo"  # noqa: S105 - seed_demo's demo password
LOGIN_PATH = "/api/v1/auth/login/"
# The field each write changes, per table: one devices may push (client wins a conflict).
EDITED = {"accounts": "notes", "sites": "access_notes", "contacts": "title"}
MARKER = re.compile(r"^bench-(\d+)$")
QUIET_SIZES = (1, 5, 10, 25, 50, 100)
REST_SHARE = 0.25  # of the live writes: one account edited through the REST API
FANOUT_CHANGES = 100
APPLY_TIMEOUT_S = 30.0
POKE_TIMEOUT_S = 5.0
PULL_THREADS = DEVICES  # each device is its own phone: no client-side queue
WRITE_THREADS = 16
SETUP_THREADS = 4
SOCKETS_AT_ONCE = 25
BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
DISTURBED_CPU = 0.25  # other processes' CPUs over a phase beyond which the report warns
SIZE_BUCKETS = ("0", f"1-{MAX_DELTA}", f">{MAX_DELTA}")
# What the server reports per request, in ms (see ``_instrument``).
STAGES = ("view", "pull", "sql", "begin", "counter", "connect", "publish")


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ server side (daphne)

# Nanoseconds spent in each instrumented stage by the request being served.
_PROBE: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "sync_delta_probe", default=None
)
# What ``--serve`` hands daphne (``__main__:timed_application``).
timed_application: Any = None


def _add(name: str, nanoseconds: int) -> None:
    probe = _PROBE.get()
    if probe is not None:
        probe[name] += nanoseconds


def _timing_header(app_ns: int, probe: Mapping[str, int]) -> bytes:
    parts = [f"app;dur={app_ns / 1e6:.3f}"]
    parts += [f"{name};dur={probe[name] / 1e6:.3f}" for name in STAGES]
    parts.append(f'queries;desc="{probe["queries"]}"')
    if probe["commit"]:
        parts.append(f'commit;desc="{probe["commit"]}"')
    return ", ".join(parts).encode()


class TimedApplication:
    """An ASGI wrapper: the time from daphne handing an HTTP request to the application to
    the application handing back the response body, with the probe's stages, in a
    ``Server-Timing`` response header. WebSockets pass through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter_ns()
        probe = dict.fromkeys((*STAGES, "queries", "commit"), 0)
        held: list[dict[str, Any]] = []

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held:
                start = held.pop()
                header = (b"server-timing", _timing_header(time.perf_counter_ns() - started, probe))
                await send({**start, "headers": [*start.get("headers", []), header]})
            await send(message)

        token = _PROBE.set(probe)
        try:
            await self.app(scope, receive, timed_send)
        finally:
            _PROBE.reset(token)


def _instrument() -> None:
    """Time, per request, DRF's ``dispatch`` (authentication and view), ``sync.pull.pull``,
    SQL statements (``BEGIN`` on its own: on SQLite, waiting for the write lock; and those on
    the version counter: on PostgreSQL, waiting for its row lock), opening
    database connections and publishing pokes, and note when the first poke was published
    (right after the commit; ``perf_counter`` is the machine's monotonic clock, the same in
    every process). The probe travels with the request's context into the thread Django runs
    the view (and the on-commit callbacks) in."""
    from django.db import connection, connections
    from rest_framework.views import APIView

    from server import realtime
    from sync import pull as pull_module
    from sync.models import VersionCounter

    counter_table = VersionCounter._meta.db_table

    def timed_publisher(original: Any) -> Any:
        def publish(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            probe = _PROBE.get()
            if probe is not None and not probe["commit"]:
                probe["commit"] = started
            try:
                return original(*args, **kwargs)
            finally:
                _add("publish", time.perf_counter_ns() - started)

        return publish

    # ``send_all`` (one trip to the channel layer for a transaction's events), or
    # ``send_now`` (one per event) in earlier versions.
    for name in ("send_all", "send_now"):
        if callable(getattr(realtime, name, None)):
            setattr(realtime, name, timed_publisher(getattr(realtime, name)))

    original_pull = pull_module.pull

    def timed_pull(**kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return original_pull(**kwargs)
        finally:
            _add("pull", time.perf_counter_ns() - started)

    pull_module.pull = timed_pull

    wrapper_class = type(connections["default"])
    original_connect = wrapper_class.connect

    def timed_connect(self: Any) -> None:
        started = time.perf_counter_ns()
        try:
            original_connect(self)
        finally:
            _add("connect", time.perf_counter_ns() - started)

    wrapper_class.connect = timed_connect  # type: ignore[method-assign]

    original_dispatch = APIView.dispatch

    def timed_dispatch(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        probe = _PROBE.get()
        if probe is None:
            return original_dispatch(self, request, *args, **kwargs)

        def count(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return execute(sql, params, many, context)
            finally:
                elapsed = time.perf_counter_ns() - started
                probe["sql"] += elapsed
                probe["queries"] += 1
                if isinstance(sql, str) and sql.startswith("BEGIN"):
                    probe["begin"] += elapsed
                elif isinstance(sql, str) and counter_table in sql:
                    probe["counter"] += elapsed

        started = time.perf_counter_ns()
        try:
            with connection.execute_wrapper(count):
                return original_dispatch(self, request, *args, **kwargs)
        finally:
            probe["view"] += time.perf_counter_ns() - started

    APIView.dispatch = timed_dispatch  # type: ignore[method-assign]


def serve(port: int) -> None:
    """(The daphne child.) Load the project's ASGI application, wrap it, and run daphne's own
    command line on the wrapper, as ``infra/dev/run.sh`` runs it on the application."""
    global timed_application
    import server.asgi

    _instrument()
    timed_application = TimedApplication(server.asgi.application)
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(
        ["--bind", "127.0.0.1", "--port", str(port), "__main__:timed_application"]
    )


# ------------------------------------------------------------------------------ loading


def load(scale: str, seed: int) -> dict[str, Any]:
    """(In a child process.) The demo seeder's data with this benchmark's users and
    ``ACCOUNTS[scale]`` accounts; on PostgreSQL, then ``VACUUM ANALYZE``."""
    import django

    django.setup()
    from django.db import connection

    from crm.models import Account, Asset, Contact, Site
    from server.management.commands.seed_demo import Scale, Seeder
    from sync.models import ChangeKey

    from .account_list import database_description

    started = time.perf_counter()
    scale_spec = Scale(
        accounts=ACCOUNTS[scale], technicians=TECHNICIANS, reps=REPS, dispatchers=DISPATCHERS
    )
    Seeder(random.Random(seed), scale_spec).run()
    seed_s = time.perf_counter() - started
    analyze_s = None
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - started
    return {
        "database": database_description(),
        "seed_s": seed_s,
        "analyze_s": analyze_s,
        "accounts": Account.objects.count(),
        "sites": Site.objects.count(),
        "contacts": Contact.objects.count(),
        "assets": Asset.objects.count(),
        "change_keys": ChangeKey.objects.count(),
    }


# ------------------------------------------------------------------------------ clients


@dataclass
class Call:
    """One HTTP request a client made: status, client-observed and server-side times."""

    method: str
    path: str
    status: int
    client_ms: float
    timing: dict[str, float]
    records: int


def parse_timing(header: str | None) -> dict[str, float]:
    timing: dict[str, float] = {}
    for part in (header or "").split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        for param in params:
            key, _, value = param.partition("=")
            if key in ("dur", "desc") and name:
                timing[name] = float(value.strip('"'))
    return timing


def count_records(body: Any) -> int:
    if not isinstance(body, dict) or not isinstance(body.get("changes"), dict):
        return 0
    return sum(
        len(bucket.get(kind, []))
        for bucket in body["changes"].values()
        for kind in ("created", "updated", "deleted")
    )


class RecordingTransport(HttpTransport):
    """The reference client's ``HttpTransport`` (urllib, a connection per request), keeping
    each request's status, times and ``Server-Timing``; JSON decoded with orjson."""

    def __init__(self, base_url: str, access_token: str) -> None:
        super().__init__(base_url, access_token, timeout=120.0)
        self.calls: list[Call] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any, Call]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            f"{self.base_url}{path}{query}",
            data=orjson.dumps(body) if body is not None else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Content-Type": "application/json",
                **headers,
            },
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, raw, header = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, header = error.code, error.read(), error.headers
        elapsed_ms = (time.perf_counter() - started) * 1e3
        data = orjson.loads(raw) if raw else None
        call = Call(
            method,
            path,
            status,
            elapsed_ms,
            parse_timing(header.get("server-timing")),
            count_records(data) if path == PULL_PATH else 0,
        )
        return status, data, call

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any]:
        status, data, call = self.request(method, path, params=params, body=body, headers=headers)
        self.calls.append(call)
        return status, data


def login(base_url: str, username: str, device_id: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        base_url + LOGIN_PATH,
        data=orjson.dumps(
            {
                "username": username,
                "password": PASSWORD,
                "device_id": device_id,
                "platform": "android",
                "app_version": "1.0.0",
            }
        ),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body: dict[str, Any] = orjson.loads(response.read())
            return body
    except urllib.error.HTTPError as error:
        raise BenchError(f"login as {username}: HTTP {error.code} {error.read()[:300]!r}") from None


# ------------------------------------------------------------------------------ devices


@dataclass(eq=False)
class Device:
    name: str
    username: str
    kind: str  # "office" (org key) | "rep" | "tech" | "writer"
    user_id: int
    transport: RecordingTransport
    client: SyncClient
    socket: Any = None
    auto: bool = False  # pull when poked
    pulling: bool = False
    dirty: bool = False  # poked during a pull: pull once more after it
    pokes: list[float] = field(default_factory=list)
    pending: list[Expectation] = field(default_factory=list)
    busy: bool = False  # a writer with a write in flight


@dataclass(frozen=True)
class Item:
    """One change a write makes: ``field`` of ``table``/``record_id`` set to marker ``seq``."""

    table: str
    record_id: str
    owner: int
    seq: int

    @property
    def field(self) -> str:
        return EDITED[self.table]

    @property
    def value(self) -> str:
        return f"bench-{self.seq:09d}"


@dataclass(eq=False)
class PullSample:
    device: Device
    phase: str
    started: float
    ended: float
    calls: list[Call]


@dataclass(eq=False)
class Batch:
    phase: str
    kind: str  # "rep push" | "office push" | "REST edit"
    writer: Device
    items: list[Item]
    expectations: list[Expectation] = field(default_factory=list)
    sent_at: float = 0.0
    returned_at: float = 0.0
    # When the server published the write's first poke (right after its commit), else when
    # the writer's answer came back.
    committed_at: float = 0.0
    call: Call | None = None


@dataclass(eq=False)
class Expectation:
    """A device whose scope holds some of a batch's changes, and when it had applied them."""

    batch: Batch
    device: Device
    items: list[Item]
    applied_at: float | None = None
    pull: PullSample | None = None


def _marker(value: Any) -> int:
    match = MARKER.match(value) if isinstance(value, str) else None
    return int(match[1]) if match else -1


def holds(device: Device, items: Sequence[Item]) -> bool:
    """Whether ``device``'s local copy has every item's value, or a later one."""
    for item in items:
        record = device.client.tables.get(item.table, {}).get(item.record_id)
        if record is None or _marker(record.get(item.field)) < item.seq:
            return False
    return True


def summarize(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
    }


def size_bucket(records: int) -> str:
    if records == 0:
        return SIZE_BUCKETS[0]
    return SIZE_BUCKETS[1] if records <= MAX_DELTA else SIZE_BUCKETS[2]


# ------------------------------------------------------------------------------ session


class Session:
    """The devices, their sockets and the writes of one leg, driven from one event loop;
    pulls and writes run in threads (each device is its own phone)."""

    def __init__(self, servers: Sequence[Server], seed: int) -> None:
        # Devices are spread over the servers round-robin, each sticking to its own (the
        # reverse proxy's job in production).
        self.servers = list(servers)
        self.signed_in = itertools.count()
        self.rng = random.Random(seed)
        self.readers: list[Device] = []
        self.office_writer: Device | None = None
        self.rep_writers: dict[int, Device] = {}
        self.rep_devices: dict[int, list[Device]] = {}
        self.office_devices: list[Device] = []
        self.records_of: dict[int, list[tuple[str, str]]] = {}
        self.accounts_of: dict[int, list[str]] = {}
        self.owner_of: dict[tuple[str, str], int] = {}
        self.uneditable_contacts = 0
        self.seq = 0
        self.in_flight: set[tuple[str, str]] = set()
        self.pull_pool = ThreadPoolExecutor(PULL_THREADS, thread_name_prefix="pull")
        self.write_pool = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="write")
        self.tasks: set[asyncio.Task[Any]] = set()
        self.errors: list[str] = []
        # The current phase's records.
        self.phase = ""
        self.samples: list[PullSample] = []
        self.batches: list[Batch] = []
        self.skipped_writes = 0
        self.phase_started = 0.0
        self.cpu_started: tuple[float, float, tuple[int, int], dict[int, float]] = (
            0.0,
            0.0,
            (0, 0),
            {},
        )

    # ---- set-up ----------------------------------------------------------------------

    def _server_cpu_s(self) -> float:
        return sum(process_cpu_s(server.pid) for server in self.servers)

    def _sign_in(self, username: str, name: str, kind: str) -> Device:
        server = self.servers[next(self.signed_in) % len(self.servers)]
        body = login(server.base_url, username, name)
        transport = RecordingTransport(server.base_url, body["access"])
        return Device(
            name, username, kind, int(body["user"]["id"]), transport, SyncClient(transport)
        )

    def sign_in(self) -> float:
        plan = [(username, f"bench-{username}-tablet", "office") for username in BACK_OFFICE]
        for n in range(1, REPS + 1):
            plan += [(f"rep{n}", f"bench-rep{n}-{d}", "rep") for d in ("phone", "tablet")]
        plan += [(f"tech{n}", f"bench-tech{n}-phone", "tech") for n in range(1, TECHNICIANS + 1)]
        writers = [("salesmanager", "bench-salesmanager-writer", "writer")]
        writers += [(f"rep{n}", f"bench-rep{n}-writer", "writer") for n in range(1, REPS + 1)]
        started = time.perf_counter()
        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            devices = list(pool.map(lambda args: self._sign_in(*args), [*plan, *writers]))
        self.readers = devices[: len(plan)]
        if len(self.readers) != DEVICES:
            raise BenchError(f"{len(self.readers)} reading devices, expected {DEVICES}")
        for device in self.readers:
            if device.kind == "office":
                self.office_devices.append(device)
            elif device.kind == "rep":
                self.rep_devices.setdefault(device.user_id, []).append(device)
        for device in devices[len(plan) :]:
            if device.username == "salesmanager":
                self.office_writer = device
            else:
                self.rep_writers[device.user_id] = device
        return time.perf_counter() - started

    def initial_sync(self) -> dict[str, Any]:
        """Every device's initial sync; then checks what each holds and maps records to reps."""
        devices = [*self.readers, self.writer, *self.rep_writers.values()]
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(SETUP_THREADS) as pool:
                list(pool.map(lambda device: device.client.pull(), devices))
        except SyncError as error:
            raise BenchError(f"an initial sync failed: {error}"[:500]) from None
        elapsed = time.perf_counter() - started
        records = sum(len(table) for device in devices for table in device.client.tables.values())
        office = self.writer.client.tables
        owner_of_account = {
            account_id: int(record["owner_id"]) for account_id, record in office["accounts"].items()
        }
        for account_id, owner in owner_of_account.items():
            self.owner_of[("accounts", account_id)] = owner
            self.accounts_of.setdefault(owner, []).append(account_id)
        for table in ("sites", "contacts"):
            for record_id, record in office[table].items():
                if table == "contacts" and not str(record.get("email") or "").isascii():
                    # The seeder's accented addresses fail the EmailValidator that every
                    # edit's full_clean() runs: such a contact cannot be edited at all.
                    self.uneditable_contacts += 1
                    continue
                self.owner_of[(table, record_id)] = owner_of_account[record["account_id"]]
        for (table, record_id), owner in sorted(self.owner_of.items()):
            self.records_of.setdefault(owner, []).append((table, record_id))
        if not set(self.accounts_of) <= set(self.rep_devices):
            raise BenchError("some reps who own accounts are not signed in")
        for device in [*self.readers, *self.rep_writers.values()]:
            held = len(device.client.tables.get("accounts", {}))
            expected = {
                "office": len(owner_of_account),
                "rep": len(self.accounts_of.get(device.user_id, [])),
                "writer": len(self.accounts_of.get(device.user_id, [])),
                "tech": 0,
            }[device.kind]
            if held != expected:
                raise BenchError(f"{device.name} holds {held} accounts after its initial sync, "
                                 f"expected {expected}")  # fmt: skip
        for device in devices:
            device.transport.calls.clear()
        return {
            "initial_sync_s": elapsed,
            "initial_records": records,
            "devices": len(devices),
            "uneditable_contacts": self.uneditable_contacts,
        }

    @property
    def writer(self) -> Device:
        if self.office_writer is None:
            raise BenchError("no office writer")
        return self.office_writer

    async def connect(self) -> float:
        from websockets.asyncio.client import connect

        limit = asyncio.Semaphore(SOCKETS_AT_ONCE)

        async def open_one(device: Device) -> None:
            async with limit:
                device.socket = await connect(
                    device.transport.base_url.replace("http://", "ws://") + "/ws/device/",
                    additional_headers={"Authorization": f"Bearer {device.transport.access_token}"},
                    compression=None,
                    proxy=None,
                    open_timeout=30,
                )
                hello = json.loads(await asyncio.wait_for(device.socket.recv(), timeout=30))
                if hello.get("type") != "hello":
                    raise BenchError(f"{device.name}: expected hello, got {hello!r}")
            self._spawn(self.listen(device))

        started = time.perf_counter()
        await asyncio.gather(*(open_one(device) for device in self.readers))
        return time.perf_counter() - started

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(
            *(device.socket.close() for device in self.readers if device.socket is not None),
            return_exceptions=True,
        )
        self.pull_pool.shutdown(wait=True)
        self.write_pool.shutdown(wait=True)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- devices -------------------------------------------------------------------------

    async def listen(self, device: Device) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in device.socket:
                received = time.perf_counter()
                if json.loads(message).get("type") != "sync.poke":
                    continue
                device.pokes.append(received)
                if device.auto:
                    if device.pulling:
                        device.dirty = True
                    else:
                        device.pulling = True
                        self._spawn(self.pull_loop(device))
        except ConnectionClosed as error:
            self.errors.append(f"{device.name}: socket closed: {error!r}"[:500])

    async def pull_loop(self, device: Device) -> None:
        """Pull until no poke arrived during the last pull (what an app does)."""
        try:
            while True:
                device.dirty = False
                await self.pull(device)
                if not device.dirty:
                    break
        finally:
            device.pulling = False

    def _pull(self, device: Device) -> PullSample:
        before = len(device.transport.calls)
        started = time.perf_counter()
        device.client.pull()
        ended = time.perf_counter()
        return PullSample(device, self.phase, started, ended, device.transport.calls[before:])

    async def pull(self, device: Device) -> None:
        loop = asyncio.get_running_loop()
        try:
            sample = await loop.run_in_executor(self.pull_pool, self._pull, device)
        except Exception as error:  # noqa: BLE001 - reported with the results
            self.errors.append(f"{device.name} pull: {error!r}"[:500])
            return
        self.samples.append(sample)
        for expectation in list(device.pending):
            if holds(device, expectation.items):
                expectation.applied_at, expectation.pull = sample.ended, sample
                device.pending.remove(expectation)

    # ---- writes --------------------------------------------------------------------------

    def new_batch(self, kind: str, writer: Device, records: Sequence[tuple[str, str]]) -> Batch:
        """A batch changing ``records``, with an expectation for each device whose scope
        holds any of them (every back-office device, and the owners' devices)."""
        items = []
        for table, record_id in records:
            self.seq += 1
            items.append(Item(table, record_id, self.owner_of[(table, record_id)], self.seq))
            self.in_flight.add((table, record_id))
        batch = Batch(self.phase, kind, writer, items)
        by_owner: dict[int, list[Item]] = {}
        for item in items:
            by_owner.setdefault(item.owner, []).append(item)
        audience = [(device, items) for device in self.office_devices]
        audience += [
            (device, owned)
            for owner, owned in by_owner.items()
            for device in self.rep_devices.get(owner, [])
        ]
        for device, expected in audience:
            expectation = Expectation(batch, device, expected)
            batch.expectations.append(expectation)
            device.pending.append(expectation)
        self.batches.append(batch)
        return batch

    def _write(self, batch: Batch) -> tuple[float, float, Call]:
        writer = batch.writer
        if batch.kind == "REST edit":
            (item,) = batch.items
            sent = time.perf_counter()
            status, body, call = writer.transport.request(
                "PATCH",
                f"/api/v1/accounts/{item.record_id}/",
                params={},
                body={item.field: item.value},
                headers={},
            )
            committed = time.perf_counter()
            if status != 200:
                raise BenchError(f"PATCH account {item.record_id}: HTTP {status} {body!r}"[:500])
            return sent, committed, call
        for item in batch.items:
            writer.client.update(item.table, item.record_id, {item.field: item.value})
        sent = time.perf_counter()
        outcome = writer.client.push()
        committed = time.perf_counter()
        if outcome.rejected or outcome.overruled:
            raise BenchError(f"{writer.name}: push rejected or overruled: {outcome!r}"[:500])
        return sent, committed, writer.transport.calls[-1]

    async def write(self, batch: Batch) -> None:
        loop = asyncio.get_running_loop()
        batch.writer.busy = True
        try:
            result = await loop.run_in_executor(self.write_pool, self._write, batch)
        except Exception as error:  # noqa: BLE001 - reported with the results
            self.errors.append(f"{batch.writer.name} {batch.kind}: {error!r}"[:500])
            for expectation in batch.expectations:
                with suppress(ValueError):
                    expectation.device.pending.remove(expectation)
            batch.expectations.clear()
            return
        finally:
            batch.writer.busy = False
            for item in batch.items:
                self.in_flight.discard((item.table, item.record_id))
        batch.sent_at, batch.returned_at, batch.call = result
        commit_ns = batch.call.timing.get("commit")
        batch.committed_at = commit_ns / 1e9 if commit_ns else batch.returned_at

    def _free(self, records: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [record for record in records if record not in self.in_flight]

    # ---- waiting -------------------------------------------------------------------------

    async def wait_applied(self, expectations: Sequence[Expectation], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(e.applied_at is None for e in expectations) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)

    async def wait_pulls_done(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while any(d.pulling for d in self.readers) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)

    async def wait_poked(self, batch: Batch, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(any(t >= batch.sent_at for t in e.device.pokes) for e in batch.expectations):
                return
            await asyncio.sleep(0.001)

    # ---- phases --------------------------------------------------------------------------

    def begin(self, phase: str, *, auto: bool) -> None:
        self.phase, self.samples, self.batches, self.skipped_writes = phase, [], [], 0
        for device in self.readers:
            device.auto, device.pokes = auto, []
        self.phase_started = time.perf_counter()
        self.cpu_started = (
            self._server_cpu_s(),
            time.process_time(),
            machine_cpu(),
            service_cpu_s(),
        )
        log(f"phase {phase}")

    async def quiet(self, rounds: int) -> dict[str, Any]:
        """One write at a time, then each device it concerns pulls, one after the other."""
        self.begin("quiet", auto=False)
        reps = sorted(self.records_of)
        for number in range(rounds):
            size = QUIET_SIZES[number % len(QUIET_SIZES)]
            pool = [r for rep in self.rng.sample(reps, 2) for r in self.records_of[rep]]
            chosen = self.rng.sample(pool, min(size, len(pool)))
            batch = self.new_batch("office push", self.writer, chosen)
            await self.write(batch)
            await self.wait_poked(batch, POKE_TIMEOUT_S)
            order = list(batch.expectations)
            self.rng.shuffle(order)
            for expectation in order:
                await self.pull(expectation.device)
        return self.end()

    def next_live_batch(self) -> Batch | None:
        rep = self.rng.choice(sorted(self.records_of))
        if self.rng.random() < REST_SHARE:
            accounts = self._free([("accounts", a) for a in self.accounts_of[rep]])
            if not accounts:
                return None
            return self.new_batch("REST edit", self.writer, [self.rng.choice(accounts)])
        idle = [
            r for r, writer in self.rep_writers.items() if not writer.busy and r in self.records_of
        ]
        if not idle:
            return None
        rep = self.rng.choice(sorted(idle))
        size = round(10 ** self.rng.uniform(0, math.log10(MAX_DELTA)))
        free = self._free(self.records_of[rep])
        if not free:
            return None
        batch = self.new_batch(
            "rep push", self.rep_writers[rep], self.rng.sample(free, min(size, len(free)))
        )
        batch.writer.busy = True  # taken now, so the next scheduled write picks another rep
        return batch

    async def live(self, seconds: float, rate: float) -> dict[str, Any]:
        """Writes at ``rate`` a second, whatever the devices are doing; devices pull when
        poked."""
        self.begin("live", auto=True)
        total = max(1, round(seconds * rate))
        started = time.perf_counter()
        writes: list[asyncio.Task[None]] = []
        for number in range(total):
            delay = started + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            batch = self.next_live_batch()
            if batch is None:
                self.skipped_writes += 1
                continue
            writes.append(asyncio.ensure_future(self.write(batch)))
        await asyncio.gather(*writes)
        await self.settle()
        return self.end()

    async def fanout(self, rounds: int) -> dict[str, Any]:
        """``salesmanager`` pushes 100 account changes touching every rep; the next push waits
        until every device has applied the last."""
        self.begin("fan-out", auto=True)
        reps = sorted(self.accounts_of)
        for _ in range(rounds):
            chosen = {("accounts", self.rng.choice(self.accounts_of[rep])) for rep in reps}
            others = [("accounts", a) for rep in reps for a in self.accounts_of[rep]]
            while len(chosen) < min(FANOUT_CHANGES, len(others)):
                chosen.add(self.rng.choice(others))
            batch = self.new_batch("office push", self.writer, sorted(chosen))
            await self.write(batch)
            await self.wait_applied(batch.expectations, APPLY_TIMEOUT_S)
            await self.wait_pulls_done(APPLY_TIMEOUT_S)
            await asyncio.sleep(0.5)
        await self.settle()
        return self.end()

    async def settle(self) -> None:
        pending = [e for batch in self.batches for e in batch.expectations]
        await self.wait_applied(pending, APPLY_TIMEOUT_S)
        await self.wait_pulls_done(APPLY_TIMEOUT_S)

    # ---- results -------------------------------------------------------------------------

    def end(self) -> dict[str, Any]:
        daphne_cpu, bench_cpu, (busy, total), services = self.cpu_started
        busy_now, total_now = machine_cpu()
        wall = time.perf_counter() - self.phase_started
        expectations = [e for batch in self.batches for e in batch.expectations]
        for expectation in expectations:  # missed ones stop being checked
            with suppress(ValueError):
                expectation.device.pending.remove(expectation)
        result = {
            "phase": self.phase,
            "wall_s": wall,
            "cpu": {
                "daphne_s": self._server_cpu_s() - daphne_cpu,
                "bench_s": time.process_time() - bench_cpu,
                "machine_busy": (busy_now - busy) / max(1, total_now - total),
                # CPU seconds of everything else on the machine (other work running at the
                # same time disturbs the measurement): all CPU time, less daphne's, this
                # process's, and PostgreSQL's and Redis's (any instance).
                "others_s": max(
                    0.0,
                    (busy_now - busy) / os.sysconf("SC_CLK_TCK")
                    - (self._server_cpu_s() - daphne_cpu)
                    - (time.process_time() - bench_cpu)
                    - sum(
                        seconds - services.get(pid, 0.0) for pid, seconds in service_cpu_s().items()
                    ),
                ),
            },
            "writes": self._writes(),
            "pulls": self._pulls(),
            "applied": self._applied(expectations),
            "pokes": self._pokes(expectations),
            "errors": list(self.errors),
        }
        self.errors.clear()
        return result

    def _writes(self) -> dict[str, Any]:
        by_kind: dict[str, list[Batch]] = {}
        for batch in self.batches:
            if batch.call is not None:
                by_kind.setdefault(batch.kind, []).append(batch)
        return {
            "count": sum(len(b) for b in by_kind.values()),
            "skipped": self.skipped_writes,
            "changes": sum(len(b.items) for bs in by_kind.values() for b in bs),
            "per_s": sum(len(b) for b in by_kind.values())
            / max(1e-9, time.perf_counter() - self.phase_started),
            "kinds": {
                kind: {
                    "count": len(batches),
                    "changes": summarize([len(b.items) for b in batches]),
                    "client": summarize([b.call.client_ms for b in batches if b.call]),
                    "server": summarize(
                        [b.call.timing.get("app", math.nan) for b in batches if b.call]
                    ),
                    **{
                        stage: summarize(
                            [b.call.timing.get(stage, math.nan) for b in batches if b.call]
                        )
                        for stage in ("begin", "counter", "connect", "publish")
                    },
                    # From the commit (first poke published) to the writer's answer.
                    "commit_to_answer": summarize(
                        [(b.returned_at - b.committed_at) * 1e3 for b in batches]
                    ),
                    "without_commit_stamp": sum(
                        1 for b in batches if b.call and "commit" not in b.call.timing
                    ),
                    "stamp_outside_request": sum(
                        1 for b in batches if not b.sent_at <= b.committed_at <= b.returned_at
                    ),
                }
                for kind, batches in sorted(by_kind.items())
            },
        }

    def _pulls(self) -> dict[str, Any]:
        calls = [(s.device.kind, c) for s in self.samples for c in s.calls if c.path == PULL_PATH]
        buckets: dict[str, list[tuple[str, Call]]] = {name: [] for name in SIZE_BUCKETS}
        for kind, call in calls:
            buckets[size_bucket(call.records)].append((kind, call))
        missing = sum(1 for _, call in calls if "app" not in call.timing)
        if missing:
            self.errors.append(f"{missing} pulls without a Server-Timing header")
        statuses = Counter(call.status for _, call in calls)

        def stats(group: Sequence[tuple[str, Call]]) -> dict[str, Any]:
            def stage(name: str) -> dict[str, float]:
                return summarize([c.timing[name] for _, c in group if name in c.timing])

            return {
                "server": stage("app"),
                "client": summarize([c.client_ms for _, c in group]),
                "stages": {name: stage(name) for name in STAGES},
                "queries": summarize([c.timing.get("queries", 0) for _, c in group]),
                "records": summarize([c.records for _, c in group]),
                "by_kind": {
                    kind: summarize([c.timing["app"] for k, c in group if k == kind])
                    for kind in sorted({k for k, _ in group})
                },
            }

        return {
            "count": len(calls),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "buckets": {name: stats(group) for name, group in buckets.items()},
        }

    def _applied(self, expectations: Sequence[Expectation]) -> dict[str, Any]:
        done = [e for e in expectations if e.applied_at is not None and e.batch.call]
        by_kind: dict[str, list[float]] = {}
        for e in done:
            by_kind.setdefault(e.device.kind, []).append(
                ((e.applied_at or 0.0) - e.batch.committed_at) * 1e3
            )
        waited = [((e.pull.started if e.pull else 0.0) - e.batch.committed_at) * 1e3 for e in done]
        return {
            "expected": len(expectations),
            "missed": len(expectations) - len(done),
            "from_commit": summarize([v for values in by_kind.values() for v in values]),
            "from_answer": summarize(
                [((e.applied_at or 0.0) - e.batch.returned_at) * 1e3 for e in done]
            ),
            "from_request": summarize(
                [((e.applied_at or 0.0) - e.batch.sent_at) * 1e3 for e in done]
            ),
            "by_kind": {kind: summarize(values) for kind, values in sorted(by_kind.items())},
            "applying_pull_start": summarize(waited),
            "applying_pull": summarize(
                [((e.pull.ended - e.pull.started) * 1e3) for e in done if e.pull]
            ),
        }

    def _pokes(self, expectations: Sequence[Expectation]) -> dict[str, Any]:
        expected_devices = {e.device for e in expectations}
        received = Counter(d.kind for d in self.readers for _ in d.pokes)
        stray = sum(len(d.pokes) for d in self.readers if d not in expected_devices)
        delivery: list[float] = []
        if self.phase != "live":  # one write at a time: each poke belongs to one write
            for e in expectations:
                after = [t for t in e.device.pokes if t >= e.batch.sent_at]
                if after and e.batch.call is not None:
                    delivery.append((min(after) - e.batch.committed_at) * 1e3)
        return {
            "received": dict(sorted(received.items())),
            "to_devices_not_concerned": stray,
            "delivery_from_commit": summarize(delivery),
        }


# --------------------------------------------------------------------------------- run


async def drive(
    servers: Sequence[Server], *, seed: int, quiet_rounds: int, live_seconds: float,
    rate: float, fanout_rounds: int,
) -> dict[str, Any]:  # fmt: skip
    session = Session(servers, seed)
    loop = asyncio.get_running_loop()
    try:
        login_s = await loop.run_in_executor(None, session.sign_in)
        log(f"signed in {DEVICES} reading and {len(session.rep_writers) + 1} writing devices")
        initial = await loop.run_in_executor(None, session.initial_sync)
        log(f"initial syncs done in {initial['initial_sync_s']:.1f}s")
        # The 261 local databases live as long as the run: keep full collections short.
        gc.collect()
        gc.freeze()
        sockets_s = await session.connect()
        log(f"{DEVICES} sockets connected in {sockets_s:.1f}s")
        await asyncio.sleep(1.0)
        phases = [await session.quiet(quiet_rounds)]
        await asyncio.sleep(1.0)
        phases.append(await session.live(live_seconds, rate))
        await asyncio.sleep(1.0)
        phases.append(await session.fanout(fanout_rounds))
    finally:
        await session.close()
    return {"login_s": login_s, **initial, "sockets_s": sockets_s, "phases": phases}


def default_processes(backend: str) -> int:
    """PostgreSQL: one daphne process per CPU, pokes crossing them through Redis (the
    production layout). SQLite: one, since its in-memory channel layer stays in a process
    (and its database takes one writer at a time)."""
    return max(1, os.cpu_count() or 1) if backend == "postgres" else 1


def run(
    *, backend: str, scale: str, seed: int, quiet_rounds: int, live_seconds: float,
    rate: float, fanout_rounds: int, processes: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    processes = processes or default_processes(backend)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fieldline-bench-") as data_dir:
        prepare_environment(backend, Path(data_dir))
        migrate_s = manage("migrate", "--no-input", "--verbosity", "0")
        log(f"migrated in {migrate_s:.1f}s; loading {ACCOUNTS[scale]:,} accounts")
        load_wall_s, out = run_child(
            ["-m", "infra.bench.sync_delta", "--load", "--scale", scale, "--seed", str(seed)],
            "loading the demo data",
        )
        setup: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        setup |= {"migrate_s": migrate_s, "load_wall_s": load_wall_s}
        setup["channel_layer"] = (
            "Redis pub/sub (`RedisPubSubChannelLayer`)"
            if os.environ.get("REDIS_URL") and backend == "postgres"
            else "in memory (`InMemoryChannelLayer`)"
        )
        log(f"loaded in {load_wall_s:.1f}s")
        with daphnes(Path(data_dir), processes) as servers:
            try:
                measured = asyncio.run(
                    drive(
                        servers,
                        seed=seed,
                        quiet_rounds=quiet_rounds,
                        live_seconds=live_seconds,
                        rate=rate,
                        fanout_rounds=fanout_rounds,
                    )
                )
            except BenchError as error:
                logged = [line for s in servers for line in server_errors(s.log_path)]
                raise BenchError(
                    str(error) + "".join(f"\n  daphne logged: {line}" for line in logged)
                ) from None
            measured["server_errors"] = [
                line for server in servers for line in server_errors(server.log_path)
            ]
    phases = measured.pop("phases")
    return {
        "benchmark": BENCHMARK,
        "backend": backend,
        "scale": scale,
        "seed": seed,
        "config": {
            "devices": DEVICES,
            "quiet_rounds": quiet_rounds,
            "live_seconds": live_seconds,
            "rate": rate,
            "fanout_rounds": fanout_rounds,
            "processes": processes,
            "cpus": os.cpu_count(),
        },
        "setup": {**setup, **measured},
        "phases": phases,
        "elapsed_s": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------- report


def _ms(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f}"


def _cells(summary: Mapping[str, float], keys: Sequence[str] = ("p50", "p95", "p99")) -> str:
    if not summary.get("n"):
        return " | ".join("–" for _ in (*keys, "max"))
    return " | ".join(_ms(summary[f"{key}_ms"]) for key in (*keys, "max"))


def _phase(leg: Mapping[str, Any], name: str) -> dict[str, Any]:
    return next((p for p in leg["phases"] if p["phase"] == name), {})


def _target_pull(phase: Mapping[str, Any]) -> Mapping[str, float]:
    summary: Mapping[str, float] = phase["pulls"]["buckets"][SIZE_BUCKETS[1]]["server"]
    return summary


def _verdict(summary: Mapping[str, float], target: float) -> str:
    if not summary.get("n"):
        return "not measured"
    p99 = summary["p99_ms"]
    word = "met" if p99 < target else "**missed**"
    return f"{word} (p99 {p99:.1f} ms, n = {summary['n']:,})"


def _missed_note(phase: Mapping[str, Any]) -> str:
    missed = phase["applied"]["missed"]
    return "" if not missed else f"; **{missed} of {phase['applied']['expected']} never applied**"


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more backends (a leg that failed carries ``error``)."""
    ok = [leg for leg in legs if "error" not in leg]
    lines = [
        f"What is measured: with {DEVICES} devices signed in, synced and connected to "
        "`/ws/device/` through a real daphne process, (1) the **server time of a delta pull** "
        f"(`GET /api/v1/sync/pull/` with a cursor) carrying 1 to {MAX_DELTA} records, target "
        f"p99 under {TARGET_PULL_P99_MS:g} ms, and (2) **poke to applied**: from the commit "
        "of a change to the end of the reference client's `pull()` that brought it, on every "
        "device whose scope holds it, target p99 under "
        f"{TARGET_APPLIED_P99_MS:g} ms. Targets are judged on the *live* phase (steady "
        "writes, devices pulling when poked); *quiet* is the same work one request at a time, "
        "*fan-out* a write that pokes 128 devices at once.",
        "",
    ]
    lines += [f"**{BACKEND_LABELS[leg['backend']]}: failed**: {leg['error']}\n" for leg in legs
              if "error" in leg]  # fmt: skip
    if not ok:
        return "\n".join(lines).rstrip() + "\n"
    for leg in ok:
        live = _phase(leg, "live")
        lines.append(
            f"- **{BACKEND_LABELS[leg['backend']]}**: delta pull server time "
            f"{_verdict(_target_pull(live), TARGET_PULL_P99_MS)}; poke to applied "
            f"{_verdict(live['applied']['from_commit'], TARGET_APPLIED_P99_MS)}"
            f"{_missed_note(live)}."
        )
    disturbed = [
        f"{BACKEND_LABELS[leg['backend']]} {phase['phase']} "
        f"({phase['cpu'].get('others_s', 0.0) / phase['wall_s']:.2f} CPU)"
        for leg in ok
        for phase in leg["phases"]
        if phase["cpu"].get("others_s", 0.0) / phase["wall_s"] > DISTURBED_CPU
    ]
    if disturbed:
        lines.append(
            "- **Other work ran on the machine during** " + ", ".join(disturbed) + ": those "
            "phases' numbers are disturbed; run again on a quiet machine."
        )
    lines.append("")
    lines += _setup_table(ok)
    lines += _pull_table(ok)
    lines += _stage_table(ok)
    lines += _applied_table(ok)
    lines += _write_table(ok)
    lines += _method_text(ok)
    return "\n".join(lines).rstrip() + "\n"


def _setup_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Set-up",
        "",
        "| Backend | Database | Channel layer | Data | Devices | Load | Sign-in | "
        "Initial syncs | Sockets |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        s = leg["setup"]
        records = s["accounts"] + s["sites"] + s["contacts"] + s["assets"]
        lines.append(
            f"| {BACKEND_LABELS[leg['backend']]} | {s['database']} | {s['channel_layer']} | "
            f"{s['accounts']:,} accounts, {records:,} customer records, {s['change_keys']:,} "
            f"change keys (`--scale {leg['scale']}`) | {DEVICES} reading "
            f"({len(BACK_OFFICE)} back office, {REPS} reps × "
            f"{DEVICES_PER_REP}, {TECHNICIANS} technicians) + {s['devices'] - DEVICES} writing | "
            f"{s['migrate_s'] + s['load_wall_s']:.0f} s | {s['login_s']:.1f} s | "
            f"{s['initial_sync_s']:.1f} s ({s['initial_records']:,} records) | "
            f"{s['sockets_s']:.1f} s |"
        )
    return [*lines, ""]


def _pull_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Delta pulls",
        "",
        "Milliseconds per `GET /api/v1/sync/pull/` with a cursor, by the records it carried. "
        "*Server*: inside daphne (request handed to the application → response body handed "
        "back). *Client*: the reference client's request on loopback (connect, send, receive; "
        "an upper bound of the server time, and what a device waits).",
        "",
        "| Backend | Phase | Records | Pulls | Server p50 | p95 | p99 | max | Client p50 | "
        "p99 | Target (server p99) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for leg in legs:
        for phase in leg["phases"]:
            for bucket in SIZE_BUCKETS:
                stats = phase["pulls"]["buckets"][bucket]
                server, client = stats["server"], stats["client"]
                if not server.get("n"):
                    continue
                target = (
                    ("met" if server["p99_ms"] < TARGET_PULL_P99_MS else "**missed**")
                    if bucket == SIZE_BUCKETS[1]
                    else ""
                )
                lines.append(
                    f"| {BACKEND_LABELS[leg['backend']]} | {phase['phase']} | {bucket} | "
                    f"{server['n']:,} | {_cells(server)} | {_ms(client['p50_ms'])} | "
                    f"{_ms(client['p99_ms'])} | {target} |"
                )
    return [*lines, ""]


def _pair(summary: Mapping[str, float]) -> str:
    if not summary.get("n"):
        return "–"
    return f"{_ms(summary['p50_ms'])} / {_ms(summary['p99_ms'])}"


def _stage_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Where the server time goes",
        "",
        f"Pulls carrying 1 to {MAX_DELTA} records; p50 / p99 of each stage on its own (they "
        "do not add up exactly). *View*: DRF's `dispatch` (authentication, device, scope keys, "
        "`pull()`, JSON). *SQL*: time in the statements the view ran, of which *`BEGIN`*: on "
        "SQLite every `transaction.atomic()` is `BEGIN IMMEDIATE` (`transaction_mode`), so "
        "this is the wait for the database's write lock (PostgreSQL's `BEGIN` is implicit, "
        "never timed). *Connect*: opening a database connection (SQLite: a new one per request; "
        "PostgreSQL: taken from the pool). The rest of *server* is Django's ASGI handler, "
        "middleware and the hops between the event loop and the request's thread; all of it "
        "includes waiting for the GIL while daphne serves other requests.",
        "",
        "| Backend | Phase | Server | View | `pull()` | SQL | of which `BEGIN` | Connect | "
        "Queries (p50) | Records (p50 / max) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for phase in leg["phases"]:
            stats = phase["pulls"]["buckets"][SIZE_BUCKETS[1]]
            if not stats["server"].get("n"):
                continue
            stages, records = stats["stages"], stats["records"]
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {phase['phase']} | "
                f"{_pair(stats['server'])} | {_pair(stages['view'])} | "
                f"{_pair(stages['pull'])} | {_pair(stages['sql'])} | {_pair(stages['begin'])} | "
                f"{_pair(stages['connect'])} | {stats['queries'].get('p50_ms', 0):.0f} | "
                f"{records.get('p50_ms', 0):.0f} / {records.get('max_ms', 0):.0f} |"
            )
    return [*lines, ""]


def _applied_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Poke to applied",
        "",
        "Milliseconds from the commit of a write to the end of the reference client's `pull()` "
        "after which the device held the value written, one sample per write and device whose "
        "scope holds a changed record. The commit is when daphne published the write's first "
        "poke (an on-commit callback; the wrapper reports it in the write's `Server-Timing`, "
        "on the machine's monotonic clock that both processes read). *From the answer*: from "
        "the writer's answer instead (later than the commit by the rest of the publishing and "
        "the response). *Poke*: commit to the poke reaching the device's socket (measured when "
        "one write is in flight at a time). *Pull start*: commit to the start of the pull that "
        "applied it (poke delivery, and waiting for a pull already running to end). CPU: the "
        "daphne processes' CPU time (summed) over the phase's wall time, how busy the whole "
        "machine was (all its CPUs), and the CPUs used meanwhile by processes other than "
        "daphne, this benchmark, PostgreSQL and Redis (other work on the machine disturbs "
        "the numbers).",
        "",
        "| Backend | Phase | Samples | p50 | p95 | p99 | max | From the answer p50 / p99 | "
        "Missed | Poke p50 / p99 | Pull start p50 / p99 | daphne CPU | machine busy | "
        "other processes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for leg in legs:
        for phase in leg["phases"]:
            applied, pokes, cpu = phase["applied"], phase["pokes"], phase["cpu"]
            if phase["phase"] == "quiet":
                cells = "(pulls one at a time) | – | – | – | – | –"
                start = "–"
            else:
                cells = (
                    f"{applied['from_commit'].get('n', 0):,} | {_cells(applied['from_commit'])}"
                    f" | {_pair(applied['from_answer'])}"
                )
                start = _pair(applied["applying_pull_start"])
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {phase['phase']} | {cells} | "
                f"{applied['missed']} | {_pair(pokes['delivery_from_commit'])} | {start} | "
                f"{cpu['daphne_s'] / phase['wall_s']:.0%} | {cpu['machine_busy']:.0%} | "
                f"{cpu.get('others_s', 0.0) / phase['wall_s']:.2f} CPU |"
            )
    lines.append("")
    stray = [
        f"{BACKEND_LABELS[leg['backend']]} {phase['phase']}: "
        f"{phase['pokes']['to_devices_not_concerned']}"
        for leg in legs
        for phase in leg["phases"]
        if phase["pokes"]["to_devices_not_concerned"]
    ]
    lines.append(
        "Pokes to devices no write concerned (technicians, reps whose records were not "
        "touched): " + ("; ".join(stray) if stray else "none") + "."
    )
    errors = [
        f"{BACKEND_LABELS[leg['backend']]} {phase['phase']}: {error}"
        for leg in legs
        for phase in leg["phases"]
        for error in phase["errors"]
    ]
    if errors:
        lines += ["", "**Errors during the run**:", "", *(f"- {e}" for e in errors[:20])]
    logged = [
        f"{BACKEND_LABELS[leg['backend']]}: {line}"
        for leg in legs
        for line in leg["setup"].get("server_errors", [])
    ]
    if logged:
        lines += ["", "Exceptions in daphne's log:", "", *(f"- `{line}`" for line in logged)]
    return [*lines, ""]


def _write_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Writes",
        "",
        "*Counter*: statements on the version counter row (`sync.changelog.allocate_versions`; "
        "on PostgreSQL this includes waiting for the row lock another writer holds until it "
        "commits; on SQLite writers wait at `BEGIN IMMEDIATE` instead, shown as *`BEGIN`*). "
        "*Publish*: the on-commit callback sending the write's pokes through the channel layer "
        "(in the request's thread). *Commit → answer*: "
        "from the first poke published to the writer receiving its answer.",
        "",
        "| Backend | Phase | Kind | Writes | Changes each (p50 / max) | Client p50 / p99 | "
        "Server p50 / p99 | `BEGIN` p50 / p99 | Counter p50 / p99 | Publish p50 / p99 | "
        "Commit → answer p50 / p99 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for phase in leg["phases"]:
            for kind, stats in phase["writes"]["kinds"].items():
                changes = stats["changes"]
                lines.append(
                    f"| {BACKEND_LABELS[leg['backend']]} | {phase['phase']} | {kind} | "
                    f"{stats['count']:,} | {changes['p50_ms']:.0f} / {changes['max_ms']:.0f} | "
                    f"{_pair(stats['client'])} | {_pair(stats['server'])} | "
                    f"{_pair(stats['begin'])} | {_pair(stats['counter'])} | "
                    f"{_pair(stats['publish'])} | {_pair(stats['commit_to_answer'])} |"
                )
    anomalies = [
        f"{BACKEND_LABELS[leg['backend']]} {phase['phase']} {kind}: "
        f"{stats['without_commit_stamp']} without a commit stamp, "
        f"{stats['stamp_outside_request']} stamped outside the request"
        for leg in legs
        for phase in leg["phases"]
        for kind, stats in phase["writes"]["kinds"].items()
        if stats["without_commit_stamp"] or stats["stamp_outside_request"]
    ]
    if anomalies:
        lines += ["", "Commit stamps: " + "; ".join(anomalies) + "."]
    return [*lines, ""]


def _method_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    config = legs[0]["config"]
    live = [(leg, _phase(leg, "live")) for leg in legs]
    rates = "; ".join(
        f"{BACKEND_LABELS[leg['backend']]} {phase['writes']['per_s']:.1f} writes/s, "
        f"{phase['writes']['changes']:,} changes, {phase['writes']['skipped']} writes skipped"
        for leg, phase in live
    )
    return [
        "### How it runs",
        "",
        f"- **quiet**: {config['quiet_rounds']} writes, one at a time: `salesmanager` pushes "
        f"{', '.join(map(str, QUIET_SIZES))} changes (in turn) to records of two reps; then "
        "each device whose scope holds one (the 8 back-office devices, the reps' 4) pulls, one "
        "after the other.",
        f"- **live**: {config['live_seconds']:g} s of writes at {config['rate']:g} a second, "
        f"open loop ({rates}): {1 - REST_SHARE:.0%} a rep's writing device pushing 1–"
        f"{MAX_DELTA} changes to its own accounts, sites and contacts (log-uniform sizes), "
        f"{REST_SHARE:.0%} `salesmanager` editing one account with `PATCH`. Each poke makes "
        "the device pull (one more pull after the current one if it is poked while pulling). "
        "Back-office devices see every change, so their deltas can hold several writes.",
        f"- **fan-out**: {config['fanout_rounds']} push(es) of {FANOUT_CHANGES} account changes "
        f"touching all {REPS} reps (128 devices poked at once), each after the last was applied "
        "everywhere.",
        "- Devices: the reference client (`sync.client.SyncClient`) over `HttpTransport`'s "
        "urllib (a new connection per request), JSON decoded with orjson, each pull in a "
        "thread of its own; sockets with `websockets` on one event loop. Writing devices are "
        "separate devices with no socket. Every write sets a unique, increasing marker in "
        "`accounts.notes`, `sites.access_notes` or `contacts.title`; after each pull the "
        "device's local copy is checked for it. Contacts with an accented e-mail address ("
        + ", ".join(
            f"{BACKEND_LABELS[leg['backend']]} {leg['setup'].get('uneditable_contacts', 0):,}"
            for leg in legs
        )
        + ") are never edited: the seeder stores addresses such as `léa.martin3@example.fr`, "
        "which Django's `EmailValidator` refuses, and every edit runs `full_clean()`, so a push "
        "or `PATCH` that changes only their title is rejected.",
        "- daphne processes: "
        + ", ".join(
            f"{BACKEND_LABELS[leg['backend']]} {leg['config'].get('processes', 1)}" for leg in legs
        )
        + ". With several, devices are spread over them round-robin and each keeps to its own "
        "(a reverse proxy's job in production); pokes cross processes through Redis.",
        f"- Everything runs on one {config['cpus']}-CPU machine: daphne (each process one "
        "core at most for Python), the database, Redis and this benchmark's 200 clients share "
        "it, so the client-side numbers (poke to applied) include the clients' own CPU "
        "contention. Server time does not include the client's work, but does include waiting "
        "for the GIL while daphne serves other requests.",
        "",
    ]


# --------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--scale",
        choices=sorted(ACCOUNTS),
        default="large",
        help="accounts: " + "; ".join(f"{k}: {v:,}" for k, v in ACCOUNTS.items()),
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet-rounds", type=int, default=36)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=4.0, help="live writes a second")
    parser.add_argument("--fanout-rounds", type=int, default=6)
    parser.add_argument(
        "--processes",
        type=int,
        help="daphne processes (default: one per CPU on PostgreSQL, one on SQLite)",
    )
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    # Internal: what the child processes run.
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.load:
        print(json.dumps(load(args.scale, args.seed)))
        return 0
    if args.quiet_rounds < 1 or args.live_seconds <= 0 or args.rate <= 0:
        parser.error("--quiet-rounds, --live-seconds and --rate must be positive")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            scale=args.scale,
            seed=args.seed,
            quiet_rounds=args.quiet_rounds,
            live_seconds=args.live_seconds,
            rate=args.rate,
            fanout_rounds=args.fanout_rounds,
            processes=args.processes,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
