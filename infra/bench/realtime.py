"""Benchmark (issue 6): assignment notices over WebSockets and the push worker's throughput.

    infra/testservices/with-services.sh .venv/bin/python -m infra.bench.realtime \\
        --backend postgres
    .venv/bin/python -m infra.bench.run_all --only realtime --backend postgres --no-write

PostgreSQL only: the benchmark needs two daphne processes sharing one channel layer (Redis)
and one database. On ``--backend sqlite`` it only reports why it was skipped (``SKIPPED``).

**Data.** With the test settings (``FIELDLINE_ENV=test``) and a throwaway
``FIELDLINE_DATA_DIR``, a fresh database is migrated, then a loader child process
(``--load``) runs the demo seeder (``seed_demo.Seeder``: 20 territories, 4 dispatchers, the
technicians, 1,200 accounts with their sites), gives every technician a Monday-to-Friday
08:00-17:00 shift, creates one job per assignment through ``work_order_create`` (at a site of
the technician's own territory where it has one), and signs in, through
``mobile_api.services.device_login`` (no HTTP, so no login throttle), two devices per
technician (a phone and a tablet, each with an FCM token) and one console per dispatcher
(access tokens last 15 minutes; the socket phase takes two).

**Sockets.** Two daphne processes serve ``server.asgi:application`` (``common.daphne``,
sync_delta's thin wrapper: WebSockets untouched, HTTP answers carry a ``Server-Timing``
header), sharing Redis (``RedisPubSubChannelLayer``) and PostgreSQL. Every phone connects to
daphne A's ``/ws/device/?token=…``, every tablet to daphne B's (``large``: 250 technicians,
500 sockets), from one asyncio event loop in this process (``websockets``).

**Assignments.** ``POST /api/v1/work-orders/{id}/assign/`` (one technician, a slot in their
shift on a weekday a week or more ahead, ``dispatch: true``, ``override_reason: "bench"``)
with the token of the dispatcher whose territory holds the job, sent alternately to daphne
A and daphne B, ``--concurrency`` at a time (a thread each), in ``--bursts`` bursts
(``large``: 10 of 100) with ``--pause`` seconds between them, in a shuffled order. Each
assignment writes a numbered ``DeviceNotice`` and an outbox ``Notification`` in its
transaction and, after commit, publishes the notice to the technician's sockets: one on the
daphne that served the request, one on the other. Their server time is split with the
wrapper's ``Server-Timing`` stages (DRF's ``dispatch``, SQL, the change log's version counter
row, on-commit publishing).

**Latency.** Commit to delivery, per notice and socket, for notices that arrived live (not
by replay): the client's wall clock when the message was read minus the notice's ``at`` (the
``DeviceNotice``'s creation time, inside the transaction, a few milliseconds before the
commit; same machine, same clock). Beside it, from the publish stamp (when the request's
on-commit callback began publishing, right after the commit, on the machine's monotonic clock,
from the answer's ``Server-Timing``). The **floor** is the raw Redis pub/sub round trip on
the same Redis and the same event loop (``redis.asyncio``: a publisher, a subscriber, one
message at a time, ``--floor-samples`` before the bursts and one every 20 ms during them),
and the event loop's own lag (a 5 ms sleep's overshoot) is recorded during the bursts.

**Completeness.** When the burst in the middle (``bursts // 2``) starts, every socket is
closed; they all reconnect at once with ``?last_seq=N``, N being the highest number below
which the device has every notice (what an app keeps), while that burst runs. The server
replays what the device missed, then pokes; notices between the ``hello`` and that poke count
as replayed. After the last burst every device must hold every number from 1 to its user's
latest ``DeviceNotice`` (read from the database): missing ones are counted (target: none), and
so are duplicates (allowed, the app drops them) and numbers that arrived out of order.

**Push worker.** Then daphne stops, the FCM test server starts in its own process
(``python -m tests.fcm_server``, real pyfcm against it, service-account tokens included),
and ``manage.py run_worker --idle-sleep 0.05`` processes send the outbox: first one worker
for the assignments' rows plus ``--bulk-rows`` queued at once (``bulk_create``, one row per
technician in turn, like an assignment's), then two workers for as many fresh rows; and the
same again with the server answering after ``--fcm-delays`` (0 and 50 ms: a round trip to
FCM over the internet, which is what a worker's 16 sending threads overlap). The
rows wait, due tomorrow, until the workers have loaded Django and idle (their start-up is
reported apart); one ``UPDATE`` then makes them all due, and the workers are timed from
there until no row is pending (polled every 50 ms). Every row must be ``sent`` and the test
server must have received one message per row and device. Rows/s and messages/s over that
time, and steady messages/s between the first and last ``sent_at``.

CPU seconds per process (daphne A and B, this client, PostgreSQL and Redis, the workers, the
FCM server) come from ``/proc`` for each phase, and exceptions from daphne's and the
workers' logs. Everything shares one 2-CPU machine, the client included.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import http.client
import itertools
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .account_list import BenchError, manage, prepare_environment
from .common import (
    REPO_ROOT,
    Server,
    daphnes,
    die_with_parent,
    machine_cpu,
    process_cpu_s,
    report,
    run_child,
    server_errors,
    service_cpu_s,
    stop,
)
from .sync_delta import parse_timing, summarize

BENCHMARK = "realtime"
TARGET_P95_MS = 1000.0  # commit to WebSocket delivery
SKIPPED = (
    "skipped: this benchmark needs two daphne processes that share one channel layer and one "
    "database. The embedded default's channel layer (`InMemoryChannelLayer`) lives inside one "
    "process, so a notice committed through daphne A never reaches a socket on daphne B. It "
    "runs on the PostgreSQL leg, with Redis."
)
REPS = 20  # the demo map's territories
DISPATCHERS = 4
DEVICE_KINDS = (("phone", "android"), ("tablet", "ios"))  # phone on daphne A, tablet on B
ASSIGN_PATH = "/api/v1/work-orders/{id}/assign/"
SHIFT = (dt.time(8), dt.time(17))
JOB_MINUTES = 60
PARIS = "Europe/Paris"
STARTUP_TIMEOUT_S = 60.0
SOCKET_TIMEOUT_S = 60.0
SOCKETS_AT_ONCE = 50  # initial connections (the storm reconnects everything at once)
SETTLE_TIMEOUT_S = 60.0
FLOOR_INTERVAL_S = 0.02
LAG_INTERVAL_S = 0.005
ROUND_TIMEOUT_S = 600.0
POLL_S = 0.05
IDLE_CPU_S = 0.05  # a worker's CPU growth over 0.25 s below which it is idle
DISTURBED_CPU = 0.25  # other processes' CPUs over a phase beyond which the report warns


@dataclass(frozen=True)
class Size:
    technicians: int
    assignments: int
    bursts: int
    accounts: int
    bulk_rows: int
    floor_samples: int


SIZES = {
    "large": Size(
        technicians=250,
        assignments=1_000,
        bursts=10,
        accounts=1_200,
        bulk_rows=5_000,
        floor_samples=1_000,
    ),
    "small": Size(
        technicians=25, assignments=100, bursts=4, accounts=150, bulk_rows=500, floor_samples=200
    ),
}


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


def skipped_leg(backend: str) -> dict[str, Any]:
    return {"benchmark": BENCHMARK, "backend": backend, "skipped": SKIPPED}


# ------------------------------------------------------------------------------ loading


def job_day(today: dt.date) -> dt.date:
    """The first Tuesday at least a week after ``today``: a working day for every shift."""
    day = today + dt.timedelta(days=7)
    return day + dt.timedelta(days=(1 - day.weekday()) % 7)


def load(size: Size, seed: int) -> dict[str, Any]:
    """(In a child process.) The demo seeder's users, map and customers; shifts; one job per
    assignment; the devices and their tokens; then, on PostgreSQL, ``VACUUM ANALYZE``."""
    import django

    django.setup()
    from zoneinfo import ZoneInfo

    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Site
    from field_service.models import ShiftPattern
    from field_service.services import work_order_create
    from mobile_api.services import device_login
    from server.access import scope_keys_for
    from server.management.commands.seed_demo import DEMO_PASSWORD, Scale, Seeder
    from server.models import User
    from territories.models import MemberRole
    from territories.scope import DISPATCH_PREFIX, member_codes
    from territories.selectors import site_territory_codes

    from .account_list import database_description

    rng = random.Random(seed)
    started = time.perf_counter()
    Seeder(
        random.Random(seed),
        Scale(
            accounts=size.accounts,
            technicians=size.technicians,
            reps=REPS,
            dispatchers=DISPATCHERS,
            # No demo jobs: every notice and outbox row is one of the benchmark's.
            jobs_per_technician=0,
        ),
    ).run()
    seed_s = time.perf_counter() - started

    started = time.perf_counter()
    technicians = list(
        User.objects.filter(username__in=[f"tech{n}" for n in range(1, size.technicians + 1)])
        .order_by("pk")
    )  # fmt: skip
    ShiftPattern.objects.bulk_create(
        [
            ShiftPattern(user=tech, weekday=weekday, start=SHIFT[0], end=SHIFT[1])
            for tech in technicians
            for weekday in range(5)
        ]
    )
    dispatchers = list(User.objects.filter(username__startswith="dispatcher").order_by("pk"))
    dispatcher_of: dict[str, int] = {}
    prefix = f"{DISPATCH_PREFIX}:"
    for number, dispatcher in enumerate(dispatchers):
        for key in scope_keys_for(dispatcher):
            if key.startswith(prefix):
                dispatcher_of.setdefault(key[len(prefix) :], number)
    site_ids = list(Site.objects.order_by("pk").values_list("pk", flat=True))
    code_of = site_territory_codes(site_ids)
    sites_in: dict[str, list[str]] = {}
    for site_id in site_ids:
        if code_of.get(site_id) in dispatcher_of:
            sites_in.setdefault(code_of[site_id], []).append(site_id)
    for pool in sites_in.values():
        rng.shuffle(pool)
    if not sites_in:
        raise BenchError("no site lies in a territory a dispatcher dispatches")
    home_of = {
        tech.pk: sorted(
            member_codes(tech.pk, [MemberRole.TECHNICIAN]).get(MemberRole.TECHNICIAN, set())
        )
        for tech in technicians
    }

    # Job k of technician t is the k-th slot of their shift on the day; jobs go round the
    # technicians, so each has about the same number.
    day = job_day(timezone.localdate())
    per_technician = math.ceil(size.assignments / len(technicians))
    spacing = dt.timedelta(minutes=max(JOB_MINUTES, 9 * 60 // per_technician))
    first = dt.datetime.combine(day, SHIFT[0], tzinfo=ZoneInfo(PARIS))
    plan = [(tech, k) for k in range(per_technician) for tech in technicians][: size.assignments]
    servicemanager = User.objects.get(username="servicemanager")
    jobs = []
    in_home_territory = 0
    with transaction.atomic():
        for number, (tech, k) in enumerate(plan):
            if not sites_in:
                raise BenchError(f"only {number} sites for {size.assignments} jobs")
            codes = [c for c in home_of[tech.pk] if sites_in.get(c)]
            if codes:
                in_home_territory += 1
                code = codes[0]
            else:  # no site left at home: anywhere (the assignment overrides the warning)
                code = max(sites_in, key=lambda c: len(sites_in[c]))
            site = Site.objects.select_related("account").get(pk=sites_in[code].pop())
            if not sites_in[code]:
                del sites_in[code]
            order = work_order_create(
                actor=servicemanager,
                account=site.account,
                site=site,
                kind="repair",
                description=f"Benchmark job {number + 1}",
                estimated_minutes=JOB_MINUTES,
            )
            start = first + k * spacing
            jobs.append(
                {
                    "id": order.pk,
                    "technician": tech.pk,
                    "dispatcher": dispatcher_of[code],
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=JOB_MINUTES)).isoformat(),
                }
            )
    jobs_s = time.perf_counter() - started

    started = time.perf_counter()
    devices = []
    for tech in technicians:
        for kind, platform in DEVICE_KINDS:
            _, pair = device_login(
                username=tech.username,
                password=DEMO_PASSWORD,
                client_id=f"bench-{tech.username}-{kind}",
                platform=platform,
                app_version="1.0.0",
                fcm_token=f"bench-fcm-{tech.username}-{kind}",
            )
            devices.append(
                {
                    "name": f"{tech.username}-{kind}",
                    "user_id": tech.pk,
                    "kind": kind,
                    "token": pair.access,
                }
            )
    consoles = []
    for dispatcher in dispatchers:
        _, pair = device_login(
            username=dispatcher.username,
            password=DEMO_PASSWORD,
            client_id=f"bench-{dispatcher.username}-console",
            platform="web",
            app_version="1.0.0",
        )
        consoles.append({"username": dispatcher.username, "token": pair.access})
    devices_s = time.perf_counter() - started

    analyze_s = None
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - started
    return {
        "database": database_description(),
        "seed_s": seed_s,
        "jobs_s": jobs_s,
        "devices_s": devices_s,
        "analyze_s": analyze_s,
        "day": day.isoformat(),
        "technicians": len(technicians),
        "jobs_in_home_territory": in_home_territory,
        "jobs": jobs,
        "devices": devices,
        "consoles": consoles,
    }


# ------------------------------------------------------------------------------ devices


@dataclass
class Arrival:
    """The first copy of one notice on one device."""

    seq: int
    work_order: str
    at: float  # the notice's ``at``, epoch seconds
    wall: float  # when the client read it, epoch seconds
    mono: float  # the same moment on the monotonic clock
    replayed: bool


@dataclass(eq=False)
class Device:
    name: str
    user_id: int
    token: str
    server: Server
    socket: Any = None
    listener: asyncio.Task[None] | None = None
    closing: bool = False
    replaying: bool = False  # between a reconnect's hello and its poke
    copies: Counter[int] = field(default_factory=Counter)  # seq -> copies received
    arrivals: list[Arrival] = field(default_factory=list)
    contiguous: int = 0  # every number up to this one has arrived
    highest: int = 0
    out_of_order: int = 0
    hellos: list[int] = field(default_factory=list)  # the latest number each hello gave
    reconnect_started: float = 0.0
    reconnected_at: float | None = None  # hello after the storm
    caught_up_at: float | None = None  # poke after the storm's replay
    pokes: int = 0
    other: Counter[str] = field(default_factory=Counter)

    def url(self, last_seq: int | None) -> str:
        query = {"token": self.token}
        if last_seq is not None:
            query["last_seq"] = str(last_seq)
        base = self.server.base_url.replace("http://", "ws://")
        return f"{base}/ws/device/?{urllib.parse.urlencode(query)}"

    def note(self, message: Mapping[str, Any], wall: float, mono: float) -> None:
        seq = int(message["seq"])
        self.copies[seq] += 1
        if self.copies[seq] > 1:
            return
        if seq < self.highest:
            self.out_of_order += 1
        self.highest = max(self.highest, seq)
        while self.copies[self.contiguous + 1]:
            self.contiguous += 1
        payload = message.get("payload") or {}
        self.arrivals.append(
            Arrival(
                seq=seq,
                work_order=str(payload.get("work_order", "")),
                at=dt.datetime.fromisoformat(message["at"]).timestamp(),
                wall=wall,
                mono=mono,
                replayed=self.replaying,
            )
        )


@dataclass
class Job:
    index: int
    id: str
    technician: int
    dispatcher: int
    start: str
    end: str


@dataclass
class Assignment:
    """One assignment request: where it went, how it went, and when."""

    job: Job
    burst: int
    server: int  # 0: daphne A, 1: daphne B
    status: int = 0
    error: str = ""
    sent: float = 0.0  # monotonic
    returned: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def published(self) -> float | None:
        """When the on-commit callback began publishing (monotonic seconds), if reported."""
        ns = self.timing.get("commit")
        return ns / 1e9 if ns else None


# ------------------------------------------------------------------------------ instruments


class Floor:
    """Redis pub/sub round trips on this event loop: publish one message, time its arrival
    on a subscriber (another connection), then the next."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.channel = f"bench.realtime.floor.{os.getpid()}"
        # A message about the size of a notice.
        self.padding = "x" * 300
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.counter = itertools.count()

    async def __aenter__(self) -> Floor:
        import redis.asyncio as aioredis

        self.publisher = aioredis.from_url(self.url)
        self.subscriber = aioredis.from_url(self.url)
        self.pubsub = self.subscriber.pubsub()
        await self.pubsub.subscribe(self.channel)
        # Wait for the subscription to be confirmed before publishing anything.
        while (await self.pubsub.get_message(timeout=5.0)) is None:
            pass
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        with suppress(asyncio.CancelledError):
            await self.reader
        await self.pubsub.unsubscribe(self.channel)
        await self.pubsub.aclose()
        await self.publisher.aclose()
        await self.subscriber.aclose()

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            received = time.perf_counter()
            if message is None:
                continue
            number = int(orjson.loads(message["data"])["n"])
            waiter = self.waiting.pop(number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(received)

    async def sample(self) -> float:
        """One round trip, in milliseconds."""
        number = next(self.counter)
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[number] = waiter
        body = orjson.dumps({"n": number, "padding": self.padding})
        sent = time.perf_counter()
        await self.publisher.publish(self.channel, body)
        received = await asyncio.wait_for(waiter, timeout=10.0)
        return (received - sent) * 1e3

    async def samples(self, count: int) -> list[float]:
        return [await self.sample() for _ in range(count)]

    async def sample_every(self, interval: float, into: list[float]) -> None:
        """Until cancelled: one round trip every ``interval`` seconds."""
        while True:
            into.append(await self.sample())
            await asyncio.sleep(interval)


async def measure_lag(interval: float, into: list[float]) -> None:
    """Until cancelled: how late (ms) the event loop wakes from an ``interval`` sleep."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        into.append((time.perf_counter() - started - interval) * 1e3)


def parent_pid(pid: int) -> int | None:
    with suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def leg_services() -> tuple[int, int]:
    """The pids of this leg's PostgreSQL postmaster and Redis server (other instances may run
    on the machine, another engineer's tests for one)."""
    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    postmaster = parent_pid(backend)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        redis_pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    if postmaster is None:
        raise BenchError("cannot find PostgreSQL's postmaster in /proc")
    return postmaster, redis_pid


class CpuMeter:
    """CPU seconds of the named processes, this process, this leg's PostgreSQL (postmaster
    and backends) and Redis, and the whole machine, between ``start`` and ``stop``."""

    def __init__(self, pids: Mapping[str, int], services: tuple[int, int]) -> None:
        self.pids = dict(pids)
        self.services = services
        self.started: dict[str, Any] = {}

    def _services(self) -> dict[int, float]:
        postmaster, redis_pid = self.services
        return {
            pid: seconds
            for pid, seconds in service_cpu_s().items()
            if pid in (postmaster, redis_pid) or parent_pid(pid) == postmaster
        }

    def _read(self) -> dict[str, Any]:
        processes = {}
        for name, pid in self.pids.items():
            with suppress(OSError):
                processes[name] = process_cpu_s(pid)
        return {
            "processes": processes,
            "bench": time.process_time(),
            "services": self._services(),
            "machine": machine_cpu(),
            "wall": time.perf_counter(),
        }

    def start(self) -> None:
        self.started = self._read()

    def stop(self) -> dict[str, Any]:
        now, then = self._read(), self.started
        wall = now["wall"] - then["wall"]
        processes = {
            name: seconds - then["processes"].get(name, 0.0)
            for name, seconds in now["processes"].items()
        }
        bench = now["bench"] - then["bench"]
        services = sum(s - then["services"].get(pid, 0.0) for pid, s in now["services"].items())
        busy = (now["machine"][0] - then["machine"][0]) / os.sysconf("SC_CLK_TCK")
        total = now["machine"][1] - then["machine"][1]
        return {
            "wall_s": wall,
            "processes_s": processes,
            "bench_s": bench,
            "services_s": services,
            "machine_busy": (now["machine"][0] - then["machine"][0]) / max(1, total),
            # Everything else on the machine (another engineer's tests, say).
            "others_s": max(0.0, busy - sum(processes.values()) - bench - services),
        }


# ------------------------------------------------------------------------------ session


class Session:
    """The sockets and the assignments of one run, driven from one event loop; assignment
    requests run in threads (``concurrency`` at a time)."""

    def __init__(
        self, servers: Sequence[Server], loaded: Mapping[str, Any], concurrency: int, seed: int
    ) -> None:
        self.servers = list(servers)
        self.devices = [
            Device(
                name=d["name"],
                user_id=int(d["user_id"]),
                token=d["token"],
                server=self.servers[[k for k, _ in DEVICE_KINDS].index(d["kind"])],
            )
            for d in loaded["devices"]
        ]
        self.consoles = [c["token"] for c in loaded["consoles"]]
        jobs = [Job(index=n, **job) for n, job in enumerate(loaded["jobs"])]
        random.Random(seed).shuffle(jobs)
        self.jobs = jobs
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="assign")
        self.tasks: set[asyncio.Task[Any]] = set()
        self.errors: list[str] = []
        self.assignments: list[Assignment] = []

    # ---- sockets -------------------------------------------------------------------------

    async def open(self, device: Device, last_seq: int | None) -> None:
        from websockets.asyncio.client import connect

        device.socket = await connect(
            device.url(last_seq),
            compression=None,
            proxy=None,
            open_timeout=SOCKET_TIMEOUT_S,
            max_size=None,
        )
        hello = orjson.loads(await asyncio.wait_for(device.socket.recv(), SOCKET_TIMEOUT_S))
        if hello.get("type") != "hello":
            raise BenchError(f"{device.name}: expected hello, got {hello!r}"[:300])
        device.hellos.append(int(hello["seq"]))
        device.replaying = last_seq is not None
        device.closing = False
        device.listener = asyncio.ensure_future(self.listen(device))

    async def listen(self, device: Device) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in device.socket:
                wall, mono = time.time(), time.perf_counter()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "notice":
                    device.note(message, wall, mono)
                elif kind == "sync.poke":
                    device.pokes += 1
                    if device.replaying:
                        device.replaying = False
                        device.caught_up_at = mono
                    if message.get("reason"):
                        device.other[f"poke {message['reason']}"] += 1
                else:
                    device.other[str(kind)] += 1
        except ConnectionClosed as error:
            if not device.closing:
                self.errors.append(f"{device.name}: socket closed: {error!r}"[:300])

    async def connect_all(self) -> float:
        limit = asyncio.Semaphore(SOCKETS_AT_ONCE)

        async def one(device: Device) -> None:
            async with limit:
                await self.open(device, None)

        started = time.perf_counter()
        await asyncio.gather(*(one(device) for device in self.devices))
        return time.perf_counter() - started

    async def close_all(self) -> float:
        started = time.perf_counter()
        for device in self.devices:
            device.closing = True
        await asyncio.gather(
            *(d.socket.close() for d in self.devices if d.socket is not None),
            return_exceptions=True,
        )
        await asyncio.gather(
            *(d.listener for d in self.devices if d.listener is not None), return_exceptions=True
        )
        return time.perf_counter() - started

    async def reconnect_all(self) -> dict[str, Any]:
        """Every device at once, each with the highest number below which it has everything;
        returns when every one has been replayed to (its poke) or timed out."""

        async def one(device: Device) -> None:
            device.reconnect_started = time.perf_counter()
            device.caught_up_at = None
            try:
                await self.open(device, device.contiguous)
            except Exception as error:  # noqa: BLE001 - reported with the results
                self.errors.append(f"{device.name}: reconnect failed: {error!r}"[:300])
                return
            device.reconnected_at = time.perf_counter()

        started = time.perf_counter()
        await asyncio.gather(*(one(device) for device in self.devices))
        connected = time.perf_counter()
        deadline = connected + SETTLE_TIMEOUT_S
        while time.perf_counter() < deadline and any(d.caught_up_at is None for d in self.devices):
            await asyncio.sleep(0.01)
        ended = time.perf_counter()
        return {
            "all_connected_s": connected - started,
            "all_caught_up_s": ended - started,
            "not_caught_up": sum(1 for d in self.devices if d.caught_up_at is None),
            "connect_ms": summarize(
                [
                    (d.reconnected_at - d.reconnect_started) * 1e3
                    for d in self.devices
                    if d.reconnected_at is not None
                ]
            ),
            "caught_up_ms": summarize(
                [
                    (d.caught_up_at - d.reconnect_started) * 1e3
                    for d in self.devices
                    if d.caught_up_at is not None
                ]
            ),
        }

    # ---- assignments ---------------------------------------------------------------------

    def _assign(self, assignment: Assignment) -> Assignment:
        job = assignment.job
        server = self.servers[assignment.server]
        parsed = urllib.parse.urlsplit(server.base_url)
        body = orjson.dumps(
            {
                "technicians": [job.technician],
                "start": job.start,
                "end": job.end,
                "dispatch": True,
                "override_reason": "bench",
            }
        )
        headers = {
            "Authorization": f"Bearer {self.consoles[job.dispatcher]}",
            "Content-Type": "application/json",
        }
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=120)
        try:
            assignment.sent = time.perf_counter()
            connection.request("POST", ASSIGN_PATH.format(id=job.id), body, headers)
            response = connection.getresponse()
            raw = response.read()
            assignment.returned = time.perf_counter()
            assignment.status = response.status
            assignment.timing = parse_timing(response.getheader("server-timing"))
            if response.status != 200:
                assignment.error = f"HTTP {response.status}: {raw[:300]!r}"
        except OSError as error:
            assignment.returned = time.perf_counter()
            assignment.error = repr(error)[:300]
        finally:
            connection.close()
        return assignment

    async def burst(self, number: int, jobs: Sequence[Job]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        # Alternately to daphne A and daphne B, in the order sent.
        first = len(self.assignments)
        batch = [
            Assignment(job=job, burst=number, server=(first + n) % len(self.servers))
            for n, job in enumerate(jobs)
        ]
        self.assignments += batch
        started = time.perf_counter()
        await asyncio.gather(*(loop.run_in_executor(self.pool, self._assign, a) for a in batch))
        wall = time.perf_counter() - started
        failed = [a for a in batch if a.error]
        self.errors += [f"assign {a.job.id}: {a.error}" for a in failed[:10]]
        return {"burst": number, "assignments": len(batch), "failed": len(failed), "wall_s": wall}

    def expected(self) -> Counter[int]:
        """Notices each technician should have: one per successful assignment."""
        return Counter(a.job.technician for a in self.assignments if a.status == 200)

    async def settle(self) -> float:
        """Wait until every device holds every notice its user should have."""
        started = time.perf_counter()
        expected = self.expected()
        deadline = started + SETTLE_TIMEOUT_S
        while time.perf_counter() < deadline and any(
            d.contiguous < expected[d.user_id] for d in self.devices
        ):
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


# ------------------------------------------------------------------------------ drive


async def drive(
    servers: Sequence[Server],
    loaded: Mapping[str, Any],
    *,
    bursts: int,
    concurrency: int,
    pause_s: float,
    floor_samples: int,
    seed: int,
    services: tuple[int, int],
) -> dict[str, Any]:
    session = Session(servers, loaded, concurrency, seed)
    redis_url = os.environ["REDIS_URL"]
    meter = CpuMeter({"daphne A": servers[0].pid, "daphne B": servers[1].pid}, services)
    result: dict[str, Any] = {}
    try:
        result["connect_s"] = await session.connect_all()
        log(f"{len(session.devices)} sockets connected in {result['connect_s']:.1f}s")
        gc.collect()
        gc.freeze()
        async with Floor(redis_url) as floor:
            await floor.samples(min(50, floor_samples))  # warm-up
            result["floor_idle_ms"] = await floor.samples(floor_samples)
            log(f"Redis floor (idle): p50 {statistics.median(result['floor_idle_ms']):.2f} ms")
            floor_busy: list[float] = []
            lag: list[float] = []
            background = [
                asyncio.ensure_future(floor.sample_every(FLOOR_INTERVAL_S, floor_busy)),
                asyncio.ensure_future(measure_lag(LAG_INTERVAL_S, lag)),
            ]
            per_burst = math.ceil(len(session.jobs) / bursts)
            storm_at = bursts // 2
            runs = []
            meter.start()
            for number in range(bursts):
                jobs = session.jobs[number * per_burst : (number + 1) * per_burst]
                if number == storm_at:
                    closed_s = await session.close_all()
                    log(f"storm: {len(session.devices)} sockets closed in {closed_s:.2f}s")
                    running = asyncio.ensure_future(session.burst(number, jobs))
                    storm = await session.reconnect_all()
                    storm["closed_s"] = closed_s
                    runs.append(await running)
                    log(
                        f"storm: reconnected in {storm['all_connected_s']:.1f}s, caught up in "
                        f"{storm['all_caught_up_s']:.1f}s"
                    )
                    result["storm"] = storm
                else:
                    runs.append(await session.burst(number, jobs))
                log(f"burst {number + 1}/{bursts}: {runs[-1]['wall_s']:.2f}s")
                if number < bursts - 1:
                    await asyncio.sleep(pause_s)
            result["settle_s"] = await session.settle()
            result["cpu"] = meter.stop()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            result["floor_busy_ms"] = floor_busy
            result["lag_ms"] = lag
            result["bursts"] = runs
            result["storm_burst"] = storm_at
    finally:
        await session.close_all()
        session.shutdown()
    result["session"] = session
    return result


# ------------------------------------------------------------------------------ checks


def notices_in_database() -> dict[int, tuple[int, int]]:
    """User id -> (latest number, notices kept), from ``DeviceNotice``."""
    from django.db.models import Count, Max

    from server.models import DeviceNotice

    return {
        row["user_id"]: (row["latest"], row["kept"])
        for row in DeviceNotice.objects.values("user_id").annotate(
            latest=Max("seq"), kept=Count("id")
        )
    }


def completeness(session: Session) -> dict[str, Any]:
    """Every device against its user's notices in the database."""
    stored = notices_in_database()
    expected = session.expected()
    missing: list[str] = []
    missing_count = 0
    for device in session.devices:
        latest = stored.get(device.user_id, (0, 0))[0]
        absent = [n for n in range(1, latest + 1) if not device.copies[n]]
        missing_count += len(absent)
        if absent and len(missing) < 20:
            missing.append(f"{device.name} (user {device.user_id}): {absent[:10]}")
    arrivals = [a for d in session.devices for a in d.arrivals]
    return {
        "devices": len(session.devices),
        "notices": sum(latest for latest, _ in stored.values()),
        "numbering_gaps": sum(1 for latest, kept in stored.values() if latest != kept),
        "database_vs_answers": sum(
            1
            for user, count in expected.items()
            if stored.get(user, (0, 0))[0] != count
        ),
        "deliveries_expected": sum(
            stored.get(d.user_id, (0, 0))[0] for d in session.devices
        ),
        "received": len(arrivals),
        "live": sum(1 for a in arrivals if not a.replayed),
        "replayed": sum(1 for a in arrivals if a.replayed),
        "missing": missing_count,
        "missing_examples": missing,
        "duplicates": sum(
            copies - 1 for d in session.devices for copies in d.copies.values() if copies > 1
        ),
        "out_of_order": sum(d.out_of_order for d in session.devices),
        "pokes": sum(d.pokes for d in session.devices),
        "other_messages": dict(
            sum((d.other for d in session.devices), Counter()).most_common()
        ),
    }  # fmt: skip


def latencies(session: Session, storm_burst: int) -> dict[str, Any]:
    """Commit to delivery of the notices that arrived live, in ms, several ways."""
    by_job = {a.job.id: a for a in session.assignments}
    groups: dict[str, list[float]] = {
        "all": [],
        "steady": [],
        "storm": [],
        "same": [],
        "cross": [],
        "from_publish": [],
        "at_to_publish": [],
    }
    wall_minus_mono = time.time() - time.perf_counter()
    unmatched = 0
    for device in session.devices:
        for arrival in device.arrivals:
            if arrival.replayed:
                continue
            delay = (arrival.wall - arrival.at) * 1e3
            groups["all"].append(delay)
            assignment = by_job.get(arrival.work_order)
            if assignment is None:
                unmatched += 1
                continue
            groups["storm" if assignment.burst == storm_burst else "steady"].append(delay)
            here = session.servers[assignment.server] is device.server
            groups["same" if here else "cross"].append(delay)
            published = assignment.published
            if published is not None:
                groups["from_publish"].append((arrival.mono - published) * 1e3)
                groups["at_to_publish"].append((published + wall_minus_mono - arrival.at) * 1e3)
    return {"unmatched": unmatched, **{name: summarize(v) for name, v in groups.items()}}


def assignment_stats(session: Session) -> dict[str, Any]:
    done = [a for a in session.assignments if a.returned]
    return {
        "count": len(session.assignments),
        "statuses": {
            str(k): v for k, v in sorted(Counter(a.status for a in session.assignments).items())
        },
        "client_ms": summarize([(a.returned - a.sent) * 1e3 for a in done]),
        "server_ms": summarize([a.timing["app"] for a in done if "app" in a.timing]),
        "view_ms": summarize([a.timing["view"] for a in done if "view" in a.timing]),
        "sql_ms": summarize([a.timing["sql"] for a in done if "sql" in a.timing]),
        "counter_ms": summarize([a.timing["counter"] for a in done if "counter" in a.timing]),
        "queries": summarize([a.timing["queries"] for a in done if "queries" in a.timing]),
        "publish_ms": summarize([a.timing["publish"] for a in done if "publish" in a.timing]),
        "without_publish_stamp": sum(1 for a in done if a.status == 200 and a.published is None),
        "by_server": dict(Counter("AB"[a.server] for a in session.assignments)),
    }


# ------------------------------------------------------------------------------ push worker


@contextmanager
def fcm_test_server(log_dir: Path, delay_s: float) -> Iterator[tuple[dict[str, str], int, str]]:
    """``python -m tests.fcm_server`` in its own process: (the variables that point pyfcm at
    it, its pid, its base URL); stopped on exit."""
    with (log_dir / "fcm-server.log").open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                sys.executable,
                "-m",
                "tests.fcm_server",
                "--service-account",
                str(log_dir / "fcm-service-account.json"),
                "--delay",
                str(delay_s),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, no locks
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            tail = (log_dir / "fcm-server.log").read_text(errors="replace")[-2000:]
            raise BenchError(f"the FCM test server did not start:\n{tail}")
        environment: dict[str, str] = json.loads(line)
        endpoint = urllib.parse.urlsplit(environment["FCM_ENDPOINT_BASE"])
        yield environment, process.pid, f"{endpoint.scheme}://{endpoint.netloc}"
    finally:
        stop(process)


def fcm_received(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/_received", timeout=10) as response:  # noqa: S310
        body: dict[str, int] = json.loads(response.read())
        return body


def queue_rows(count: int, technicians: Sequence[int]) -> None:
    """``count`` pending push notifications shaped like an assignment's, one technician after
    the other."""
    from server.models import Notification

    rows = [
        Notification(
            user_id=technicians[n % len(technicians)],
            kind="job.assigned",
            title="New job",
            body=f"Repair at Main site, bulk {n + 1}",
            data={"work_order": f"bulk{n + 1:011d}", "state": "dispatched"},
            collapse_key=f"job-bulk{n + 1}",
        )
        for n in range(count)
    ]
    Notification.objects.bulk_create(rows, batch_size=1000)


def wait_started(processes: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path]) -> float:
    """Wait until every worker has loaded Django and sits polling an empty outbox: its CPU
    time grows by less than ``IDLE_CPU_S`` over two ``POLL_S * 5`` intervals in a row (start-up
    is a second or so of solid CPU). Returns the seconds waited."""
    started = time.perf_counter()
    time.sleep(1.0)
    quiet = 0
    last = [process_cpu_s(p.pid) for p in processes]
    while quiet < 2:
        if any(p.poll() is not None for p in processes):
            tail = logs[0].read_text(errors="replace")[-2000:]
            raise BenchError(f"a worker exited early:\n{tail}")
        if time.perf_counter() - started > STARTUP_TIMEOUT_S:
            raise BenchError(f"the workers were still starting after {STARTUP_TIMEOUT_S:g}s")
        time.sleep(POLL_S * 5)
        now = [process_cpu_s(p.pid) for p in processes]
        busy = any(n - b >= IDLE_CPU_S for n, b in zip(now, last, strict=True))
        quiet = 0 if busy else quiet + 1
        last = now
    return time.perf_counter() - started


def push_round(
    *,
    workers: int,
    rows_to_queue: int,
    technicians: Sequence[int],
    fcm: tuple[dict[str, str], int, str],
    log_dir: Path,
    idle_sleep: float,
    services: tuple[int, int],
) -> dict[str, Any]:
    """Queue rows held back (due tomorrow), start ``workers`` ``run_worker`` processes and
    wait until they idle, then make every pending row due at once and time the workers until
    none is pending; then stop them and check every row and message."""
    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from mobile_api.models import Device
    from server.models import Notification, OutboxState

    environment, fcm_pid, fcm_base = fcm
    queue_rows(rows_to_queue, technicians)
    pending = Notification.objects.filter(state=OutboxState.PENDING)
    pending.update(next_attempt_at=timezone.now() + dt.timedelta(days=1))
    ids = list(pending.values_list("pk", flat=True))
    tokens = dict(
        Device.objects.filter(revoked_at__isnull=True, fcm_token_active=True)
        .exclude(fcm_token="")
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    expected_messages = sum(
        tokens.get(user, 0)
        for user in Notification.objects.filter(pk__in=ids).values_list("user_id", flat=True)
    )
    before = fcm_received(fcm_base)
    env = {**os.environ, **environment}
    processes: list[subprocess.Popen[bytes]] = []
    logs = [log_dir / f"worker-{workers}-{n}.log" for n in range(workers)]
    try:
        for path in logs:
            with path.open("wb") as output:
                processes.append(
                    subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                        [
                            sys.executable,
                            str(REPO_ROOT / "manage.py"),
                            "run_worker",
                            "--idle-sleep",
                            str(idle_sleep),
                        ],
                        cwd=REPO_ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, no locks
                    )
                )
        startup_s = wait_started(processes, logs)
        meter = CpuMeter(
            {"FCM server": fcm_pid}
            | {f"worker {n + 1}": process.pid for n, process in enumerate(processes)},
            services,
        )
        meter.start()
        started = time.perf_counter()
        released_at = timezone.now()
        pending.update(next_attempt_at=released_at)
        deadline = started + ROUND_TIMEOUT_S
        while pending.exists():
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"{workers} worker(s) left {pending.count()} rows pending after "
                    f"{ROUND_TIMEOUT_S:g}s"
                )
            if any(p.poll() is not None for p in processes):
                tail = logs[0].read_text(errors="replace")[-2000:]
                raise BenchError(f"a worker exited early:\n{tail}")
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
    after = fcm_received(fcm_base)
    rows = Notification.objects.filter(pk__in=ids)
    states = dict(Counter(rows.values_list("state", flat=True)))
    span = rows.filter(state=OutboxState.SENT).aggregate(first=Min("sent_at"), last=Max("sent_at"))
    messages = after["messages"] - before["messages"]
    steady_s = (
        (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0.0
    )
    return {
        "workers": workers,
        "rows": len(ids),
        "states": states,
        "attempts_over_one": rows.filter(attempts__gt=1).count(),
        "expected_messages": expected_messages,
        "messages": messages,
        "token_requests": after["token_requests"] - before["token_requests"],
        "startup_s": startup_s,
        "elapsed_s": elapsed,
        "first_sent_after_s": (
            (span["first"] - released_at).total_seconds() if span["first"] else math.nan
        ),
        "rows_per_s": len(ids) / elapsed,
        "messages_per_s": messages / elapsed,
        "steady_messages_per_s": messages / steady_s if steady_s else math.nan,
        "cpu": cpu,
        "log_errors": [line for path in logs for line in server_errors(path)],
    }


def push_throughput(
    log_dir: Path,
    technicians: Sequence[int],
    bulk_rows: int,
    fcm_delays: Sequence[float],
    services: tuple[int, int],
) -> dict[str, Any]:
    """For each FCM answer delay: one worker (the first time on the assignments' rows plus
    ``bulk_rows``, then on as many fresh rows), then two on as many fresh rows."""
    from server.models import Notification, OutboxState

    rounds: list[dict[str, Any]] = []
    rows = bulk_rows
    for delay in fcm_delays:
        with fcm_test_server(log_dir, delay) as fcm:
            left = Notification.objects.filter(state=OutboxState.PENDING).count()
            for workers in (1, 2):
                log(f"push: FCM delay {delay:g} s, {workers} worker(s), {left + rows:,} rows")
                result = push_round(
                    workers=workers,
                    rows_to_queue=rows,
                    technicians=technicians,
                    fcm=fcm,
                    log_dir=log_dir,
                    idle_sleep=0.05,
                    services=services,
                )
                log(f"push: {result['messages_per_s']:.0f} messages/s")
                rounds.append({**result, "fcm_delay_s": delay})
                rows, left = result["rows"], 0
    return {"rounds": rounds}


# ------------------------------------------------------------------------------ run


def run(
    *,
    backend: str,
    scale: str,
    size: Size,
    seed: int,
    concurrency: int,
    pause_s: float,
    fcm_delays: Sequence[float],
) -> dict[str, Any]:
    if backend != "postgres":
        return skipped_leg(backend)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fieldline-bench-") as data_dir:
        prepare_environment(backend, Path(data_dir))
        if not os.environ.get("REDIS_URL"):
            raise BenchError("--backend postgres needs REDIS_URL as well (infra/testservices)")
        migrate_s = manage("migrate", "--no-input", "--verbosity", "0")
        log(f"migrated in {migrate_s:.1f}s; loading")
        load_wall_s, out = run_child(
            [
                "-m",
                "infra.bench.realtime",
                "--load",
                "--technicians",
                str(size.technicians),
                "--assignments",
                str(size.assignments),
                "--accounts",
                str(size.accounts),
                "--seed",
                str(seed),
            ],
            "loading",
        )
        loaded: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        log(f"loaded in {load_wall_s:.1f}s")
        import django

        django.setup()
        from django.db import connections

        try:
            services = leg_services()
            with daphnes(Path(data_dir), 2) as servers:
                try:
                    measured = asyncio.run(
                        drive(
                            servers,
                            loaded,
                            bursts=size.bursts,
                            concurrency=concurrency,
                            pause_s=pause_s,
                            floor_samples=size.floor_samples,
                            seed=seed,
                            services=services,
                        )
                    )
                except BenchError as error:
                    found = [line for s in servers for line in server_errors(s.log_path)]
                    raise BenchError(
                        str(error) + "".join(f"\n  daphne logged: {line}" for line in found)
                    ) from None
            # After daphne stopped, so that its logs are complete.
            logged = {
                name: server_errors(server.log_path)
                for name, server in zip(("daphne A", "daphne B"), servers, strict=True)
            }
            session: Session = measured.pop("session")
            checked = completeness(session)
            log(
                f"missing {checked['missing']}, duplicates {checked['duplicates']}, "
                f"replayed {checked['replayed']}"
            )
            technicians = sorted({d.user_id for d in session.devices})
            push = push_throughput(
                Path(data_dir), technicians, size.bulk_rows, fcm_delays, services
            )
        finally:
            connections.close_all()
    return {
        "benchmark": BENCHMARK,
        "backend": backend,
        "scale": scale,
        "seed": seed,
        "config": {
            "technicians": size.technicians,
            "sockets": len(session.devices),
            "assignments": size.assignments,
            "bursts": size.bursts,
            "concurrency": concurrency,
            "pause_s": pause_s,
            "floor_samples": size.floor_samples,
            "bulk_rows": size.bulk_rows,
            "cpus": os.cpu_count(),
        },
        "setup": {
            key: loaded[key]
            for key in (
                "database",
                "seed_s",
                "jobs_s",
                "devices_s",
                "analyze_s",
                "day",
                "technicians",
                "jobs_in_home_territory",
            )
        }
        | {"migrate_s": migrate_s, "load_wall_s": load_wall_s, "connect_s": measured["connect_s"]},
        "storm_burst": measured["storm_burst"],
        "latency": latencies(session, measured["storm_burst"]),
        "floor": {
            "idle": summarize(measured["floor_idle_ms"]),
            "busy": summarize(measured["floor_busy_ms"]),
        },
        "loop_lag": summarize(measured["lag_ms"]),
        "assignments": assignment_stats(session),
        "bursts": measured["bursts"],
        "storm": measured["storm"],
        "settle_s": measured["settle_s"],
        "completeness": checked,
        "cpu": measured["cpu"],
        "push": push,
        "errors": session.errors[:30],
        "error_count": len(session.errors),
        "server_errors": logged,
        "elapsed_s": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------ report


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _cells(summary: Mapping[str, float]) -> str:
    if not summary.get("n"):
        return "0 | – | – | – | –"
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    return f"{summary['n']:,} | " + " | ".join(_ms(summary[key]) for key in keys)


def _verdict(summary: Mapping[str, float]) -> str:
    if not summary.get("n"):
        return "not measured"
    p95 = summary["p95_ms"]
    word = "met" if p95 < TARGET_P95_MS else "**missed**"
    return f"{word} (p95 {_ms(p95)} ms, n = {summary['n']:,})"


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more legs (a failed leg carries ``error``, a skipped one
    ``skipped``)."""
    lines = [
        "What is measured, in one run on PostgreSQL with two daphne processes sharing Redis: "
        "(1) **commit to WebSocket delivery** of the numbered notice an assignment sends to "
        "its technician's devices, target **p95 under "
        f"{TARGET_P95_MS / 1000:g} s**, beside the raw Redis pub/sub round trip; (2) "
        "**completeness** through a reconnect storm (every device ends with every number of "
        "its user, none missing); (3) the **push worker's throughput** to an FCM test "
        "server, with one and two workers.",
        "",
    ]
    for leg in legs:
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(leg["backend"], leg["backend"])
        if "skipped" in leg:
            lines.append(f"**{label}**: {leg['skipped']}\n")
        elif "error" in leg:
            lines.append(f"**{label}: failed**: {leg['error']}\n")
    ok = [leg for leg in legs if "error" not in leg and "skipped" not in leg]
    for leg in ok:
        lines += _report(leg)
    return "\n".join(lines).rstrip() + "\n"


def _report(leg: Mapping[str, Any]) -> list[str]:
    config, latency, done = leg["config"], leg["latency"], leg["completeness"]
    rounds = leg["push"]["rounds"]
    cpu = leg["cpu"]
    stats = leg["assignments"]
    lines = [
        f"- **Latency**: commit to delivery {_verdict(latency['all'])}; p50 "
        f"{_ms(latency['all'].get('p50_ms'))} ms against a Redis round trip of "
        f"{_ms(leg['floor']['busy'].get('p50_ms'))} ms (p50 during the bursts).",
        f"- **Completeness**: {done['missing']:,} notices missing "
        f"({'target met' if done['missing'] == 0 else '**target missed**'}), "
        f"{done['duplicates']:,} duplicates, {done['replayed']:,} delivered by replay, over "
        f"{done['deliveries_expected']:,} deliveries ({done['notices']:,} notices to "
        f"{config['sockets']:,} sockets).",
        f"- **Assignments**: {stats['count']:,}, HTTP {stats['statuses']}; server time p50 "
        f"{_ms(stats['server_ms'].get('p50_ms'))} ms, p95 {_ms(stats['server_ms'].get('p95_ms'))}"
        f" ms, of which waiting on the change log's version counter row p50 "
        f"{_ms(stats['counter_ms'].get('p50_ms'))} ms, p95 "
        f"{_ms(stats['counter_ms'].get('p95_ms'))} ms (see *Assignments*).",
        "- **Push worker**: "
        + "; ".join(
            f"FCM answering in {one['fcm_delay_s'] * 1000:.0f} ms: "
            f"{one['messages_per_s']:,.0f} messages/s with one worker, "
            f"{two['messages_per_s']:,.0f} with two "
            f"({two['messages_per_s'] / max(one['messages_per_s'], 1e-9):.2f}×)"
            for one, two in zip(rounds[::2], rounds[1::2], strict=True)
        )
        + ", from the rows falling due until none was pending.",
    ]
    if cpu["others_s"] / cpu["wall_s"] > DISTURBED_CPU:
        lines.append(
            f"- **Other work ran on the machine** during the bursts "
            f"({cpu['others_s'] / cpu['wall_s']:.2f} CPU on average): the numbers are disturbed."
        )
    lines.append("")
    lines += _latency_table(leg)
    lines += _completeness_table(leg)
    lines += _assignment_table(leg)
    lines += _push_table(leg)
    lines += _cpu_table(leg)
    lines += _errors(leg)
    lines += _method(leg)
    return lines


def _latency_table(leg: Mapping[str, Any]) -> list[str]:
    latency, floor = leg["latency"], leg["floor"]
    storm = leg["storm_burst"]
    rows = [
        ("**Commit → delivery**, every live notice (`at` → read)", latency["all"]),
        ("… in the bursts without the storm", latency["steady"]),
        (f"… in burst {storm + 1}, during the reconnect storm", latency["storm"]),
        ("… socket on the daphne that served the assignment", latency["same"]),
        ("… socket on the other daphne (through Redis both ways)", latency["cross"]),
        ("Publish → delivery (on-commit publish stamp → read)", latency["from_publish"]),
        ("`at` → publish (rest of the request's transaction, commit)", latency["at_to_publish"]),
        ("**Redis floor**: publish → subscriber, idle", floor["idle"]),
        ("Redis floor during the bursts (one every 20 ms)", floor["busy"]),
        ("Client event loop lag during the bursts (5 ms sleeps)", leg["loop_lag"]),
    ]
    lines = [
        "### Commit to WebSocket delivery",
        "",
        "Milliseconds. *Commit → delivery*: the client's wall clock when it read the notice "
        "minus the notice's `at` (created inside the assignment's transaction, just before "
        "the commit), for every notice and socket it reached live (replayed ones are "
        "counted below). *Publish stamp*: when daphne's on-commit callback began publishing, "
        "right after the commit (`Server-Timing`, monotonic clock). The floor and the lag are "
        f"measured on the same event loop as the {leg['config']['sockets']:,} sockets, in the "
        "same run.",
        "",
        "| Measure | n | p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {name} | {_cells(summary)} |" for name, summary in rows]
    return [*lines, ""]


def _completeness_table(leg: Mapping[str, Any]) -> list[str]:
    done, storm = leg["completeness"], leg["storm"]
    lines = [
        "### Completeness and the reconnect storm",
        "",
        "| Sockets | Notices (database) | Deliveries due | Live | Replayed | Missing | "
        "Duplicates | Out of order | Numbering gaps |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {done['devices']:,} | {done['notices']:,} | {done['deliveries_expected']:,} | "
        f"{done['live']:,} | {done['replayed']:,} | {done['missing']:,} | "
        f"{done['duplicates']:,} | {done['out_of_order']:,} | {done['numbering_gaps']} |",
        "",
        f"The storm: all {done['devices']:,} sockets closed by the client in "
        f"{storm['closed_s']:.2f} s, then reconnected at once (while burst "
        f"{leg['config']['bursts'] // 2 + 1} ran): every `hello` back after "
        f"{storm['all_connected_s']:.1f} s (per socket p50 {_ms(storm['connect_ms'].get('p50_ms'))}"
        f" ms, max {_ms(storm['connect_ms'].get('max_ms'))} ms), every replay ended by its poke "
        f"after {storm['all_caught_up_s']:.1f} s (p50 {_ms(storm['caught_up_ms'].get('p50_ms'))}"
        f" ms, max {_ms(storm['caught_up_ms'].get('max_ms'))} ms); "
        f"{storm['not_caught_up']} never caught up. After the last burst every device held "
        f"every notice it was due {leg['settle_s']:.2f} s later. *Out of order*: a number "
        "read after a higher one (two assignments to one technician committing close "
        "together in different processes). *Numbering gaps*: users whose latest number is not "
        "their count of notices.",
    ]
    if done["missing_examples"]:
        lines += ["", "Missing (device: numbers):", ""]
        lines += [f"- {example}" for example in done["missing_examples"]]
    if done["other_messages"]:
        lines += ["", f"Other messages: {done['other_messages']}."]
    return [*lines, ""]


def _assignment_table(leg: Mapping[str, Any]) -> list[str]:
    stats, bursts = leg["assignments"], leg["bursts"]
    daphne_s = sum(v for k, v in leg["cpu"]["processes_s"].items() if k.startswith("daphne"))
    cpu_ms = daphne_s / max(1, stats["count"]) * 1e3
    walls = [b["wall_s"] for b in bursts]
    rate = sum(b["assignments"] for b in bursts) / sum(walls)
    lines = [
        "### Assignments",
        "",
        f"{stats['count']:,} `POST /api/v1/work-orders/{{id}}/assign/` in {len(bursts)} bursts "
        f"of {bursts[0]['assignments']}, {leg['config']['concurrency']} in flight, "
        f"{leg['config']['pause_s']:g} s apart, alternately to daphne A and B "
        f"({stats['by_server']}); HTTP statuses {stats['statuses']}. A burst took "
        f"{min(walls):.2f}–{max(walls):.2f} s ({rate:.0f} assignments/s overall).",
        "",
        "| Milliseconds | n | p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| Client (request sent → answer read) | {_cells(stats['client_ms'])} |",
        f"| Server (`Server-Timing` app: daphne hands the request over → body handed back) | "
        f"{_cells(stats['server_ms'])} |",
        f"| … of which DRF's `dispatch` (authentication, view, on-commit publishing) | "
        f"{_cells(stats['view_ms'])} |",
        f"| … of which SQL statements | {_cells(stats['sql_ms'])} |",
        "| … … of which on the change log's version counter row "
        f"(`allocate_versions`, waiting for its lock included) | {_cells(stats['counter_ms'])} |",
        f"| … of which on-commit publishing (in the request's thread) | "
        f"{_cells(stats['publish_ms'])} |",
        "",
        f"Queries per assignment: p50 {stats['queries'].get('p50_ms', 0):.0f}, max "
        f"{stats['queries'].get('max_ms', 0):.0f}. daphne's CPU per assignment (both "
        f"processes' CPU during the bursts, sockets included, over the assignments): "
        f"{cpu_ms:.0f} ms. *Counter*: a transaction holds the change log's version counter "
        "row from where it takes its versions to its commit, and every write waits for it "
        "there. `work_order_assign` records its changes inside `changelog.deferred()`, so it "
        "takes its versions at the end of the service, and the view builds its answer after "
        "the commit: the *counter* line is that wait plus the statements on the row. The rest "
        "of the server time is mostly waiting for a CPU and for the interpreter lock (Django "
        "runs each request's view in a thread of its own).",
        "",
    ]
    if stats["without_publish_stamp"]:
        lines += [f"{stats['without_publish_stamp']} answers carried no publish stamp.", ""]
    return lines


def _push_table(leg: Mapping[str, Any]) -> list[str]:
    push = leg["push"]
    lines = [
        "### Push worker",
        "",
        "`manage.py run_worker --idle-sleep 0.05` processes sending through pyfcm to the FCM "
        "test server (`python -m tests.fcm_server`, its own process), which answers at once "
        "or after a delay (about a round trip to FCM over the internet); a worker sends 16 "
        "messages at once (`--threads`). Each row goes to each of its user's devices with a "
        "token (two). The rows are queued due tomorrow, the workers started and left to load "
        "Django until they idle (*start-up*), then every row is made due at once (one "
        "`UPDATE`). *Wall*: from then until no row was pending (polled every 50 ms); *first "
        "sent*: the first `sent_at` after it; *steady*: messages between the first and the "
        "last `sent_at`. CPU: seconds over the wall time.",
        "",
        "| FCM delay | Workers | Rows | Messages (due / received) | Rows sent | Start-up | Wall | "
        "First sent | Rows/s | Messages/s | Steady messages/s | Worker CPU | FCM server CPU | "
        "PostgreSQL + Redis CPU | Other processes CPU |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    for r in push["rounds"]:
        cpu = r["cpu"]["processes_s"]
        worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
        lines.append(
            f"| {r['fcm_delay_s'] * 1000:.0f} ms | {r['workers']} | {r['rows']:,} | "
            f"{r['expected_messages']:,} / "
            f"{r['messages']:,} | {r['states'].get('sent', 0):,} | {r['startup_s']:.1f} s | "
            f"{r['elapsed_s']:.1f} s | "
            f"{r['first_sent_after_s']:.1f} s | {r['rows_per_s']:,.0f} | "
            f"{r['messages_per_s']:,.0f} | {r['steady_messages_per_s']:,.0f} | "
            f"{worker_cpu:.1f} s | {cpu.get('FCM server', 0.0):.1f} s | "
            f"{r['cpu']['services_s']:.1f} s | {r['cpu']['others_s']:.1f} s |"
        )
    odd = [
        f"{r['fcm_delay_s'] * 1000:.0f} ms, {r['workers']} worker(s): states {r['states']}, "
        f"{r['attempts_over_one']} rows "
        f"claimed more than once, {r['token_requests']} access tokens fetched"
        for r in push["rounds"]
    ]
    lines += ["", "; ".join(odd) + "."]
    logged = [line for r in push["rounds"] for line in r["log_errors"]]
    if logged:
        lines += ["", "Exceptions in the workers' logs:", "", *(f"- `{e}`" for e in logged)]
    return [*lines, ""]


def _cpu_table(leg: Mapping[str, Any]) -> list[str]:
    cpu = leg["cpu"]
    wall = cpu["wall_s"]
    processes = cpu["processes_s"]
    cells = [
        *(f"{processes.get(name, 0.0):.1f} s ({processes.get(name, 0.0) / wall:.0%})"
          for name in ("daphne A", "daphne B")),
        f"{cpu['bench_s']:.1f} s ({cpu['bench_s'] / wall:.0%})",
        f"{cpu['services_s']:.1f} s ({cpu['services_s'] / wall:.0%})",
        f"{cpu['others_s']:.1f} s ({cpu['others_s'] / wall:.0%})",
    ]  # fmt: skip
    return [
        "### CPU during the bursts",
        "",
        f"CPU seconds from the first burst to the end of the last delivery ({wall:.1f} s "
        f"of wall time; the machine was {cpu['machine_busy']:.0%} busy over its "
        f"{leg['config']['cpus']} CPUs). In brackets, the share of one CPU.",
        "",
        f"| daphne A | daphne B | This client ({leg['config']['sockets']:,} sockets, HTTP "
        "threads) | "
        "PostgreSQL + Redis | Other processes |",
        "| ---: | ---: | ---: | ---: | ---: |",
        "| " + " | ".join(cells) + " |",
        "",
    ]


def _errors(leg: Mapping[str, Any]) -> list[str]:
    lines = []
    if leg["error_count"]:
        lines += [
            f"**Client-side errors** ({leg['error_count']}):",
            "",
            *(f"- `{e}`" for e in leg["errors"]),
            "",
        ]
    logged = [f"{name}: {line}" for name, found in leg["server_errors"].items() for line in found]
    lines += [
        "Exceptions in daphne's logs: "
        + ("none." if not logged else "\n\n" + "\n".join(f"- `{e}`" for e in logged)),
        "",
    ]
    return lines


def _method(leg: Mapping[str, Any]) -> list[str]:
    config, setup = leg["config"], leg["setup"]
    return [
        "### How it runs",
        "",
        f"- Data: the demo seeder (`--scale {leg['scale']}`: {config['technicians']} "
        f"technicians, {REPS} territories, {DISPATCHERS} dispatchers), shifts Monday to "
        f"Friday 08:00–17:00, {config['assignments']:,} jobs on {setup['day']} "
        f"({setup['jobs_in_home_territory']:,} in the technician's own territory, where there "
        "was a site left; any other carries a territory warning the `override_reason` "
        "accepts), two devices per "
        f"technician signed in through `device_login` ({setup['database']}; loaded in "
        f"{setup['migrate_s'] + setup['load_wall_s']:.0f} s).",
        f"- Sockets: phones on daphne A, tablets on daphne B, {config['sockets']:,} in all, "
        f"connected in {setup['connect_s']:.1f} s, `?token=` in the URL, one asyncio event "
        "loop (`websockets`) in the benchmark process.",
        "- The notice's `at` and the client's clock are the same machine's wall clock; the "
        "publish stamp and the client's read are its monotonic clock.",
        f"- The client shares the {config['cpus']}-CPU machine with both daphne processes, "
        "PostgreSQL and Redis: its own event loop's lag (in the table) is part of every "
        "latency, floor included.",
        "",
    ]


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--scale", choices=sorted(SIZES), default="large")
    parser.add_argument("--technicians", type=int, help="two sockets each (default: by scale)")
    parser.add_argument("--assignments", type=int, help="default: by scale")
    parser.add_argument("--bursts", type=int, help="default: by scale")
    parser.add_argument("--accounts", type=int, help="default: by scale")
    parser.add_argument("--bulk-rows", type=int, help="extra outbox rows (default: by scale)")
    parser.add_argument("--floor-samples", type=int, help="default: by scale")
    parser.add_argument("--concurrency", type=int, default=8, help="assignments in flight")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument(
        "--fcm-delays",
        type=lambda text: [float(part) for part in text.split(",")],
        default=[0.0, 0.05],
        help="FCM answer delays to measure the worker at, in seconds (default 0,0.05: "
        "at once, and about a round trip to FCM over the internet)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    # Internal: what the loader child runs.
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    base = SIZES[args.scale]
    size = Size(
        technicians=args.technicians or base.technicians,
        assignments=args.assignments or base.assignments,
        bursts=args.bursts or base.bursts,
        accounts=args.accounts or base.accounts,
        bulk_rows=base.bulk_rows if args.bulk_rows is None else args.bulk_rows,
        floor_samples=args.floor_samples or base.floor_samples,
    )
    if args.load:
        print(json.dumps(load(size, args.seed)))
        return 0
    if min(size.technicians, size.assignments, size.bursts, args.concurrency) < 1:
        parser.error("--technicians, --assignments, --bursts and --concurrency must be positive")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            scale=args.scale,
            size=size,
            seed=args.seed,
            concurrency=args.concurrency,
            pause_s=args.pause,
            fcm_delays=args.fcm_delays,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
