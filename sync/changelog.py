"""Writes to the change log. Services call these inside their transaction, after saving.

Versions follow commit order: a version is taken with ``UPDATE ... RETURNING`` on the single
counter row, so the row stays locked by the writing transaction until it commits and no later
transaction can take a smaller number and commit after it. On SQLite writes are serialised by
the IMMEDIATE transaction mode already.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models, transaction

from server import context, realtime
from sync import registry
from sync.enums import Operation
from sync.models import Change, ChangeKey, VersionCounter

REDACTED = "[redacted]"
Snapshot = dict[str, Any]

_collector: ContextVar[list[Change] | None] = ContextVar("changelog_collector", default=None)
_deferred: ContextVar[list[Change] | None] = ContextVar("changelog_deferred", default=None)


@contextmanager
def collect() -> Iterator[list[Change]]:
    """Gather the changes recorded inside the block (sync push uses it to tell which of the
    changes it caused a device already holds). If the block fails, changes it recorded in a
    ``deferred`` block are dropped with it (its savepoint rolls back)."""
    collected: list[Change] = []
    buffer = _deferred.get()
    mark = len(buffer) if buffer is not None else 0
    token = _collector.set(collected)
    try:
        yield collected
    except BaseException:
        if buffer is not None:
            del buffer[mark:]
        raise
    finally:
        _collector.reset(token)


@contextmanager
def deferred() -> Iterator[None]:
    """Write the changes recorded inside the block at its end, in one batch. Versions are
    taken then, so the counter row is locked only from the end of the block to the commit,
    not while the block does its work (a push of hundreds of records). Changes recorded in
    the block have no version until it ends."""
    if _deferred.get() is not None:
        yield
        return
    buffer: list[Change] = []
    token = _deferred.set(buffer)
    try:
        yield
    finally:
        _deferred.reset(token)
    _write(buffer)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def snapshot(instance: models.Model, *, many_to_many: bool = True) -> Snapshot:
    """The tracked fields of ``instance`` as JSON-ready values (foreign keys as ids,
    many-to-many fields as sorted id lists; left out when ``many_to_many`` is false)."""
    tracked = registry.for_model(type(instance))
    meta = instance._meta
    values: Snapshot = {}
    for name in tracked.fields:
        try:
            model_field = meta.get_field(name)
        except FieldDoesNotExist:  # a derived value, e.g. a property
            values[name] = _jsonable(getattr(instance, name))
            continue
        if model_field.many_to_many:
            if not many_to_many:
                continue
            if instance.pk is None:
                values[name] = []
            else:
                manager = getattr(instance, name)
                values[name] = sorted(str(pk) for pk in manager.values_list("pk", flat=True))
        elif model_field.is_relation and isinstance(model_field, models.Field):
            values[name] = _jsonable(getattr(instance, model_field.attname))
        else:
            values[name] = _jsonable(getattr(instance, name))
    return values


def _diff(tracked: registry.Tracked, before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    diff: dict[str, list[Any]] = {}
    for name in tracked.fields:
        old, new = before.get(name), after.get(name)
        if old != new:
            if name in tracked.sensitive:
                old = REDACTED if old not in (None, "") else old
                new = REDACTED if new not in (None, "") else new
            diff[name] = [old, new]
    return diff


def allocate_versions(count: int) -> range:
    """Hand out ``count`` consecutive versions. The caller must be inside a transaction; the
    counter row stays locked until it ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("versions must be allocated inside a transaction")
    table = VersionCounter._meta.db_table
    with connection.cursor() as cursor:
        # One statement whether or not the row exists yet, so two first writers cannot both
        # try to insert it.
        cursor.execute(
            f"INSERT INTO {table} (id, value) VALUES (1, %s) "  # noqa: S608
            f"ON CONFLICT (id) DO UPDATE SET value = {table}.value + excluded.value "
            "RETURNING value",
            [count],
        )
        row = cursor.fetchone()
    last = int(row[0])
    return range(last - count + 1, last + 1)


def _entry(
    *,
    tracked: registry.Tracked,
    record_id: Any,
    operation: Operation,
    diff: dict[str, list[Any]],
    scope_before: Iterable[str],
    scope_after: Iterable[str],
    actor_id: int | None,
) -> Change:
    ctx = context.current()
    return Change(
        table=tracked.table,
        record_id=str(record_id),
        operation=operation,
        diff=diff,
        scope_before=sorted(scope_before),
        scope_after=sorted(scope_after),
        actor_id=actor_id,
        device_id=ctx.device_id or "",
        request_id=ctx.request_id,
    )


def _save(entries: Sequence[Change]) -> list[Change]:
    if not entries:
        return []
    buffer = _deferred.get()
    if buffer is not None:
        buffer.extend(entries)
        saved = list(entries)
    else:
        saved = _write(entries)
    collected = _collector.get()
    if collected is not None:
        collected.extend(saved)
    return saved


def _write(entries: Sequence[Change]) -> list[Change]:
    if not entries:
        return []
    for entry, version in zip(entries, allocate_versions(len(entries)), strict=True):
        entry.version = version
    saved = Change.objects.bulk_create(entries)
    _poke_on_commit({key for entry in saved for key in (*entry.scope_before, *entry.scope_after)})
    ChangeKey.objects.bulk_create(
        [
            ChangeKey(
                version=entry.version,
                key=key,
                table=entry.table,
                record_id=entry.record_id,
                device_id=entry.device_id,
                created=entry.operation == Operation.CREATE,
            )
            for entry in saved
            for key in sorted(set(entry.scope_before) | set(entry.scope_after))
        ]
    )
    return saved


def _poke_on_commit(keys: set[str]) -> None:
    """After commit, tell the sockets of everyone holding one of ``keys`` to pull. The poke
    carries no data: it travels through pull."""
    for key in sorted(keys):
        realtime.publish_on_commit(realtime.scope_group(key), "sync.poke")


def _actor_id(actor: Any) -> int | None:
    return getattr(actor, "pk", None) if actor is not None else None


@transaction.atomic
def record_create(*, instance: models.Model, actor: Any) -> Change:
    tracked = registry.for_model(type(instance))
    after = snapshot(instance)
    entry = _entry(
        tracked=tracked,
        record_id=instance.pk,
        operation=Operation.CREATE,
        diff=_diff(tracked, {}, after),
        scope_before=(),
        scope_after=tracked.scope_keys(instance),
        actor_id=_actor_id(actor),
    )
    return _save([entry])[0]


@transaction.atomic
def record_update(
    *,
    instance: models.Model,
    before: Snapshot,
    after: Snapshot | None = None,
    scope_before: frozenset[str] | None = None,
    actor: Any,
) -> Change | None:
    """Record what changed since ``before`` (a ``snapshot`` taken before the edit), up to
    ``after`` (taken now when not given). Records nothing and returns ``None`` when nothing
    changed."""
    tracked = registry.for_model(type(instance))
    after_scope = tracked.scope_keys(instance)
    diff = _diff(tracked, before, snapshot(instance) if after is None else after)
    old_scope = after_scope if scope_before is None else scope_before
    if not diff and old_scope == after_scope:
        return None
    entry = _entry(
        tracked=tracked,
        record_id=instance.pk,
        operation=Operation.UPDATE,
        diff=diff,
        scope_before=old_scope,
        scope_after=after_scope,
        actor_id=_actor_id(actor),
    )
    return _save([entry])[0]


@transaction.atomic
def record_scope_moves(
    *,
    instances: Sequence[models.Model],
    scope_before: frozenset[str],
    actor: Any,
) -> list[Change]:
    """Record that ``instances`` changed scope keys without changing their own fields (their
    parent moved), so devices that lose or gain them hear of it."""
    entries = []
    for instance in instances:
        tracked = registry.for_model(type(instance))
        scope_after = tracked.scope_keys(instance)
        if scope_after != scope_before:
            entries.append(_unchanged(tracked, instance, scope_before, scope_after, actor))
    return _save(entries)


@transaction.atomic
def record_resend(*, instances: Sequence[models.Model], actor: Any) -> list[Change]:
    """Record that devices must receive ``instances`` again though nothing in them changed
    (a device pushed values a merge did not keep, and holds them since)."""
    entries = []
    for instance in instances:
        tracked = registry.for_model(type(instance))
        keys = tracked.scope_keys(instance)
        entries.append(_unchanged(tracked, instance, keys, keys, actor))
    return _save(entries)


def _unchanged(
    tracked: registry.Tracked,
    instance: models.Model,
    scope_before: Iterable[str],
    scope_after: Iterable[str],
    actor: Any,
) -> Change:
    """An update of no field: a record that moved scope, or that devices must receive again."""
    return _entry(
        tracked=tracked,
        record_id=instance.pk,
        operation=Operation.UPDATE,
        diff={},
        scope_before=scope_before,
        scope_after=scope_after,
        actor_id=_actor_id(actor),
    )


@transaction.atomic
def record_bulk_create(
    *,
    instances: Sequence[models.Model],
    actor: Any,
    many_to_many: dict[Any, Snapshot] | None = None,
) -> list[Change]:
    """One change per saved instance, with one counter update for the batch. Many-to-many
    values are not queried: pass them per primary key in ``many_to_many``."""
    entries = []
    for instance in instances:
        tracked = registry.for_model(type(instance))
        after = snapshot(instance, many_to_many=False)
        if many_to_many:
            after.update(many_to_many.get(instance.pk, {}))
        entries.append(
            _entry(
                tracked=tracked,
                record_id=instance.pk,
                operation=Operation.CREATE,
                diff=_diff(tracked, {}, after),
                scope_before=(),
                scope_after=tracked.scope_keys(instance),
                actor_id=_actor_id(actor),
            )
        )
    return _save(entries)
