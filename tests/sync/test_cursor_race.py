"""The cursor race (ARCHITECTURE.md, "Sync"): transaction A takes its version first but commits
after B has been pulled, and A's rows still arrive.

Versions come from ``UPDATE ... RETURNING`` on one counter row (``sync.changelog``), which the
writing transaction keeps locked until it ends. So on PostgreSQL B cannot even take a version
while A is open: it waits on A's lock, and a pull made meanwhile reads the counter as it was
before A. The services-leg test forces that interleaving on each of its 1,000 iterations, checks
it in the database (PostgreSQL reports B's backend blocked by A's) and checks what the device
receives:

1. a pull while A is open and B waits: neither record, and a cursor below A's version;
2. a pull after A commits while B, now holding the next version, is still open: A's record
   only, and a cursor below B's version;
3. a pull after both committed: B's record only.

So each record arrives exactly once, in the right bucket, with the values its transaction
wrote, and the cursor never goes backwards. Another test rolls A back: the version it held was
never handed out, so B taking the same number is harmless.

A third test, on both legs, starts B and a pull on their own threads while A is open and lets
them race A's commit. On SQLite, IMMEDIATE transactions serialise every writer, the pull
included (it records a checkpoint), so the pull waits for A and always brings A's record.

Two long-lived writer threads, each with its own connection, are driven through queues and
events, and every wait is bounded, so an iteration costs a few tens of milliseconds and a broken
lock scheme fails instead of hanging. The WebSocket poke is stubbed: it is sent after commit,
carries no data (``tests/sync/test_poke.py`` covers it), and on the services leg each Redis
publish from a plain thread would cost more than the rest of the iteration.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from crm.models import Account
from crm.services import account_create, account_update
from server import realtime
from server.access import scope_keys_for
from server.models import User
from sync import pull as sync_pull
from sync.models import Change
from sync.pull import PullResult

TIMEOUT = 10.0
POSTGRES_ITERATIONS = 1000
ROLLBACK_ITERATIONS = 100
FREE_RACE_ITERATIONS = 50
DEVICE = "race-device"

Kind = Literal["created", "updated"]
Settings = dict[str, Any]


@dataclass(frozen=True)
class Started:
    """A writer task is about to open its transaction, on this PostgreSQL backend."""

    backend_pid: int | None


@dataclass(frozen=True)
class Written:
    """A writer's transaction has recorded its change and is still open."""

    record_id: str
    version: int
    kind: Kind
    name: str


Message = Started | Written | BaseException


@dataclass
class WriteOrder:
    """One writer task: create an account, or rename the writer's own account."""

    actor: User
    kind: Kind
    name: str
    account_id: str
    release: threading.Event = field(default_factory=threading.Event)
    commit: bool = True
    messages: queue.Queue[Message] = field(default_factory=queue.Queue)

    def expect_started(self) -> Started:
        message = self._next()
        assert isinstance(message, Started), message
        return message

    def expect_written(self) -> Written:
        message = self._next()
        assert isinstance(message, Written), message
        return message

    def _next(self) -> Message:
        message = self.messages.get(timeout=TIMEOUT)
        if isinstance(message, BaseException):
            raise message
        return message


def _backend_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    pid: int = connection.connection.info.backend_pid
    return pid


def _write_and_hold(order: WriteOrder) -> None:
    """On a writer thread: record one change through the CRM services, report the version it
    took, and keep the transaction open until the test releases it."""
    try:
        order.messages.put(Started(_backend_pid()))
        with transaction.atomic():
            if order.kind == "created":
                account = account_create(actor=order.actor, name=order.name)
            else:
                account = Account.objects.select_for_update().get(pk=order.account_id)
                account_update(actor=order.actor, account=account, name=order.name)
            version = (
                Change.objects.filter(table="accounts", record_id=account.pk)
                .order_by("-version")
                .values_list("version", flat=True)
                .first()
            )
            assert version is not None
            order.messages.put(Written(str(account.pk), version, order.kind, order.name))
            if not order.release.wait(TIMEOUT):
                raise TimeoutError("the test never released this transaction")
            if not order.commit:
                transaction.set_rollback(True)
    except BaseException as error:
        order.messages.put(error)
        raise


def _close_connection() -> None:
    # Submitted as a function: ``connection.close`` would be looked up on the submitting thread
    # and close that thread's connection instead.
    connection.close()


class Worker:
    """One long-lived thread, hence one database connection, running one task at a time."""

    def __init__(self, name: str, initializer: Callable[[], None] | None = None) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=initializer
        )

    def submit[T](self, task: Callable[[], T]) -> Future[T]:
        return self._executor.submit(task)

    def close(self) -> None:
        try:
            self._executor.submit(_close_connection).result(timeout=TIMEOUT)
        finally:
            self._executor.shutdown(wait=True)


class Race:
    """Writers A and B on their own threads, a device of ``user`` pulling, and its cursors."""

    def __init__(self, user: User, initializer: Callable[[], None] | None = None) -> None:
        self.user = user
        self.keys = scope_keys_for(user)
        self.initializer = initializer
        self.a = Worker("race-a", initializer)
        self.b = Worker("race-b", initializer)
        self.orders: list[WriteOrder] = []
        self.cursors: list[int] = []
        # Each writer's own account, for the iterations that update rather than create. Written
        # before any thread starts, which also recreates the counter row if an earlier
        # transactional test's flush removed it (two first writers would race to insert it).
        self.own_accounts = {
            "A": account_create(actor=user, name="A's account").pk,
            "B": account_create(actor=user, name="B's account").pk,
        }
        initial = self.pull(None)
        assert sent(initial) == {(pk, "created") for pk in self.own_accounts.values()}

    def pair(self, iteration: int) -> tuple[WriteOrder, WriteOrder]:
        """A's and B's orders, going through every pairing of create and update in turn."""
        kind_a: Kind = "created" if iteration % 2 == 0 else "updated"
        kind_b: Kind = "created" if iteration // 2 % 2 == 0 else "updated"
        return self._order("A", iteration, kind_a), self._order("B", iteration, kind_b)

    def _order(self, writer: str, iteration: int, kind: Kind) -> WriteOrder:
        order = WriteOrder(
            actor=self.user,
            kind=kind,
            name=f"{writer}-{iteration}",
            account_id=self.own_accounts[writer],
        )
        self.orders.append(order)
        return order

    def start(self, worker: Worker, order: WriteOrder) -> Future[None]:
        return worker.submit(partial(_write_and_hold, order))

    def pull(self, cursor: int | None) -> PullResult:
        """Pull on the calling thread's connection; the cursor must never go backwards."""
        result = sync_pull.pull(
            user=self.user, device_id=DEVICE, keys=self.keys, last_pulled_at=cursor
        )
        assert not result.has_more and not result.replacement
        if self.cursors:
            assert result.timestamp >= self.cursors[-1], (self.cursors[-1], result.timestamp)
        self.cursors.append(result.timestamp)
        return result

    def close(self) -> None:
        """Release any transaction a failed iteration left open, then end the threads."""
        for order in self.orders:
            order.release.set()
        try:
            self.a.close()
        finally:
            self.b.close()


def sent(result: PullResult) -> set[tuple[str, str]]:
    """(id, bucket) of each account a pull sent; it may send nothing else."""
    for table, buckets in result.changes.items():
        if table != "accounts":
            assert buckets == {"created": [], "updated": [], "deleted": []}, table
    accounts = result.changes["accounts"]
    assert accounts["deleted"] == []
    return {(row["id"], kind) for kind in ("created", "updated") for row in accounts[kind]}


def sent_name(result: PullResult, record_id: str) -> str:
    accounts = result.changes["accounts"]
    [name] = [row["name"] for row in accounts["created"] + accounts["updated"]]
    assert [row["id"] for row in accounts["created"] + accounts["updated"]] == [record_id]
    return str(name)


def wait_until_blocked(waiter: int | None, holder: int | None) -> None:
    """Return once PostgreSQL reports backend ``waiter`` waiting on a lock ``holder`` holds.
    (A and B write different accounts, so the one lock they share is the counter row.)"""
    assert waiter is not None and holder is not None
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder, waiter])
            row = cursor.fetchone()
            if row is not None and row[0]:
                return
            assert time.monotonic() < deadline, f"backend {waiter} never waited on {holder}"
            time.sleep(0.001)  # polling backoff: the condition above is what synchronises


@pytest.fixture(autouse=True)
def _no_pokes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "send_all", lambda messages: None)


@pytest.fixture
def race(rep: User) -> Iterator[Race]:
    harness = Race(rep)
    try:
        yield harness
    finally:
        harness.close()


def _connection_to(settings_dict: Settings) -> BaseDatabaseWrapper:
    wrapper: BaseDatabaseWrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
        settings_dict, DEFAULT_DB_ALIAS
    )
    return wrapper


def _use_database(settings_dict: Settings) -> None:
    connections[DEFAULT_DB_ALIAS] = _connection_to(settings_dict)


@pytest.fixture
def sqlite_file(rep: User, tmp_path: Path) -> Iterator[Settings | None]:
    """On SQLite, a file copy of the test database for this test, with the embedded default's
    options (WAL, IMMEDIATE, busy timeout), used by this thread and the writers' threads.

    The embedded leg's test database is in memory with a shared cache, where a writer that finds
    the database locked fails at once ("database table is locked") instead of waiting as it
    does on the embedded default's file. ``None`` on PostgreSQL: nothing to do."""
    if connection.vendor != "sqlite":
        yield None
        return
    original = connections[DEFAULT_DB_ALIAS]
    settings_dict = {**original.settings_dict, "NAME": str(tmp_path / "race.sqlite3")}
    original.ensure_connection()
    target = sqlite3.connect(settings_dict["NAME"])
    try:
        original.connection.backup(target)  # migrated, with ``rep``
    finally:
        target.close()
    _use_database(settings_dict)
    try:
        yield settings_dict
    finally:
        connections[DEFAULT_DB_ALIAS].close()
        connections[DEFAULT_DB_ALIAS] = original


@pytest.fixture
def free_race(rep: User, sqlite_file: Settings | None) -> Iterator[Race]:
    harness = Race(rep, partial(_use_database, sqlite_file) if sqlite_file else None)
    try:
        yield harness
    finally:
        harness.close()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_commit_behind_a_pull_still_arrives_on_postgresql(race: Race) -> None:
    assert connection.vendor == "postgresql"
    received: Counter[str] = Counter()

    for iteration in range(POSTGRES_ITERATIONS):
        a, b = race.pair(iteration)
        # A takes its version and stays open; B starts and waits on A's lock.
        done_a = race.start(race.a, a)
        a_backend = a.expect_started().backend_pid
        written_a = a.expect_written()
        done_b = race.start(race.b, b)
        wait_until_blocked(b.expect_started().backend_pid, a_backend)

        # (1) A open, B waiting: the pull sees neither and cannot hand out a cursor past A.
        while_a_open = race.pull(race.cursors[-1])
        assert sent(while_a_open) == set()
        assert while_a_open.timestamp < written_a.version
        assert b.messages.empty(), "B took a version while A held the counter"

        # A commits; B takes the next version and stays open.
        a.release.set()
        done_a.result(timeout=TIMEOUT)
        written_b = b.expect_written()
        assert written_a.version < written_b.version

        # (2) A committed, B open: A's record arrives, the cursor stays below B's version.
        after_a = race.pull(while_a_open.timestamp)
        assert sent(after_a) == {(written_a.record_id, written_a.kind)}
        assert sent_name(after_a, written_a.record_id) == written_a.name
        assert written_a.version <= after_a.timestamp < written_b.version

        # (3) Both committed: B's record arrives, and A's does not come again.
        b.release.set()
        done_b.result(timeout=TIMEOUT)
        after_b = race.pull(after_a.timestamp)
        assert sent(after_b) == {(written_b.record_id, written_b.kind)}
        assert sent_name(after_b, written_b.record_id) == written_b.name
        assert after_b.timestamp >= written_b.version

        received.update([written_a.name, written_b.name])

    assert len(received) == 2 * POSTGRES_ITERATIONS
    assert set(received.values()) == {1}
    assert race.cursors == sorted(race.cursors)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_version_rolled_back_is_never_handed_out_on_postgresql(race: Race) -> None:
    assert connection.vendor == "postgresql"

    for iteration in range(ROLLBACK_ITERATIONS):
        a, b = race.pair(iteration)
        a.commit = False
        done_a = race.start(race.a, a)
        a_backend = a.expect_started().backend_pid
        written_a = a.expect_written()
        done_b = race.start(race.b, b)
        wait_until_blocked(b.expect_started().backend_pid, a_backend)

        while_a_open = race.pull(race.cursors[-1])
        assert sent(while_a_open) == set()
        assert while_a_open.timestamp < written_a.version

        # A rolls back: B takes the very number A held, which no device was given.
        a.release.set()
        done_a.result(timeout=TIMEOUT)
        written_b = b.expect_written()
        assert written_b.version == written_a.version

        b.release.set()
        done_b.result(timeout=TIMEOUT)
        after_b = race.pull(while_a_open.timestamp)
        assert sent(after_b) == {(written_b.record_id, written_b.kind)}
        assert sent_name(after_b, written_b.record_id) == written_b.name
        assert after_b.timestamp >= written_b.version

    assert not Account.objects.filter(name__startswith="A-").exists()
    assert race.cursors == sorted(race.cursors)


@pytest.mark.django_db(transaction=True)
def test_a_pull_racing_an_open_writers_commit_misses_nothing(free_race: Race) -> None:
    """B and a pull start while A is open and race A's commit: whatever the order, the pull's
    cursor covers exactly the records it sent, and the next pull sends the rest."""
    race = free_race
    puller = Worker("race-puller", race.initializer)
    outcomes: Counter[str] = Counter()
    try:
        for iteration in range(FREE_RACE_ITERATIONS):
            a, b = race.pair(iteration)
            b.release.set()  # B commits as soon as it has written
            done_a = race.start(race.a, a)
            a.expect_started()
            written_a = a.expect_written()
            done_b = race.start(race.b, b)
            b.expect_started()
            pulling = puller.submit(partial(race.pull, race.cursors[-1]))

            a.release.set()
            done_a.result(timeout=TIMEOUT)
            written_b = b.expect_written()
            done_b.result(timeout=TIMEOUT)
            first = pulling.result(timeout=TIMEOUT)
            second = race.pull(first.timestamp)

            assert written_a.version < written_b.version
            records = [(w.record_id, w.kind) for w in (written_a, written_b)]
            covered = [w.version <= first.timestamp for w in (written_a, written_b)]
            assert sent(first) == {r for r, c in zip(records, covered, strict=True) if c}
            assert sent(second) == {r for r, c in zip(records, covered, strict=True) if not c}
            outcomes[f"first pull had {sum(covered)} of 2"] += 1
            if connection.vendor == "sqlite":
                # The pull began while A held the database, so it waited for A's commit.
                assert covered[0]
    finally:
        puller.close()

    assert outcomes.total() == FREE_RACE_ITERATIONS
    assert race.cursors == sorted(race.cursors)
