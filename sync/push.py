"""``push``: apply what a device changed offline (WatermelonDB's ``pushChanges``).

A push is one transaction, checked whole first (``sync.push_payload``): an unknown table, a
malformed record, or an id the device never could see refuses the push with a 4xx and writes
nothing. Then each record goes through its app's writer, the same services and permission
loaders as REST, in a savepoint of its own: a record that breaks a domain rule is rejected by
itself, kept as the device sent it (``RejectedChange``) and reported back, and the rest applies.

* **Per-field merge.** For a record the device updated, the columns its ``_changed`` names are
  written, except those the server changed (by anyone but this device) after the cursor the
  device's sync began from, where the table's policy for that field is ``server``; the values
  so overruled are reported and kept for review. (WatermelonDB pulls before it pushes and
  keeps its own values for what it changed, so ``lastPulledAt`` is already past the other
  side's change: the checkpoint of that cursor remembers where the sync began.)
* **Scope.** A record, or a record referred to, that exists but is outside the user's scope is
  bad input (403), unless it was inside the scope the device held when its sync began (it left
  since): then only that record is rejected, with its data kept.
* **Echoes.** Pull does not send a device the changes it made. The changes a push records
  count as the device's own only for the records the server now holds exactly as the device
  sent them; a merged value, or a side effect on another record, goes back at the next pull.
* **Idempotency.** With an ``Idempotency-Key``, the answer is stored with the push; a replay
  gets it back and applies nothing again.
"""

from __future__ import annotations

import functools
import graphlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from server import context
from server.access import scope_keys_cached
from server.errors import ApplicationError
from sync import changelog, registry
from sync.enums import Operation
from sync.ids import is_valid_id
from sync.models import Change, ChangeKey, DeviceCheckpoint, PushReceipt, RejectedChange
from sync.pull import CONTINUATION_BASE
from sync.push_payload import Incoming, TablePush, parse
from sync.selectors import current_version
from sync.wire import Column

# Columns the server keeps: what a device sends for them is ignored.
BOOKKEEPING = frozenset({"created_at", "updated_at"})


@dataclass(frozen=True)
class Rejection:
    code: str
    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class _ReplayRace(Exception):
    """Another request stored an answer under the same idempotency key first."""


def push(
    *,
    user: Any,
    device_id: str,
    keys: frozenset[str],
    body: Any,
    last_pulled_at: int | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Apply ``body`` for ``user`` on ``device_id`` and answer WatermelonDB's push response
    (``experimentalRejectedIds``) plus ``rejections`` (``{table: {id: {code, message,
    fields}}}``) and ``overruled`` (``{table: {id: [columns the server kept]}}``)."""
    tables = parse(body)
    digest = _digest(body)
    try:
        with (
            context.device(device_id),
            scope_keys_cached({user.pk: keys}),
            transaction.atomic(),
        ):
            stored = _stored_answer(device_id, idempotency_key, digest)
            if stored is not None:
                return stored
            since = _check_cursor(last_pulled_at)
            answer = _Push(user, device_id, keys, since).run(tables)
            if idempotency_key:
                try:
                    with transaction.atomic():
                        PushReceipt.objects.create(
                            device_id=device_id, key=idempotency_key, digest=digest, response=answer
                        )
                except IntegrityError as error:
                    raise _ReplayRace from error
            return answer
    except _ReplayRace:
        # The same push, sent twice at once: ours is rolled back, theirs is the answer.
        stored = _stored_answer(device_id, idempotency_key, digest)
        if stored is None:
            raise ApplicationError(
                "push_in_progress", "The same push is being applied; retry it.", status=409
            ) from None
        return stored


def _digest(body: dict[str, Any]) -> str:
    """What a replay must repeat: the changes. A device that pulled again before retrying a
    push whose answer it lost sends the same changes with a newer ``lastPulledAt``."""
    return hashlib.sha256(orjson.dumps(body["changes"], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _stored_answer(device_id: str, key: str | None, digest: str) -> dict[str, Any] | None:
    if not key:
        return None
    receipt = PushReceipt.objects.filter(device_id=device_id, key=key).first()
    if receipt is None:
        return None
    if receipt.digest != digest:
        raise ApplicationError(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different push.",
            status=422,
        )
    answer: dict[str, Any] = receipt.response
    return answer


def _check_cursor(last_pulled_at: int | None) -> int:
    if last_pulled_at is None:
        return 0
    if last_pulled_at >= CONTINUATION_BASE or last_pulled_at > current_version():
        raise ApplicationError(
            "invalid_cursor",
            "lastPulledAt must be a timestamp a completed pull returned.",
            fields={"lastPulledAt": ["Not a completed pull's timestamp."]},
        )
    return last_pulled_at


def _dependency_order(tables: list[TablePush]) -> list[TablePush]:
    """Tables whose records others refer to first (accounts before their sites)."""
    by_table = {t.tracked.table: t for t in tables}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, table in by_table.items():
        targets = {_table_of(c.target) for c in table.tracked.columns if c.target is not None}
        sorter.add(name, *sorted(t for t in targets if t in by_table and t != name))
    return [by_table[name] for name in sorter.static_order()]


def _table_of(model: type[models.Model] | None) -> str | None:
    try:
        return registry.for_model(model).table if model is not None else None
    except LookupError:
        return None


def _checkpoint(device_id: str, version: int) -> DeviceCheckpoint | None:
    return DeviceCheckpoint.objects.filter(
        device_id=device_id, version=version, resume__isnull=True
    ).first()


class _Push:
    def __init__(self, user: Any, device_id: str, keys: frozenset[str], since: int) -> None:
        self.user = user
        self.device_id = device_id
        self.keys = keys
        checkpoint = _checkpoint(device_id, since)
        # The device's edits were made on data as of the cursor its sync began from:
        # WatermelonDB pulls before it pushes, keeping its own values for what it changed. So
        # server changes after that base may conflict with them, and what was in the device's
        # scope then may have been edited.
        self.base = since if checkpoint is None or checkpoint.base is None else checkpoint.base
        at_base = _checkpoint(device_id, self.base) or checkpoint
        self.keys_then = frozenset(at_base.keys) if at_base is not None else None
        # Columns whose pushed value a server-wins policy overruled, kept for review.
        self.overruled: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.rejected: dict[str, dict[str, tuple[Rejection, Operation, dict[str, Any]]]] = {}
        self.applied: dict[str, list[str]] = defaultdict(list)
        self.exact: set[tuple[str, str]] = set()
        self.recorded: list[Change] = []
        # The decoded values of each applied record, to compare with what the server holds.
        self.sent: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.visible_cache: dict[tuple[type[models.Model], Any], models.Model] = {}
        self.open_rejections = set(
            RejectedChange.objects.filter(device_id=device_id, resolved_at=None).values_list(
                "table", "record_id"
            )
        )

    def run(self, tables: list[TablePush]) -> dict[str, Any]:
        ordered = _dependency_order(tables)
        # The change log is written at the end, so the version counter stays locked only from
        # there to the commit, not while every record goes through its services.
        with changelog.deferred():
            # New records parents first; then changes children first, so that a change to a
            # record can rest on what the same push did to the records under it (a job is
            # completed once the checklist answers pushed with it are in); deletions last.
            for table in ordered:
                self._write_table(table, created=True)
            for table in reversed(ordered):
                self._write_table(table, created=False)
            for table in ordered:
                self._note_exact(table.tracked)
            for table in reversed(ordered):
                self._delete(table)
        self._flag_echoes()
        self._store_rejections()
        return self._answer()

    # ---- scope ----------------------------------------------------------------------------

    def _visible(self, tracked: registry.Tracked, ids: Iterable[Any]) -> set[str]:
        condition = tracked.covered_by(self.keys)
        if condition is None:
            return set()
        manager = tracked.model._default_manager
        return {
            str(pk) for pk in manager.filter(condition, pk__in=ids).values_list("pk", flat=True)
        }

    def _was_visible(self, tracked: registry.Tracked, record_id: str) -> bool:
        """Whether the record was in the scope the device held when its sync began: its keys
        then are those before its first change since, or its keys now if none."""
        if self.keys_then is None:
            return False
        first_since = (
            Change.objects.filter(table=tracked.table, record_id=record_id, version__gt=self.base)
            .order_by("version")
            .values_list("scope_before", flat=True)
            .first()
        )
        if first_since is not None:
            keys_at_cursor = frozenset(first_since)
        else:
            instance = tracked.model._default_manager.get(pk=record_id)
            keys_at_cursor = tracked.scope_keys(instance)
        return bool(keys_at_cursor & self.keys_then)

    def _outside_scope(
        self, tracked: registry.Tracked, record_id: str, path: str, pushed: tuple[str, str]
    ) -> Rejection:
        """The rejection of a record (or reference) outside the user's scope, when it left it
        since the device's sync began, or when the pushed record was already rejected for it
        (a device pushes a rejected record again at each sync); otherwise the push is
        refused."""
        if pushed in self.open_rejections or self._was_visible(tracked, record_id):
            return Rejection(
                "out_of_scope", f"{tracked.table} {record_id} is no longer in your scope."
            )
        raise ApplicationError(
            "out_of_scope",
            f"{tracked.table} {record_id} is not yours to change; nothing was applied.",
            fields={path: ["Not in your scope."]},
            status=403,
        )

    # ---- created and updated records -------------------------------------------------------

    def _write_table(self, table: TablePush, *, created: bool) -> None:
        """The table's new records (``created``) or its changed ones."""
        tracked = table.tracked
        incoming = _parents_first(tracked, table.created) if created else table.updated
        if not incoming:
            return
        new_ids = {record.record_id for record in table.created}
        ids = [record.record_id for record in incoming]
        existing = {
            str(pk)
            for pk in tracked.model._default_manager.filter(pk__in=ids).values_list("pk", flat=True)
        }
        visible = self._visible(tracked, existing)
        server_changed = self._server_changed_fields(tracked, visible)
        current = _encoded(tracked, visible)
        for record in incoming:
            operation = Operation.CREATE if record.record_id in new_ids else Operation.UPDATE
            if record.record_id in existing and record.record_id not in visible:
                path = f"changes.{tracked.table}.{operation}d.{record.record_id}"
                pushed = (tracked.table, record.record_id)
                rejection = self._outside_scope(tracked, record.record_id, path, pushed)
                self._reject(tracked, record, operation, rejection)
                continue
            self._write(
                tracked,
                record,
                operation,
                exists=record.record_id in visible,
                current=current.get(record.record_id, {}),
                server_changed=server_changed.get(record.record_id, set()),
            )

    def _server_changed_fields(
        self, tracked: registry.Tracked, ids: set[str]
    ) -> dict[str, set[str]]:
        """The fields of each record someone other than this device changed since its sync
        began."""
        changed: dict[str, set[str]] = defaultdict(set)
        if not ids:
            return changed
        rows = (
            Change.objects.filter(table=tracked.table, record_id__in=ids, version__gt=self.base)
            .exclude(device_id=self.device_id)
            .values_list("record_id", "diff")
        )
        for record_id, diff in rows:
            changed[record_id].update(diff)
        return changed

    def _write(
        self,
        tracked: registry.Tracked,
        record: Incoming,
        operation: Operation,
        *,
        exists: bool,
        current: dict[str, Any],
        server_changed: set[str],
    ) -> None:
        writer = tracked.writer
        if writer is None:
            raise LookupError(f"{tracked.table} has no writer")
        # A re-sent create (its answer was lost) is an update of every column it carries.
        explicit = exists and operation == Operation.UPDATE and record.changed is not None
        names = record.changed if explicit and record.changed is not None else record.values
        values: dict[str, Any] = {}
        read_only: list[str] = []
        overruled: dict[str, Any] = {}
        for name in sorted(names):
            column = tracked.columns_by_name[name]
            if column.field in BOOKKEEPING:
                continue
            if exists and _same(column, record.values[name], current.get(name)):
                continue
            if column.field not in writer.fields:
                # The server fills these on create; only an explicit change is refused.
                if explicit:
                    read_only.append(name)
                continue
            if (
                exists
                and column.field in server_changed
                and tracked.merge_policy(column.field) is registry.MergePolicy.SERVER
            ):
                # The server's newer value stands and goes back to the device.
                overruled[name] = record.raw[name]
                continue
            path = f"changes.{tracked.table}.{record.record_id}.{name}"
            pushed = (tracked.table, record.record_id)
            resolved = self._resolve(column, record.values[name], path, pushed)
            if isinstance(resolved, Rejection):
                self._reject(tracked, record, operation, resolved)
                return
            values[column.field] = resolved
        if read_only:
            self._reject(
                tracked,
                record,
                operation,
                Rejection(
                    "read_only",
                    "These columns cannot be changed from a device: " + ", ".join(read_only),
                    {name: ["Read-only."] for name in read_only},
                ),
            )
            return
        if exists and not values:
            self.applied[tracked.table].append(record.record_id)
            self.sent[tracked.table][record.record_id] = record.values
            applied = True
        else:

            def write() -> None:
                if exists:
                    writer.update(actor=self.user, record_id=record.record_id, values=values)
                else:
                    writer.create(actor=self.user, record_id=record.record_id, values=values)

            applied = self._attempt(tracked, record, operation, write)
        if applied and overruled:
            self.overruled[tracked.table][record.record_id] = overruled

    def _resolve(self, column: Column, value: Any, path: str, pushed: tuple[str, str]) -> Any:
        """A relation column's ids as model instances the user may refer to, or a
        ``Rejection``; other values as they are."""
        if column.target is None or value is None:
            return value
        if column.many_to_many is not None:
            instances = []
            for item in value:
                resolved = self._instance(column.target, item, path, pushed)
                if isinstance(resolved, Rejection):
                    return resolved
                instances.append(resolved)
            return instances
        return self._instance(column.target, value, path, pushed)

    def _instance(
        self, model: type[models.Model], pk: Any, path: str, pushed: tuple[str, str]
    ) -> models.Model | Rejection:
        cached = self.visible_cache.get((model, pk))
        if cached is not None:
            return cached
        table = _table_of(model)
        missing = Rejection("unknown_reference", f"{path}: there is no record {pk!r}.")
        if table is None:
            # Not a synced model (a user): it only has to exist; services judge the rest.
            found = model._default_manager.filter(pk=pk).first()
        else:
            if not is_valid_id(pk):
                return missing
            tracked = registry.get_table(table)
            condition = tracked.covered_by(self.keys)
            found = (
                model._default_manager.filter(condition, pk=pk).first()
                if condition is not None
                else None
            )
            if found is None:
                if pk in self.rejected.get(table, {}):
                    return Rejection(
                        "rejected_dependency", f"{path}: {table} {pk} was rejected in this push."
                    )
                if model._default_manager.filter(pk=pk).exists():
                    return self._outside_scope(tracked, pk, path, pushed)
        if found is None:
            return missing
        self.visible_cache[(model, pk)] = found
        return found

    def _note_exact(self, tracked: registry.Tracked) -> None:
        """Which applied records the server now holds exactly as their device sent them: every
        column sent (a column left out may have been filled by the server) and equal."""
        ids = self.applied.get(tracked.table, [])
        if not ids:
            return
        sent = self.sent[tracked.table]
        compared = [c for c in tracked.columns if c.field not in BOOKKEEPING]
        for record_id, row in _encoded(tracked, set(ids)).items():
            values = sent.get(record_id)
            if values is not None and all(
                column.name in values and _same(column, values[column.name], row.get(column.name))
                for column in compared
            ):
                self.exact.add((tracked.table, record_id))

    # ---- deleted records -----------------------------------------------------------------

    def _delete(self, table: TablePush) -> None:
        tracked = table.tracked
        writer = tracked.writer
        if not table.deleted or writer is None:
            return
        existing = {
            str(pk)
            for pk in tracked.model._default_manager.filter(pk__in=table.deleted).values_list(
                "pk", flat=True
            )
        }
        visible = self._visible(tracked, existing)
        for record_id in table.deleted:
            if record_id not in existing:
                continue  # created and deleted offline, or already gone: nothing to do
            record = Incoming(record_id, {"id": record_id}, {}, None)
            if record_id not in visible:
                path = f"changes.{tracked.table}.deleted.{record_id}"
                pushed = (tracked.table, record_id)
                rejection = self._outside_scope(tracked, record_id, path, pushed)
                self._reject(tracked, record, Operation.DELETE, rejection)
                continue
            delete = functools.partial(writer.delete, actor=self.user, record_id=record_id)
            if self._attempt(tracked, record, Operation.DELETE, delete):
                self.exact.add((tracked.table, record_id))

    # ---- applying, rejecting, answering ----------------------------------------------------

    def _attempt(
        self,
        tracked: registry.Tracked,
        record: Incoming,
        operation: Operation,
        write: Callable[[], None],
    ) -> bool:
        """Run one record's write in a savepoint; a domain error rejects just that record."""
        rejection: Rejection | None = None
        try:
            with transaction.atomic(), changelog.collect() as recorded:
                write()
        except ApplicationError as error:
            rejection = Rejection(error.code, error.message, error.fields)
        except ValidationError as error:
            fields = error.message_dict if hasattr(error, "error_dict") else {}
            rejection = Rejection("invalid", "; ".join(error.messages), fields)
        except IntegrityError:
            rejection = Rejection("conflict", "The record conflicts with another record.")
        if rejection is not None:
            self._reject(tracked, record, operation, rejection)
            return False
        self.recorded.extend(recorded)
        if operation != Operation.DELETE:
            self.applied[tracked.table].append(record.record_id)
            self.sent[tracked.table][record.record_id] = record.values
        return True

    def _reject(
        self,
        tracked: registry.Tracked,
        record: Incoming,
        operation: Operation,
        rejection: Rejection,
    ) -> None:
        table = self.rejected.setdefault(tracked.table, {})
        table[record.record_id] = (rejection, operation, record.raw)

    def _flag_echoes(self) -> None:
        """Changes this push recorded for anything but a record now held exactly as sent are
        not echoes: the pull must send them back to this device. A record held otherwise
        than sent that this push did not change (a merge kept every server value) is
        recorded as to be sent again."""
        changed = {(change.table, change.record_id) for change in self.recorded}
        for table, ids in self.applied.items():
            stale = [i for i in ids if (table, i) not in self.exact and (table, i) not in changed]
            if stale:
                model = registry.get_table(table).model
                instances = list(model._default_manager.filter(pk__in=stale))
                self.recorded += changelog.record_resend(instances=instances, actor=self.user)
        versions = [
            change.version
            for change in self.recorded
            if (change.table, change.record_id) not in self.exact
        ]
        if versions:
            ChangeKey.objects.filter(version__in=versions).update(device_id="")

    def _store_rejections(self) -> None:
        now = timezone.now()
        for table, records in self.rejected.items():
            for record_id, (rejection, operation, raw) in records.items():
                values = {
                    "user": self.user,
                    "operation": operation,
                    "data": raw,
                    "code": rejection.code,
                    "message": rejection.message,
                    "fields": rejection.fields,
                }
                RejectedChange.objects.update_or_create(
                    device_id=self.device_id,
                    table=table,
                    record_id=record_id,
                    resolved_at=None,
                    defaults={
                        **values,
                        "attempts": models.F("attempts") + 1,
                        "last_seen_at": now,
                    },
                    create_defaults=values,
                )
        for table, ids in self.applied.items():
            RejectedChange.objects.filter(
                device_id=self.device_id, table=table, record_id__in=ids, resolved_at=None
            ).update(resolved_at=now)
        RejectedChange.objects.bulk_create(
            [
                RejectedChange(
                    device_id=self.device_id,
                    user=self.user,
                    table=table,
                    record_id=record_id,
                    operation=Operation.UPDATE,
                    data={"id": record_id, **columns},
                    code="overruled",
                    message="The server changed these fields too; its values were kept.",
                    resolved_at=now,
                )
                for table, records in self.overruled.items()
                for record_id, columns in records.items()
            ]
        )

    def _answer(self) -> dict[str, Any]:
        return {
            "experimentalRejectedIds": {
                table: sorted(records) for table, records in sorted(self.rejected.items())
            },
            "rejections": {
                table: {
                    record_id: rejection.as_json()
                    for record_id, (rejection, _, _) in sorted(records.items())
                }
                for table, records in sorted(self.rejected.items())
            },
            # Columns the server kept its own value for (the merged record comes back at the
            # next pull); the device's values are kept for review.
            "overruled": {
                table: {
                    record_id: sorted(columns) for record_id, columns in sorted(records.items())
                }
                for table, records in sorted(self.overruled.items())
            },
        }


def _parents_first(tracked: registry.Tracked, records: list[Incoming]) -> list[Incoming]:
    """Created records ordered so one that refers to another of the batch comes after it (an
    asset before the assets it contains)."""
    own = [c.name for c in tracked.columns if c.target is tracked.model and c.many_to_many is None]
    if not own:
        return records
    by_id = {r.record_id: r for r in records}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for record in records:
        parents = {str(record.values.get(name)) for name in own} & set(by_id)
        sorter.add(record.record_id, *sorted(parents - {record.record_id}))
    try:
        return [by_id[record_id] for record_id in sorter.static_order()]
    except graphlib.CycleError as error:
        raise ApplicationError(
            "invalid_push",
            f"{tracked.table}: created records refer to each other in a cycle.",
            fields={f"changes.{tracked.table}.created": ["Cycle."]},
        ) from error


def _encoded(tracked: registry.Tracked, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = tracked.model._default_manager.filter(pk__in=ids).values(*tracked.value_names())
    return {row["id"]: row for row in tracked.encode_rows(list(rows))}


def _same(column: Column, sent: Any, stored_wire: Any) -> bool:
    """Whether a decoded pushed value equals a stored value in its wire form."""
    stored = column.decode(stored_wire) if stored_wire is not None else None
    if isinstance(sent, list) and isinstance(stored, list):
        return sorted(map(str, sent)) == sorted(map(str, stored))
    return bool(sent == stored)
