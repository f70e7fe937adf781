"""Property tests of sync, with hypothesis.

* **Convergence**: devices of three users make random offline edits, creations and deletions,
  sync (sometimes losing the push's answer and replaying it), while the back office edits and
  reassigns accounts. After everyone syncs, every device holds exactly what the server says
  its user sees, no acknowledged write is lost, nothing was created twice, and what a device
  still holds unsynced is what the server rejects.
* **Snapshot**: for a random server history, applying ``pull(since=T0)`` (paged) to the
  snapshot at T0 gives the snapshot now.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from crm import services
from crm.models import Account, Contact
from server.access import scope_keys_for
from server.enums import Role
from server.models import User
from sync import registry
from sync.client import LostAcknowledgement, PushOutcome, SyncClient
from sync.enums import Operation
from sync.models import Change
from sync.push import BOOKKEEPING
from tests.factories import AccountFactory, ContactFactory, UserFactory
from tests.sync.conftest import DirectTransport

WORDS = st.sampled_from(["alpha", "bravo", "charlie", "delta"])
DEVICES = ("a1", "a2", "b1", "m1")
ACCOUNT_FIELDS = st.sampled_from(["name", "notes", "phone"])
CONTACT_FIELDS = st.sampled_from(["last_name", "phone"])
INDEX = st.integers(0, 9)
DEVICE = st.integers(0, len(DEVICES) - 1)

DEVICE_OPERATIONS = st.one_of(
    st.tuples(st.just("edit_account"), DEVICE, INDEX, ACCOUNT_FIELDS, WORDS),
    st.tuples(st.just("edit_contact"), DEVICE, INDEX, CONTACT_FIELDS, WORDS),
    st.tuples(st.just("create_contact"), DEVICE, INDEX, WORDS),
    st.tuples(st.just("delete_contact"), DEVICE, INDEX),
    st.tuples(st.just("sync"), DEVICE, st.booleans()),
    st.tuples(st.just("reassign"), INDEX, st.integers(0, 1)),
    st.tuples(st.just("server_edit"), INDEX, ACCOUNT_FIELDS, WORDS),
)
SERVER_OPERATIONS = st.one_of(
    st.tuples(st.just("create_account"), st.integers(0, 1), WORDS),
    st.tuples(st.just("create_contact"), INDEX, WORDS),
    st.tuples(st.just("edit_account"), INDEX, ACCOUNT_FIELDS, WORDS),
    st.tuples(st.just("edit_contact"), INDEX, CONTACT_FIELDS, WORDS),
    st.tuples(st.just("archive_contact"), INDEX),
    st.tuples(st.just("archive_account"), INDEX),
    st.tuples(st.just("reassign"), INDEX, st.integers(0, 1)),
)
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("FIELDLINE_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class World:
    reps: list[User]
    manager: User
    devices: dict[str, SyncClient]
    users: dict[str, User]
    initial_contacts: set[str]
    created: set[str] = field(default_factory=set)


def _world() -> World:
    reps = [UserFactory.create(roles=[Role.SALES_REP]) for _ in range(2)]
    manager = UserFactory.create(roles=[Role.SALES_MANAGER])
    contacts = set()
    for rep in reps:
        for _ in range(2):
            contacts.add(ContactFactory.create(account=AccountFactory.create(owner=rep)).id)
    users = {"a1": reps[0], "a2": reps[0], "b1": reps[1], "m1": manager}
    devices = {name: SyncClient(DirectTransport(user, name)) for name, user in users.items()}
    return World(reps, manager, devices, users, contacts)


def _pick(ids: list[str], index: int) -> str | None:
    return sorted(ids)[index % len(ids)] if ids else None


def _account(index: int, *, live: bool = True) -> Account | None:
    queryset = Account.objects.filter(archived_at__isnull=True) if live else Account.objects.all()
    account_id = _pick(list(queryset.values_list("pk", flat=True)), index)
    return Account.objects.select_for_update().get(pk=account_id) if account_id else None


def _server_rows(table: str, user: User) -> dict[str, dict[str, Any]]:
    """What a device of ``user`` must hold of ``table``, without server bookkeeping."""
    tracked = registry.get_table(table)
    condition = tracked.held_by(scope_keys_for(user))
    if condition is None:
        return {}
    rows = tracked.model._default_manager.filter(condition).values(*tracked.value_names())
    return {row["id"]: _visible_columns(row) for row in tracked.encode_rows(list(rows))}


def _visible_columns(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in BOOKKEEPING and not k.startswith("_")}


@dataclass(frozen=True)
class Write:
    seq: int
    key: tuple[str, str, str]  # table, id, column
    value: Any
    acknowledged: bool


class Ledger:
    """Every write the server may have applied, in the order it applied them."""

    def __init__(self) -> None:
        self.seq = 0
        self.writes: list[Write] = []
        self.lost: dict[str, tuple[int, dict[str, dict[str, list[Any]]]]] = {}

    def next(self) -> int:
        self.seq += 1
        return self.seq

    def server(self, table: str, record_id: str, column: str, value: Any) -> None:
        self.writes.append(Write(self.next(), (table, record_id, column), value, True))

    def pushed(
        self,
        seq: int,
        pushed: dict[str, dict[str, list[Any]]],
        outcome: PushOutcome | None,
    ) -> None:
        """Record a push applied at ``seq``; acknowledged when its answer arrived."""
        for table, bucket in pushed.items():
            rejected = set(outcome.rejected.get(table, [])) if outcome else set()
            overruled = outcome.overruled.get(table, {}) if outcome else {}
            for kind in ("created", "updated"):
                for record in bucket[kind]:
                    if record["id"] in rejected:
                        continue
                    columns = (
                        record["_changed"].split(",")
                        if kind == "updated"
                        else [c for c in record if c != "id" and not c.startswith("_")]
                    )
                    for column in filter(None, columns):
                        if column in overruled.get(record["id"], []) or column in BOOKKEEPING:
                            continue
                        self.writes.append(
                            Write(
                                seq,
                                (table, record["id"], column),
                                record[column],
                                outcome is not None,
                            )
                        )

    def sync(self, name: str, device: SyncClient, *, lose_answer: bool) -> PushOutcome | None:
        try:
            outcome = device.sync(lose_push_answer=lose_answer)
        except LostAcknowledgement as lost:
            self.lost[name] = (self.next(), lost.pushed)
            return None
        earlier = self.lost.pop(name, None)
        if outcome.replayed and earlier is not None:
            self.pushed(earlier[0], outcome.pushed, outcome)
        else:
            if earlier is not None:  # applied, but its answer never came: not acknowledged
                self.pushed(earlier[0], earlier[1], None)
            if outcome.pushed:
                self.pushed(self.next(), outcome.pushed, outcome)
        return outcome

    def check(self, read: Callable[[str, str, str], Any]) -> None:
        """The server holds each field's last acknowledged value, unless a write applied
        after it (acknowledged or not) replaced it."""
        by_key: dict[tuple[str, str, str], list[Write]] = {}
        for write in self.writes:
            by_key.setdefault(write.key, []).append(write)
        for key, writes in by_key.items():
            acknowledged = [w for w in writes if w.acknowledged]
            if not acknowledged:
                continue
            last = max(acknowledged, key=lambda w: w.seq)
            allowed = [last.value] + [w.value for w in writes if w.seq > last.seq]
            assert read(*key) in allowed, (key, read(*key), allowed)


class ConvergenceTests(TestCase):
    @PROPERTY_SETTINGS
    @given(operations=st.lists(DEVICE_OPERATIONS, min_size=1, max_size=30))
    def test_devices_converge_without_losing_acknowledged_writes(
        self, operations: list[tuple[Any, ...]]
    ) -> None:
        world = _world()
        ledger = Ledger()
        for device in world.devices.values():
            device.sync()
        for operation in operations:
            self._apply(world, ledger, operation)

        # everyone syncs until nothing moves
        final: dict[str, PushOutcome | None] = {}
        for _ in range(3):
            for name, device in world.devices.items():
                final[name] = ledger.sync(name, device, lose_answer=False)

        for name, device in world.devices.items():
            user = world.users[name]
            outcome = final[name]
            rejected = outcome.rejected if outcome is not None else {}
            for table in registry.syncable_tables():
                local = device.tables.get(table, {})
                synced = {
                    record_id: _visible_columns(record)
                    for record_id, record in local.items()
                    if record["_status"] == "synced"
                }
                # identical data, and nothing outside the user's scope
                assert synced == _server_rows(table, user), (name, table)
                # what is still unsynced is what the server keeps rejecting
                dirty = {rid for rid, r in local.items() if r["_status"] != "synced"}
                assert dirty <= set(rejected.get(table, [])), (name, table, dirty)

        # no acknowledged write lost
        def read(table: str, record_id: str, column: str) -> Any:
            tracked = registry.get_table(table)
            row = tracked.model._default_manager.filter(pk=record_id).values(*tracked.value_names())
            return tracked.encode_rows(list(row))[0][column]

        ledger.check(read)
        # no duplicate: every record was created once, by the seed or by one device
        twice = (
            Change.objects.filter(operation=Operation.CREATE)
            .values("table", "record_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not twice.exists()
        server_contacts = set(Contact.objects.values_list("pk", flat=True))
        assert server_contacts <= world.initial_contacts | world.created

    def _apply(self, world: World, ledger: Ledger, operation: tuple[Any, ...]) -> None:
        kind = operation[0]
        if kind == "reassign":
            account = _account(operation[1])
            owner = world.reps[operation[2]]
            if account is not None:
                services.account_update(actor=world.manager, account=account, owner=owner)
                ledger.server("accounts", account.id, "owner_id", owner.pk)
            return
        if kind == "server_edit":
            _, index, column, value = operation
            account = _account(index)
            if account is not None:
                services.account_update(actor=world.manager, account=account, **{column: value})
                ledger.server("accounts", account.id, column, value)
            return
        name = DEVICES[operation[1]]
        device = world.devices[name]
        if kind == "sync":
            ledger.sync(name, device, lose_answer=operation[2])
        elif kind == "edit_account":
            record_id = _pick(list(device.records("accounts")), operation[2])
            if record_id:
                device.update("accounts", record_id, {operation[3]: operation[4]})
        elif kind == "edit_contact":
            record_id = _pick(list(device.records("contacts")), operation[2])
            if record_id:
                device.update("contacts", record_id, {operation[3]: operation[4]})
        elif kind == "create_contact":
            account_id = _pick(list(device.records("accounts")), operation[2])
            if account_id:
                values = {"account_id": account_id, "last_name": operation[3], "roles": "[]"}
                world.created.add(device.create("contacts", values))
        elif kind == "delete_contact":
            record_id = _pick(list(device.records("contacts")), operation[2])
            if record_id:
                device.delete("contacts", record_id)


class SnapshotTests(TestCase):
    @PROPERTY_SETTINGS
    @given(
        before=st.lists(SERVER_OPERATIONS, max_size=12),
        after=st.lists(SERVER_OPERATIONS, max_size=12),
        page_size=st.sampled_from([1, 3, 1000]),
    )
    def test_pull_since_t0_applied_to_the_t0_snapshot_is_the_snapshot_now(
        self, before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], page_size: int
    ) -> None:
        reps = [UserFactory.create(roles=[Role.SALES_REP]) for _ in range(2)]
        manager = UserFactory.create(roles=[Role.SALES_MANAGER])
        for rep in reps:
            ContactFactory.create(account=AccountFactory.create(owner=rep))
        viewer = SyncClient(DirectTransport(reps[0], "viewer", page_size=page_size))
        for operation in before:
            _server_operation(operation, reps, manager)

        viewer.pull()
        self._assert_holds_the_snapshot(viewer, reps[0])
        for operation in after:
            _server_operation(operation, reps, manager)
        viewer.pull()

        self._assert_holds_the_snapshot(viewer, reps[0])

    @staticmethod
    def _assert_holds_the_snapshot(device: SyncClient, user: User) -> None:
        for table in registry.syncable_tables():
            held = {rid: _visible_columns(r) for rid, r in device.tables.get(table, {}).items()}
            assert held == _server_rows(table, user), table


def _server_operation(operation: tuple[Any, ...], reps: list[User], manager: User) -> None:
    kind = operation[0]
    if kind == "create_account":
        services.account_create(actor=manager, owner=reps[operation[1]], name=operation[2])
    elif kind == "create_contact":
        account = _account(operation[1])
        if account is not None:
            services.contact_create(actor=manager, account=account, last_name=operation[2])
    elif kind in ("edit_account", "archive_account", "reassign"):
        account = _account(operation[1])
        if account is None:
            return
        if kind == "edit_account":
            services.account_update(actor=manager, account=account, **{operation[2]: operation[3]})
        elif kind == "reassign":
            services.account_update(actor=manager, account=account, owner=reps[operation[2]])
        else:
            services.account_archive(actor=manager, account=account)
    else:
        live = Contact.objects.filter(archived_at__isnull=True)
        contact_id = _pick(list(live.values_list("pk", flat=True)), operation[1])
        if contact_id is None:
            return
        contact = Contact.objects.get(pk=contact_id)
        if kind == "edit_contact":
            services.contact_update(actor=manager, contact=contact, **{operation[2]: operation[3]})
        else:
            services.contact_archive(actor=manager, contact=contact)
