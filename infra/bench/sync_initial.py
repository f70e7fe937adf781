"""Benchmark (issue 3): a device's initial sync, through a real daphne server.

    .venv/bin/python -m infra.bench.sync_initial --backend sqlite
    infra/testservices/with-services.sh .venv/bin/python -m infra.bench.sync_initial \\
        --backend postgres

With the test settings (``FIELDLINE_ENV=test``) and a throwaway ``FIELDLINE_DATA_DIR``, a fresh
database is migrated and loaded, in child processes, with the demo seeder's users and reference
data and with exactly ``--records`` customer records (accounts, sites, contacts and assets as
``seed_demo`` draws them, inserted through ``crm.services.customers_bulk_import``, so every one
is in the change log). A daphne process serves ``server.asgi:application``; this process signs
in as ``salesmanager`` (back office: the ``org`` key covers every customer) with
``POST /api/v1/auth/login/`` and times full initial syncs: ``GET /api/v1/sync/pull/`` without a
cursor, then again with the returned ``timestamp`` while ``has_more`` is true, over one
keep-alive HTTP connection (``http.client``). The client counts the records of each page without
decoding it (``{"id":`` only opens a record: inside a JSON string a quote is always escaped) and
reads ``timestamp`` and ``has_more`` from the page's tail; an untimed first sync decodes every
page and checks the counts, the ids and the values.

Interleaved with the HTTP syncs, round-robin in the same process (so machine noise hits them
alike and their ratios hold):

* the **in-process pull**: ``sync.pull.pull()`` page after page and ``orjson.dumps`` of each
  answer, as the view does, without HTTP, daphne or authentication;
* the **floor**: the same rows and columns read with one raw SQL statement per table (compiled
  from the pull's own querysets), converted to the same wire values (epoch milliseconds, ISO
  dates, JSON strings, tag ids), put in the same page envelopes of the same size and encoded
  with orjson. Its output is checked to equal the server's, record for record.

Then the database is topped up to ``--large-records`` and a fresh daphne process serves the
large initial sync (HTTP and floor only). The daphne process's peak RSS is read from
``/proc/PID/status`` (``VmHWM``, reset through ``/proc/PID/clear_refs`` before each sync).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import orjson

from .account_list import BenchError, database_description, prepare_environment
from .common import die_with_parent, free_port, report, stop

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = "sync_initial"
# The targets. The floor ratio is floor time ÷ end-to-end time (1.0 = no overhead).
TARGET_RECORDS_PER_S = 20_000
TARGET_SECONDS = 3.0
TARGET_FLOOR_RATIO = 0.5
TARGET_LARGE_SECONDS = 60.0
# "Memory bounded": the daphne process's peak RSS above its idle RSS during the large sync is
# at most this factor of the standard sync's (memory that followed the records sent would
# grow with them, tenfold at the sizes). Both syncs page through every table with
# the same page size; the peak follows the widest page, so it is the same when bounded.
BOUNDED_GROWTH = 1.5
SIZES = {"large": (50_000, 500_000), "small": (5_000, 50_000)}
USERNAME = "salesmanager"
DEVICE_ID = "bench-sync-initial"
PULL_PATH = "/api/v1/sync/pull/?schema_version=1"
LOGIN_PATH = "/api/v1/auth/login/"
LOAD_CHUNK = 50_000  # records per customers_bulk_import call (one transaction each)
RECORD_OPEN = b'{"id":'
TAIL_BYTES = 512
TIMESTAMP_RE = re.compile(rb'"timestamp":(\d+)')
HAS_MORE_RE = re.compile(rb'"has_more":(true|false)')
HTTP_TIMEOUT_S = 300
STARTUP_TIMEOUT_S = 60


def log(message: str) -> None:
    print(f"bench[{BENCHMARK}]: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ loading


def _seed_scale(accounts: int) -> Any:
    """The demo seeder's scale: few users (their count does not matter to the sync of a
    back-office user), ``accounts`` accounts drawn per chunk."""
    from server.management.commands.seed_demo import Scale

    return Scale(accounts=accounts, technicians=2, reps=20, dispatchers=1)


def _trim(captured: dict[str, Any], budget: int) -> dict[str, Any]:
    """The first ``budget`` records of what the seeder drew, account by account (each account,
    then its sites each followed by their assets, then its contacts): children whose parents
    are kept, assets parents first (a prefix of each site's assets)."""
    sites_of: dict[str, list[Any]] = defaultdict(list)
    assets_of: dict[str, list[Any]] = defaultdict(list)
    contacts_of: dict[str, list[Any]] = defaultdict(list)
    for site in captured["sites"]:
        sites_of[site.account_id].append(site)
    for asset in captured["assets"]:
        assets_of[asset.site_id].append(asset)
    for contact in captured["contacts"]:
        contacts_of[contact.account_id].append(contact)
    kept: dict[str, list[Any]] = {"accounts": [], "sites": [], "assets": [], "contacts": []}
    count = 0
    for account in captured["accounts"]:
        if count >= budget:
            break
        kept["accounts"].append(account)
        count += 1
        for site in sites_of[account.pk]:
            if count >= budget:
                break
            kept["sites"].append(site)
            count += 1
            for asset in assets_of[site.pk]:
                if count >= budget:
                    break
                kept["assets"].append(asset)
                count += 1
        for contact in contacts_of[account.pk]:
            if count >= budget:
                break
            kept["contacts"].append(contact)
            count += 1
    if count < budget:
        raise BenchError(f"the seeder drew {count} records, fewer than the {budget} needed")
    tags = captured["account_tags"]
    return {
        "actor": captured["actor"],
        "accounts": kept["accounts"],
        "account_tags": {a.pk: tags.get(a.pk, []) for a in kept["accounts"]},
        "sites": kept["sites"],
        "contacts": kept["contacts"],
        "assets": kept["assets"],
    }


def _unique_serials(assets: Sequence[Any], used: set[tuple[str, str]], rng: random.Random) -> None:
    """Draw a new serial number for an asset whose (manufacturer, serial number) is taken (the
    seeder draws them at random; a unique constraint holds them)."""
    for asset in assets:
        while (asset.manufacturer, asset.serial_number) in used:
            prefix = asset.serial_number.partition("-")[0]
            asset.serial_number = f"{prefix}-{rng.randrange(10**9):09d}"
        used.add((asset.manufacturer, asset.serial_number))


def load_records(target: int, seed: int) -> dict[str, Any]:
    """(In a child process.) Add customer records until ``USERNAME``'s initial sync holds
    ``target`` records: the demo seeder's users and reference data first if missing, then
    customers drawn by ``seed_demo.Seeder`` and inserted, ``LOAD_CHUNK`` at a time, through
    ``crm.services.customers_bulk_import`` (change log included)."""
    import django

    django.setup()
    from django.db import transaction

    from crm import services as crm_services
    from crm.models import Asset, CustomerTier, Tag
    from server.enums import Role
    from server.management.commands.seed_demo import Seeder
    from server.models import User

    started = time.perf_counter()
    if not User.objects.filter(username=USERNAME).exists():
        with transaction.atomic():
            seeder = Seeder(random.Random(seed), _seed_scale(0))
            seeder.users()
            seeder.reference()
    user = User.objects.get(username=USERNAME)
    reps = list(User.objects.filter(roles__role=Role.SALES_REP).order_by("pk").distinct())
    tiers = list(CustomerTier.objects.order_by("rank"))
    tags = list(Tag.objects.order_by("name"))
    used = set(Asset.objects.values_list("manufacturer", "serial_number"))
    have = sum(expected_by_table(user).values())
    before = have
    while have < target:
        budget = min(LOAD_CHUNK, target - have)
        # About 6.4 records per account: draw a fifth of the budget in accounts, then trim.
        rng = random.Random(f"{seed}/{have}")
        seeder = Seeder(rng, _seed_scale(budget // 5 + 50))
        seeder.reps, seeder.tiers, seeder.tags = reps, tiers, tags
        captured: dict[str, Any] = {}
        with mock.patch.object(crm_services, "customers_bulk_import", captured.update):
            seeder.customers()
        records = _trim(captured, budget)
        _unique_serials(records["assets"], used, rng)
        crm_services.customers_bulk_import(**records)
        have += budget
    counts = expected_by_table(user)
    if sum(counts.values()) != target:
        raise BenchError(f"loaded {sum(counts.values())} records, expected {target}")
    return {
        "added": have - before,
        "seconds": time.perf_counter() - started,
        "by_table": counts,
    }


def expected_by_table(user: Any) -> dict[str, int]:
    """What ``user``'s initial sync must hold, per table, by the registry's coverage."""
    from server.access import scope_keys_for
    from sync import registry

    keys = scope_keys_for(user)
    counts = {}
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        condition = tracked.covered_by(keys)
        counts[table] = (
            0 if condition is None else tracked.model._default_manager.filter(condition).count()
        )
    return counts


def run_child(argv: Sequence[str], what: str) -> tuple[float, str]:
    """Run ``python ARGV`` (this process's environment); return (wall seconds, stdout)."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, *argv],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BenchError(f"{what} failed:\n" + "\n".join(tail))
    return time.perf_counter() - started, result.stdout


def load(target: int, seed: int) -> dict[str, Any]:
    """Load up to ``target`` records in a child process, then refresh PostgreSQL's statistics
    (as ``account_list`` does) so that autovacuum does not catch up during the measurement."""
    log(f"loading up to {target:,} records")
    wall_s, out = run_child(
        ["-m", "infra.bench.sync_initial", "--load-records", str(target), "--seed", str(seed)],
        f"loading {target} records",
    )
    loaded: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    loaded["wall_s"] = wall_s
    loaded["per_s"] = loaded["added"] / loaded["seconds"] if loaded["seconds"] else 0.0
    log(f"added {loaded['added']:,} records in {loaded['seconds']:.1f}s")
    from django.db import connection

    loaded["analyze_s"] = None
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        loaded["analyze_s"] = time.perf_counter() - started
    return loaded


# ------------------------------------------------------------------------------- daphne


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def daphne(log_dir: Path, name: str) -> Iterator[Server]:
    """A daphne process serving ``server.asgi:application`` with this process's environment
    (the leg's settings and database), as ``infra/dev/run.sh`` starts it; stopped on exit."""
    port = free_port()
    log_path = log_dir / f"daphne-{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                str(Path(sys.executable).parent / "daphne"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "server.asgi:application",
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    server = Server(process, port, log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            with suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                try:
                    connection.request("GET", "/healthz")
                    if connection.getresponse().status == 200:
                        break
                finally:
                    connection.close()
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"daphne did not start:\n{tail}")
            time.sleep(0.2)
        yield server
    finally:
        stop(process)


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of process ``pid``, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak(pid: int) -> bool:
    """Reset the peak RSS of ``pid`` to its current RSS (Linux 4.0+); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -------------------------------------------------------------------------------- client


class Client:
    """One keep-alive HTTP/1.1 connection to the server, as a device would hold."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
        self.token = ""

    def close(self) -> None:
        self.connection.close()

    def login(self) -> dict[str, Any]:
        from server.management.commands.seed_demo import DEMO_PASSWORD

        body = orjson.dumps(
            {
                "username": USERNAME,
                "password": DEMO_PASSWORD,
                "device_id": DEVICE_ID,
                "platform": "android",
                "app_version": "1.0.0",
            }
        )
        self.connection.request(
            "POST", LOGIN_PATH, body=body, headers={"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise BenchError(f"login as {USERNAME}: HTTP {response.status} {content[:300]!r}")
        answer: dict[str, Any] = orjson.loads(content)
        self.token = answer["access"]
        return answer

    def get(self, path: str) -> tuple[int, bytes, int]:
        """(status, body, nanoseconds until the headers arrived)."""
        started = time.perf_counter_ns()
        self.connection.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        response = self.connection.getresponse()
        headers_ns = time.perf_counter_ns() - started
        return response.status, response.read(), headers_ns


def _page_tail(body: bytes) -> tuple[int, bool]:
    """``timestamp`` and ``has_more`` of a page, read from its last bytes (they follow
    ``changes``), or from the decoded page if they are not there."""
    start = max(0, len(body) - TAIL_BYTES)
    timestamp, has_more = TIMESTAMP_RE.search(body, start), HAS_MORE_RE.search(body, start)
    if timestamp is None or has_more is None:
        page = orjson.loads(body)
        return int(page["timestamp"]), bool(page["has_more"])
    return int(timestamp[1]), has_more[1] == b"true"


@dataclass
class Tally:
    """What one initial sync delivered. ``digests`` (verification only): per table, a hash
    of every record in order, keys sorted."""

    records: int = 0
    pages: int = 0
    bytes: int = 0
    by_table: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    digests: dict[str, Any] = field(default_factory=dict)
    headers_ns: int = 0
    decode_ns: int = 0
    page_peaks_kb: list[int] = field(default_factory=list)  # the server's VmHWM, page by page
    seconds: float = 0.0

    def digest(self, table: str, records: Sequence[dict[str, Any]]) -> None:
        running = self.digests.setdefault(table, hashlib.sha256())
        for record in records:
            running.update(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))

    def hexdigests(self) -> dict[str, str]:
        return {table: running.hexdigest() for table, running in self.digests.items()}


def http_sync(client: Client, *, verify: bool = False, server_pid: int | None = None) -> Tally:
    """One full initial sync over HTTP. With ``verify``, every page is also decoded and
    checked (ids unique per table, nothing deleted, counts agree with the fast count). With
    ``server_pid``, that process's peak RSS is read after each page."""
    tally = Tally()
    cursor: int | None = None
    seen: dict[str, set[str]] = defaultdict(set)
    started = time.perf_counter_ns()
    while True:
        path = PULL_PATH if cursor is None else f"{PULL_PATH}&last_pulled_at={cursor}"
        status, body, headers_ns = client.get(path)
        if status != 200:
            raise BenchError(f"GET {path}: HTTP {status} {body[:300]!r}")
        count = body.count(RECORD_OPEN)
        cursor, has_more = _page_tail(body)
        tally.records += count
        tally.pages += 1
        tally.bytes += len(body)
        tally.headers_ns += headers_ns
        if server_pid is not None:
            tally.page_peaks_kb.append(memory_kb(server_pid)["VmHWM"])
        if verify:
            decode_started = time.perf_counter_ns()
            page = orjson.loads(body)
            tally.decode_ns += time.perf_counter_ns() - decode_started
            decoded = 0
            for table, changes in page["changes"].items():
                if changes["deleted"]:
                    raise BenchError(f"an initial sync deleted {table} records")
                for kind in ("created", "updated"):
                    rows = changes[kind]
                    decoded += len(rows)
                    tally.by_table[table] += len(rows)
                    ids = {row["id"] for row in rows}
                    if len(ids) != len(rows) or ids & seen[table]:
                        raise BenchError(f"{table}: a record was sent twice")
                    seen[table] |= ids
                    tally.digest(table, rows)
            if decoded != count or page["timestamp"] != cursor or page["has_more"] != has_more:
                raise BenchError(f"page {tally.pages}: the fast count disagrees with the page")
        if not has_more:
            break
    tally.seconds = (time.perf_counter_ns() - started) / 1e9
    return tally


def inprocess_sync(user: Any, device_id: str) -> Tally:
    """One full initial sync through ``sync.pull.pull()`` and ``orjson.dumps``, as
    ``SyncPullApi.get`` does, without HTTP, daphne or authentication."""
    from server.access import scope_keys_for
    from sync import pull as sync_pull

    tally = Tally()
    cursor: int | None = None
    started = time.perf_counter_ns()
    while True:
        result = sync_pull.pull(
            user=user, device_id=device_id, keys=scope_keys_for(user), last_pulled_at=cursor
        )
        body = orjson.dumps(result.as_json())
        tally.pages += 1
        tally.bytes += len(body)
        for changes in result.changes.values():
            tally.records += len(changes["created"]) + len(changes["updated"])
        cursor = result.timestamp
        if not result.has_more:
            break
    tally.seconds = (time.perf_counter_ns() - started) / 1e9
    return tally


# --------------------------------------------------------------------------------- floor


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class FloorTable:
    """One table of the floor: its SQL (the pull's queryset, compiled once), the wire names
    of the selected columns, and the converters of the columns that need one."""

    table: str
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]  # "id", then the wire columns, many-to-many included
    converters: tuple[tuple[str, Converter], ...]
    many_to_many: tuple[tuple[int, str, str, tuple[Any, ...]], ...]  # (position, name, sql, …)


def _epoch_ms(naive: bool) -> Converter:
    """Epoch milliseconds, computed as ``sync.wire.epoch_ms`` does (SQLite's raw cursor
    returns naive UTC date-times)."""
    if naive:
        return lambda value: int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)
    return lambda value: int(value.timestamp() * 1000)


def _json_string(value: Any) -> str:
    if isinstance(value, str):
        value = json.loads(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _converter(model: Any, source: str, naive: bool) -> Converter | None:
    """What a raw cursor value needs to become its wire value; None when it already is."""
    from django.db import models

    model_field = model._meta.get_field(source)
    if isinstance(model_field, models.ForeignKey):
        target = model_field.target_field
        return None if isinstance(target, models.CharField | models.IntegerField) else str
    if isinstance(model_field, models.DateTimeField):
        return _epoch_ms(naive)
    if isinstance(model_field, models.DateField):
        return dt.date.isoformat
    if isinstance(model_field, models.JSONField):
        return _json_string
    if isinstance(model_field, models.DecimalField):
        return str
    return None


def floor_plan(user: Any) -> list[FloorTable]:
    """The floor's statements: for each syncable table the user's keys cover, the SQL of
    the pull's own queryset (same condition, columns and order), and for each many-to-many
    column one statement listing (owner, target) pairs of the covered rows."""
    from django.db import connection, models

    from server.access import scope_keys_for
    from sync import registry

    keys = scope_keys_for(user)
    naive = connection.vendor == "sqlite"
    plan = []
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        condition = tracked.covered_by(keys)
        if condition is None:
            continue
        rows = tracked.model._default_manager.filter(condition).order_by("pk")
        sql, params = rows.values(*tracked.value_names()).query.sql_with_params()
        names = ["id"]
        converters = []
        many = []
        for column in tracked.columns:
            if column.many_to_many is not None:
                through = getattr(tracked.model, column.many_to_many).through
                fks = [f for f in through._meta.get_fields() if isinstance(f, models.ForeignKey)]
                source = next(f for f in fks if f.related_model is tracked.model)
                target = next(f for f in fks if f is not source)
                pairs = (
                    through.objects.filter(**{f"{source.attname}__in": rows.values("pk")})
                    .order_by(source.attname, target.attname)
                    .values_list(source.attname, target.attname)
                )
                m2m_sql, m2m_params = pairs.query.sql_with_params()
                many.append((len(names), column.name, m2m_sql, tuple(m2m_params)))
            else:
                convert = _converter(tracked.model, column.source, naive)
                if convert is not None:
                    converters.append((column.name, convert))
            names.append(column.name)
        plan.append(
            FloorTable(table, sql, tuple(params), tuple(names), tuple(converters), tuple(many))
        )
    return plan


def floor_sync(
    plan: Sequence[FloorTable], tables: Sequence[str], page_size: int, *, verify: bool = False
) -> Tally:
    """The physical limit of an initial sync: one raw SQL statement per table (streamed), the
    wire conversions, the same page envelopes (``page_size`` records, all ``tables`` listed)
    and orjson."""
    from django.db import connection

    from sync.pull import CONTINUATION_BASE

    tally = Tally()
    started = time.perf_counter_ns()

    def empty() -> dict[str, dict[str, list[Any]]]:
        return {table: {"created": [], "updated": [], "deleted": []} for table in tables}

    page, in_page = empty(), 0

    def flush(has_more: bool) -> None:
        nonlocal page, in_page
        body = orjson.dumps(
            {"changes": page, "timestamp": CONTINUATION_BASE + tally.pages, "has_more": has_more}
        )
        tally.pages += 1
        tally.bytes += len(body)
        page, in_page = empty(), 0

    with connection.cursor() as cursor:
        for spec in plan:
            related: list[tuple[int, str, dict[Any, list[str]]]] = []
            for position, name, sql, params in spec.many_to_many:
                cursor.execute(sql, params)
                grouped: dict[Any, list[str]] = defaultdict(list)
                for owner, other in cursor.fetchall():
                    grouped[owner].append(str(other))
                related.append((position, name, grouped))
            names, converters = spec.names, spec.converters
            cursor.execute(spec.sql, spec.params)
            while rows := cursor.fetchmany(page_size):
                for row in rows:
                    values = row
                    for position, _, _ in related:  # a placeholder in the column's place
                        values = (*values[:position], None, *values[position:])
                    record = dict(zip(names, values, strict=True))
                    for name, convert in converters:
                        value = record[name]
                        if value is not None:
                            record[name] = convert(value)
                    for _, name, grouped in related:
                        record[name] = _json_string(grouped.get(record["id"], []))
                    if in_page == page_size:  # full, and more follows
                        flush(True)
                    page[spec.table]["created"].append(record)
                    in_page += 1
                    if verify:
                        tally.digest(spec.table, (record,))
                tally.records += len(rows)
                tally.by_table[spec.table] += len(rows)
    flush(False)
    tally.seconds = (time.perf_counter_ns() - started) / 1e9
    return tally


# --------------------------------------------------------------------------- measurement


KINDS = ("http", "pull", "floor")
LARGE_KINDS = ("http", "floor")


def _summary(tallies: Sequence[Tally]) -> dict[str, Any]:
    seconds = [t.seconds for t in tallies]
    return {
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "best_s": min(seconds),
        "records": tallies[0].records,
        "pages": tallies[0].pages,
        "bytes": tallies[0].bytes,
        "headers_s": [t.headers_ns / 1e9 for t in tallies],
        "peaks_kb": [t.page_peaks_kb[-1] for t in tallies if t.page_peaks_kb],
    }


def _check(expected: dict[str, int], http: Tally, floor: Tally, records: int) -> None:
    """The verification sync and the floor hold exactly the expected records, the same
    values in the same order."""
    wanted = {table: count for table, count in expected.items() if count}
    if sum(expected.values()) != records:
        raise BenchError(f"the database holds {sum(expected.values())} records, not {records}")
    got = {table: count for table, count in http.by_table.items() if count}
    if got != wanted or http.records != records:
        raise BenchError(f"the sync delivered {got}, expected {wanted}")
    floor_got = {table: count for table, count in floor.by_table.items() if count}
    if floor_got != wanted:
        raise BenchError(f"the floor read {floor_got}, expected {wanted}")
    differ = [
        table for table in wanted if http.hexdigests().get(table) != floor.hexdigests().get(table)
    ]
    if differ:
        raise BenchError(f"the floor's records differ from the server's in {differ}")


def measure(
    *,
    label: str,
    records: int,
    repeats: int,
    kinds: Sequence[str],
    log_dir: Path,
) -> dict[str, Any]:
    """Start a fresh daphne, sign in, verify one sync, then time ``repeats`` rounds of
    ``kinds`` (the order rotating each round)."""
    from server.models import User
    from sync import registry
    from sync.pull import DEFAULT_PAGE_SIZE

    user = User.objects.get(username=USERNAME)
    expected = expected_by_table(user)
    tables = registry.syncable_tables()
    plan = floor_plan(user)
    tallies: dict[str, list[Tally]] = {kind: [] for kind in kinds}
    with daphne(log_dir, label) as server:
        client = Client(server.port)
        try:
            device_id = str(client.login()["device"]["id"])
            idle = memory_kb(server.pid)
            log(f"{label}: verifying one sync of {records:,} records")
            reset_peak(server.pid)
            check = http_sync(client, verify=True, server_pid=server.pid)
            floor_check = floor_sync(plan, tables, DEFAULT_PAGE_SIZE, verify=True)
            _check(expected, check, floor_check, records)
            if "pull" in kinds:
                inprocess_sync(user, device_id)  # warm-up
            peak_resets = True
            for number in range(repeats):
                shift = number % len(kinds)
                for kind in [*kinds[shift:], *kinds[:shift]]:
                    if kind == "http":
                        client.login()  # a fresh access token (they last 15 minutes)
                        peak_resets &= reset_peak(server.pid)
                        tally = http_sync(client, server_pid=server.pid)
                    elif kind == "pull":
                        tally = inprocess_sync(user, device_id)
                    else:
                        tally = floor_sync(plan, tables, DEFAULT_PAGE_SIZE)
                    if tally.records != records:
                        raise BenchError(f"{kind}: {tally.records} records, not {records}")
                    tallies[kind].append(tally)
                log(
                    f"{label}: round {number + 1}/{repeats}: "
                    + ", ".join(f"{k} {tallies[k][-1].seconds:.2f}s" for k in kinds)
                )
            final = memory_kb(server.pid)
        finally:
            client.close()
    return {
        "label": label,
        "records": records,
        "by_table": expected,
        "page_size": DEFAULT_PAGE_SIZE,
        "pages": check.pages,
        "bytes": check.bytes,
        "client_decode_s": check.decode_ns / 1e9,
        "repeats": repeats,
        "kinds": {kind: _summary(tallies[kind]) for kind in kinds},
        "memory": {
            "idle_kb": idle["VmRSS"],
            # Page by page through the first sync of the fresh process: how memory grows.
            "first_sync_page_peaks_kb": check.page_peaks_kb,
            "final_rss_kb": final["VmRSS"],
            "final_hwm_kb": final["VmHWM"],
            "peak_resets": peak_resets,
        },
    }


def run(
    *,
    backend: str,
    records: int,
    large_records: int,
    repeats: int,
    large_repeats: int,
    seed: int,
    scale: str,
) -> dict[str, Any]:
    """Set up a fresh database on ``backend``, measure, and return the structured results."""
    started = time.perf_counter()
    sizes = []
    with tempfile.TemporaryDirectory(prefix="fieldline-bench-") as data_dir:
        prepare_environment(backend, Path(data_dir))
        try:
            migrate_s, _ = run_child(
                [str(REPO_ROOT / "manage.py"), "migrate", "--no-input", "--verbosity", "0"],
                "migrate",
            )
            import django

            django.setup()
            plan: list[tuple[str, int, int, Sequence[str]]] = [
                ("standard", records, repeats, KINDS)
            ]
            if large_records > records and large_repeats > 0:
                plan.append(("large", large_records, large_repeats, LARGE_KINDS))
            for label, size, size_repeats, kinds in plan:
                loaded = load(size, seed)
                result = measure(
                    label=label,
                    records=size,
                    repeats=size_repeats,
                    kinds=kinds,
                    log_dir=Path(data_dir),
                )
                result["load"] = loaded
                sizes.append(result)
            database = database_description()
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
        "user": USERNAME,
        "database": database,
        "migrate_s": migrate_s,
        "sizes": sizes,
        "elapsed_s": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------- report


BACKEND_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f}"


def _mib_kb(kb: float) -> str:
    return f"{kb / 1024:.0f} MiB"


def _rate(records: int, seconds: float) -> str:
    return f"{records / seconds:,.0f}" if seconds else "–"


def _size(leg: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((s for s in leg["sizes"] if s["label"] == label), None)


def _floor_ratio(size: dict[str, Any]) -> float:
    kinds = size["kinds"]
    return float(kinds["floor"]["median_s"] / kinds["http"]["median_s"])


def _standard_verdict(size: dict[str, Any]) -> str:
    http = size["kinds"]["http"]
    median, rate = http["median_s"], size["records"] / http["median_s"]
    ratio = _floor_ratio(size)
    misses = []
    if rate < TARGET_RECORDS_PER_S:
        misses.append("records/s")
    if median >= TARGET_SECONDS:
        misses.append("seconds")
    if ratio < TARGET_FLOOR_RATIO:
        misses.append("floor ratio")
    facts = f"{rate:,.0f} records/s, {median:.2f} s, floor ratio {ratio:.2f} (median)"
    return f"met ({facts})" if not misses else f"**missed** ({', '.join(misses)}: {facts})"


def _timed_rise_kb(size: dict[str, Any]) -> int | None:
    """The highest peak RSS of the timed HTTP syncs, above the fresh process's idle RSS."""
    peaks = size["kinds"]["http"]["peaks_kb"]
    return max(peaks) - int(size["memory"]["idle_kb"]) if peaks else None


def _growth(leg: dict[str, Any]) -> float | None:
    """How much more the large sync's peak rises over idle than the standard sync's."""
    standard, large = _size(leg, "standard"), _size(leg, "large")
    if standard is None or large is None:
        return None
    small_rise, large_rise = _timed_rise_kb(standard), _timed_rise_kb(large)
    if small_rise is None or large_rise is None:
        return None
    return large_rise / max(small_rise, 1)


def _large_verdict(leg: dict[str, Any], size: dict[str, Any]) -> str:
    median = size["kinds"]["http"]["median_s"]
    growth = _growth(leg)
    misses = []
    if median >= TARGET_LARGE_SECONDS:
        misses.append("seconds")
    if growth is not None and growth > BOUNDED_GROWTH:
        misses.append("memory")
    facts = f"{median:.1f} s, {size['records'] / median:,.0f} records/s"
    peaks = size["kinds"]["http"]["peaks_kb"]
    standard = _size(leg, "standard")
    if peaks and standard is not None and standard["kinds"]["http"]["peaks_kb"]:
        facts += (
            f", daphne peak RSS {_mib_kb(max(peaks))} against "
            f"{_mib_kb(max(standard['kinds']['http']['peaks_kb']))} for "
            f"{standard['records']:,} records"
        )
        if growth is not None:
            facts += f" (rise over idle ×{growth:.2f})"
    return f"met ({facts})" if not misses else f"**missed** ({', '.join(misses)}: {facts})"


def render_markdown(legs: Sequence[dict[str, Any]]) -> str:
    """The report for one or more backends (a leg that failed carries ``error``)."""
    ok = [leg for leg in legs if "error" not in leg]
    lines = [
        "What is measured: a device's full initial sync through a real daphne process "
        "(`server.asgi:application`, the leg's settings), as `salesmanager` (back office: "
        "the `org` key covers every customer), over one keep-alive HTTP connection: "
        "`GET /api/v1/sync/pull/?schema_version=1`, then again with the returned `timestamp` "
        "while `has_more` is true, at the server's default page size. The client counts "
        "records and bytes without decoding the pages. The data: the demo seeder's customers "
        "(accounts with their sites, contacts and assets), loaded through "
        "`customers_bulk_import` (change log included) up to exactly the stated number of "
        "records. Targets: at least "
        f"{TARGET_RECORDS_PER_S:,} records/s and under {TARGET_SECONDS:g} s end to end, and "
        f"a floor ratio of at least {TARGET_FLOOR_RATIO} (the floor's time ÷ the HTTP "
        "sync's; the floor is the same rows read with raw SQL and encoded with orjson into "
        f"the same pages, same run); the large sync under {TARGET_LARGE_SECONDS:g} s with the "
        "server's memory bounded.",
        "",
    ]
    lines += [
        f"**{BACKEND_LABELS[leg['backend']]}: failed**: {leg['error']}\n" for leg in legs
        if "error" in leg
    ]  # fmt: skip
    if not ok:
        return "\n".join(lines).rstrip() + "\n"
    for leg in ok:
        name = BACKEND_LABELS[leg["backend"]]
        standard, large = _size(leg, "standard"), _size(leg, "large")
        if standard is not None:
            lines.append(
                f"- **{name}, initial sync of {standard['records']:,} records** "
                f"({_mb(standard['bytes'])} MB): {_standard_verdict(standard)}."
            )
        if large is not None:
            lines.append(
                f"- **{name}, large initial sync of {large['records']:,} records** "
                f"({_mb(large['bytes'])} MB): {_large_verdict(leg, large)}."
            )
        elif standard is not None:
            lines.append(f"- **{name}, large initial sync**: not run (`--large-records`).")
    lines.append("")
    lines += _results_table(ok)
    lines += _breakdown_table(ok)
    lines += _memory_table(ok)
    lines += _setup_table(ok)
    lines += _data_text(ok)
    return "\n".join(lines).rstrip() + "\n"


KIND_TEXT = {
    "http": "HTTP",
    "pull": "in-process pull",
    "floor": "floor",
}


def _results_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    first = legs[0]["sizes"][0]
    lines = [
        "### Initial sync",
        "",
        f"Seconds of wall time per full initial sync, median and best of the timed rounds "
        f"(after one untimed sync that decodes and checks every page); the {KIND_TEXT['http']}"
        f" syncs, the in-process pulls and the floor take turns, round-robin, in the same "
        f"process. Page size {first['page_size']:,} (the server's default). "
        "records/s = records ÷ the median.",
        "",
        "| Backend | Records | MB | Pages | Rounds | HTTP median | HTTP best | records/s "
        "| in-process pull median | floor median | floor ÷ HTTP |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for size in leg["sizes"]:
            kinds = size["kinds"]
            http, floor = kinds["http"], kinds["floor"]
            pull = kinds.get("pull")
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {size['records']:,} | "
                f"{_mb(size['bytes'])} | {size['pages']} | {size['repeats']} | "
                f"**{http['median_s']:.2f}** | {http['best_s']:.2f} | "
                f"{_rate(size['records'], http['median_s'])} | "
                f"{'–' if pull is None else f'{pull["median_s"]:.2f}'} | "
                f"{floor['median_s']:.2f} | {_floor_ratio(size):.2f} |"
            )
    return [*lines, ""]


def _breakdown_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Where the time goes (medians)",
        "",
        "*Server* is the time from sending each request until its response headers arrive, "
        "summed over the pages (the view builds the whole page before answering); *transfer "
        "+ client* is the rest of the HTTP sync (reading the bodies over loopback, counting). "
        "The in-process pull is `sync.pull.pull()` + `orjson.dumps` per page without HTTP, "
        "daphne or authentication; the floor is one raw SQL statement per table, the wire "
        "conversions, the same page envelopes and orjson.",
        "",
        "| Backend | Records | HTTP | server | transfer + client | in-process pull | floor "
        "| HTTP ÷ pull | pull ÷ floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for size in leg["sizes"]:
            kinds = size["kinds"]
            http, floor, pull = kinds["http"], kinds["floor"], kinds.get("pull")
            server = statistics.median(http["headers_s"])
            rest = http["median_s"] - server
            pull_cells = (
                ["–", "–", "–"]
                if pull is None
                else [
                    f"{pull['median_s']:.2f}",
                    f"{http['median_s'] / pull['median_s']:.2f}×",
                    f"{pull['median_s'] / floor['median_s']:.2f}×",
                ]
            )
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {size['records']:,} | "
                f"{http['median_s']:.2f} | {server:.2f} ({server / http['median_s']:.0%}) | "
                f"{rest:.2f} ({rest / http['median_s']:.0%}) | {pull_cells[0]} | "
                f"{floor['median_s']:.2f} | {pull_cells[1]} | {pull_cells[2]} |"
            )
    return [*lines, ""]


def _first_sync_peaks(size: dict[str, Any]) -> list[str]:
    """The first sync's peak RSS after a tenth, half and all of its pages."""
    pages = size["memory"]["first_sync_page_peaks_kb"]
    if not pages:
        return ["–", "–", "–"]
    return [_mib_kb(pages[max(0, round(len(pages) * part) - 1)]) for part in (0.1, 0.5, 1.0)]


def _memory_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Server memory (daphne process)",
        "",
        "A fresh daphne process for each size. *Idle*: its RSS after start-up and sign-in. "
        "*Peak*: `VmHWM` from `/proc/PID/status`, read after every page; for the timed syncs "
        "it is reset through `/proc/PID/clear_refs` before each, and the highest is shown. "
        "Memory is bounded if the large sync's peak rises over idle no more than "
        f"{BOUNDED_GROWTH}× the standard sync's: it would grow with the records otherwise. "
        "The first sync of each process (the checked one) shows how the peak climbs: it "
        "follows the widest page (tables are sent one after the other, and pages of sites "
        "hold more bytes than pages of accounts), not the records sent so far.",
        "",
        "| Backend | Records | Pages | idle RSS | first sync: peak after 1/10 of the pages | "
        "after 1/2 | at the end | timed syncs: peak | rise over idle |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for size in leg["sizes"]:
            peaks = size["kinds"]["http"]["peaks_kb"]
            rise = _timed_rise_kb(size)
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {size['records']:,} | {size['pages']} | "
                f"{_mib_kb(size['memory']['idle_kb'])} | "
                + " | ".join(_first_sync_peaks(size))
                + f" | {_mib_kb(max(peaks)) if peaks else '–'} | "
                f"{'–' if rise is None else _mib_kb(rise)} |"
            )
    if not all(size["memory"]["peak_resets"] for leg in legs for size in leg["sizes"]):
        lines += ["", "The peak could not be reset here: the timed syncs' include earlier ones."]
    return [*lines, ""]


def _setup_table(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "### Set-up",
        "",
        "Loading runs in child processes: the demo seeder's users and reference data, then "
        f"customers through `crm.services.customers_bulk_import` ({LOAD_CHUNK:,} records per "
        "transaction, each with its change-log entries); the large size tops up the standard "
        "one. *records/s* is the loader's own time (without Python's start-up).",
        "",
        "| Backend | Database | `migrate` | Size | records added | load | records/s "
        "| `VACUUM ANALYZE` |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for leg in legs:
        for size in leg["sizes"]:
            loaded = size["load"]
            analyze = "–" if loaded["analyze_s"] is None else f"{loaded['analyze_s']:.1f} s"
            lines.append(
                f"| {BACKEND_LABELS[leg['backend']]} | {leg['database']} | "
                f"{leg['migrate_s']:.1f} s | {size['records']:,} | {loaded['added']:,} | "
                f"{loaded['seconds']:.1f} s | {loaded['per_s']:,.0f} | {analyze} |"
            )
    return [*lines, ""]


def _data_text(legs: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["### Data and checks", ""]
    for leg in legs:
        for size in leg["sizes"]:
            tables = ", ".join(
                f"{table} {count:,}" for table, count in size["by_table"].items() if count
            )
            lines.append(
                f"- {BACKEND_LABELS[leg['backend']]}, {size['records']:,} records: {tables}; "
                f"{size['bytes'] / size['records']:.0f} bytes per record on the wire, "
                f"{size['pages']} pages. Every page of the first sync was decoded and checked "
                "(counts per table, no id twice, nothing deleted, the fast count right) and "
                "its records equal the floor's, value for value. Decoding the pages with "
                f"orjson, as a client must, takes {size['client_decode_s']:.2f} s more."
            )
    return [*lines, ""]


# --------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--scale",
        choices=sorted(SIZES),
        default="large",
        help="records for the two sizes: "
        + "; ".join(f"{name}: {a:,} and {b:,}" for name, (a, b) in SIZES.items()),
    )
    parser.add_argument("--records", type=int, help="records of the standard sync")
    parser.add_argument(
        "--large-records", type=int, help="records of the large sync (0: do not run it)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds, standard size")
    parser.add_argument("--large-repeats", type=int, default=2, help="timed rounds, large size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the structured results here")
    # Internal: what the loading child process runs.
    parser.add_argument("--load-records", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_records is not None:
        print(json.dumps(load_records(args.load_records, args.seed)))
        return 0
    records, large_records = SIZES[args.scale]
    records = args.records if args.records is not None else records
    large_records = args.large_records if args.large_records is not None else large_records
    if records < 1 or args.repeats < 1 or args.large_repeats < 0:
        parser.error("--records and --repeats must be at least 1")
    return report(
        BENCHMARK,
        lambda: run(
            backend=args.backend,
            records=records,
            large_records=large_records,
            repeats=args.repeats,
            large_repeats=args.large_repeats,
            seed=args.seed,
            scale=args.scale,
        ),
        json_path=args.json,
        render=render_markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
