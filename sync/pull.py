"""``pull``: what a device must apply to catch up, read from one snapshot.

* **Initial sync** (no cursor, or a cursor the server cannot vouch for): every record the
  user's scope keys cover, paged by record count. Pages after the first are continuation
  tokens (``CONTINUATION_BASE`` + checkpoint id); the last page answers with the snapshot's
  version, so changes committed while paging arrive with the next pull.
* **Delta**: the records whose changes since the cursor carry any key the user holds now or
  held at the cursor, plus a back-fill of keys gained and a revocation of keys lost since then.
  Each is sent as it is now: visible → created/updated, otherwise → deleted. Paged by version.
  A back-fill larger than the page (a user given a whole region) rebuilds the device instead:
  a paged replacement sync.
* A device's own changes, stored exactly as it sent them, are not sent back to it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from sync import registry
from sync.models import ChangeKey, DeviceCheckpoint
from sync.selectors import current_version

CONTINUATION_BASE = 2**52
DEFAULT_PAGE_SIZE = 5000

TableChanges = dict[str, list[Any]]


@dataclass(frozen=True)
class _Checkpoint:
    """A checkpoint to record once the pull's reads are done."""

    device_id: str
    version: int
    keys: frozenset[str]
    resume: dict[str, Any] | None
    base: int | None
    partial: bool


@dataclass
class PullResult:
    changes: dict[str, TableChanges]
    timestamp: int
    has_more: bool
    replacement: bool = False
    checkpoint: _Checkpoint | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "changes": self.changes,
            "timestamp": self.timestamp,
            "has_more": self.has_more,
        }
        if self.replacement:
            body["experimentalStrategy"] = "replacement"
        return body


def _empty_changes() -> dict[str, TableChanges]:
    return {
        table: {"created": [], "updated": [], "deleted": []} for table in registry.syncable_tables()
    }


def _begin_snapshot() -> None:
    """Make every read of this transaction see one snapshot."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _rows(
    tracked: registry.Tracked, condition: Q, *, after_id: str | None, limit: int | None
) -> list[dict[str, Any]]:
    queryset = tracked.model._default_manager.filter(condition).order_by("pk")
    if after_id is not None:
        queryset = queryset.filter(pk__gt=after_id)
    if limit is not None:
        queryset = queryset[:limit]
    return tracked.encode_rows(list(queryset.values(*tracked.value_names())))


def pull(
    *,
    user: Any,
    device_id: str,
    keys: frozenset[str],
    last_pulled_at: int | None,
    page_size: int = DEFAULT_PAGE_SIZE,
    schema_version: int | None = None,
    migrated_from: int | None = None,
) -> PullResult:
    """Changes for ``device_id`` since ``last_pulled_at``, seen by a user holding ``keys``, in
    the tables and columns of ``schema_version`` (the newest by default). ``migrated_from``:
    the device has just migrated its database from that schema version, so the tables and
    columns added since are back-filled. Inside a caller's transaction, the caller's isolation
    level applies."""
    newest = registry.schema_version()
    version = newest if schema_version is None else schema_version
    args = (device_id, keys, last_pulled_at, page_size, version, migrated_from)
    outermost = not connection.in_atomic_block
    # One transaction: its reads see one snapshot, and its checkpoint is recorded in it. (On
    # SQLite, reading in a deferred transaction and recording the checkpoint in a second one
    # measured twice the delta benchmark's live p99: the second still waits for the write
    # lock, in SQLite's sleeping busy handler.)
    with transaction.atomic():
        if outermost:
            _begin_snapshot()
        result = _pull(*args)
        _record(result)
    return result if version == newest else _at_version(result, version)


def _pull(
    device_id: str,
    keys: frozenset[str],
    last_pulled_at: int | None,
    page_size: int,
    version: int,
    migrated_from: int | None,
) -> PullResult:
    if last_pulled_at is not None and last_pulled_at >= CONTINUATION_BASE:
        checkpoint = DeviceCheckpoint.objects.filter(
            pk=last_pulled_at - CONTINUATION_BASE, device_id=device_id
        ).first()
        if checkpoint is None or checkpoint.resume is None:
            return _initial(device_id, keys, page_size, replacement=True)
        # Only the first page of a replacement says so: WatermelonDB replaces each table
        # present in a page, so later pages must add to it, not replace it again.
        return _initial(
            device_id, keys, page_size, snapshot=checkpoint.version, resume=checkpoint.resume
        )
    if last_pulled_at is None:
        return _initial(device_id, keys, page_size)
    checkpoint = DeviceCheckpoint.objects.filter(
        device_id=device_id, version=last_pulled_at, resume__isnull=True
    ).first()
    if checkpoint is None:
        # A cursor this device was never given, or one older than the retention window.
        return _initial(device_id, keys, page_size, replacement=True)
    # The sync began where the device last stood, unless it is still paging through one.
    base = checkpoint.base if checkpoint.partial else last_pulled_at
    result = _delta(
        device_id, keys, frozenset(checkpoint.keys), last_pulled_at, page_size, base or 0
    )
    if migrated_from is not None and migrated_from < version:
        budget = page_size - sum(len(rows) for t in result.changes.values() for rows in t.values())
        if not _migration_backfill(result.changes, keys, migrated_from, version, budget):
            return _initial(device_id, keys, page_size, replacement=True)
    return result


def _migration_backfill(
    changes: dict[str, TableChanges],
    keys: frozenset[str],
    migrated_from: int,
    version: int,
    budget: int,
) -> bool:
    """Add every held record of the tables added after ``migrated_from`` (as created) and of
    the tables that gained columns since (as updated, whole). False when it does not fit the
    page: the caller rebuilds the device instead."""
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        if tracked.added_in > version:
            continue
        if tracked.added_in > migrated_from:
            kind = "created"
        elif any(migrated_from < tracked.column_added_in(c) <= version for c in tracked.columns):
            kind = "updated"
        else:
            continue
        condition = tracked.held_by(keys)
        if condition is None:
            continue
        rows = _rows(tracked, condition, after_id=None, limit=budget + 1)
        if len(rows) > budget:
            return False
        budget -= len(rows)
        bucket = changes[table]
        fresh = {row["id"] for row in rows}
        bucket["created"] = [r for r in bucket["created"] if r["id"] not in fresh]
        bucket["updated"] = [r for r in bucket["updated"] if r["id"] not in fresh]
        bucket[kind].extend(rows)
    return True


def _at_version(result: PullResult, version: int) -> PullResult:
    """``result`` as a device on schema ``version`` knows it: newer tables and columns left
    out."""
    changes: dict[str, TableChanges] = {}
    for table, bucket in result.changes.items():
        tracked = registry.get_table(table)
        if tracked.added_in > version:
            continue
        names = {"id", *(c.name for c in tracked.columns_at(version))}
        changes[table] = {
            "created": [{k: v for k, v in r.items() if k in names} for r in bucket["created"]],
            "updated": [{k: v for k, v in r.items() if k in names} for r in bucket["updated"]],
            "deleted": bucket["deleted"],
        }
    return PullResult(
        changes, result.timestamp, result.has_more, result.replacement, result.checkpoint
    )


def _checkpoint(
    device_id: str,
    version: int,
    keys: frozenset[str],
    resume: dict[str, Any] | None,
    *,
    base: int | None = None,
    partial: bool = False,
) -> _Checkpoint:
    """The keys the device holds at the cursor it is handed and the cursor its sync began
    from (or, for a continuation token, where the initial sync resumes), to record after the
    reads."""
    return _Checkpoint(device_id, version, keys, resume, base, partial)


def _record(result: PullResult) -> None:
    """Write the result's checkpoint; a continuation token is the checkpoint's id."""
    pending = result.checkpoint
    if pending is None:
        return
    if pending.resume is not None:
        created = DeviceCheckpoint.objects.create(
            device_id=pending.device_id,
            version=pending.version,
            keys=sorted(pending.keys),
            resume=pending.resume,
        )
        result.timestamp = CONTINUATION_BASE + created.pk
        return
    # Already inside the pull's transaction: a plain update, then an insert if it matched
    # nothing, spares each pull update_or_create's locking read and two savepoints.
    values = {"keys": sorted(pending.keys), "base": pending.base, "partial": pending.partial}
    matched = DeviceCheckpoint.objects.filter(
        device_id=pending.device_id, version=pending.version, resume__isnull=True
    ).update(**values)
    if not matched:
        DeviceCheckpoint.objects.create(
            device_id=pending.device_id, version=pending.version, **values
        )


def _initial(
    device_id: str,
    keys: frozenset[str],
    page_size: int,
    *,
    snapshot: int | None = None,
    resume: dict[str, Any] | None = None,
    replacement: bool = False,
) -> PullResult:
    version = current_version() if snapshot is None else snapshot
    tables = registry.syncable_tables()
    start_table = int(resume["table"]) if resume else 0
    after_id: str | None = resume.get("after") if resume else None
    changes = _empty_changes()
    budget = page_size
    for index in range(start_table, len(tables)):
        tracked = registry.get_table(tables[index])
        condition = tracked.held_by(keys)
        if condition is None:
            after_id = None
            continue
        rows = _rows(tracked, condition, after_id=after_id, limit=budget + 1)
        more_here = len(rows) > budget
        rows = rows[:budget]
        changes[tracked.table]["created"].extend(rows)
        budget -= len(rows)
        if more_here or (budget == 0 and index + 1 < len(tables)):
            next_resume = {
                "table": index if more_here else index + 1,
                "after": rows[-1]["id"] if more_here else None,
            }
            pending = _checkpoint(device_id, version, keys, next_resume)
            return PullResult(changes, CONTINUATION_BASE, True, replacement, pending)
        after_id = None
    pending = _checkpoint(device_id, version, keys, None, base=version)
    return PullResult(changes, version, False, replacement, pending)


def _newly_held(
    tracked: registry.Tracked, gained: frozenset[str], keys_then: frozenset[str]
) -> Q | None:
    """The records the gained keys bring that the keys held before did not."""
    condition = tracked.held_by(gained)
    before = tracked.held_by(keys_then)
    if condition is None or before is None:
        return condition
    return condition & ~before


def _count_newly_held(
    gained: frozenset[str], keys_then: frozenset[str], *, limit: int
) -> int | None:
    """How many records the gained keys bring, or None when more than ``limit``."""
    total = 0
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        condition = _newly_held(tracked, gained, keys_then)
        if condition is not None:
            queryset = tracked.model._default_manager.filter(condition)
            total += queryset[: max(limit - total, 0) + 1].count()
            if total > limit:
                return None
    return total


def _delta(
    device_id: str,
    keys: frozenset[str],
    keys_then: frozenset[str],
    since: int,
    page_size: int,
    base: int,
) -> PullResult:
    snapshot = current_version()
    relevant = keys | keys_then
    # The changed records, in version order, until the page is full.
    touched: dict[tuple[str, str], set[str]] = {}
    created_after_cursor: set[tuple[str, str]] = set()
    version = snapshot
    has_more = False
    entries = (
        ChangeKey.objects.filter(key__in=relevant, version__gt=since, version__lte=snapshot)
        .order_by("version")
        .values_list("version", "table", "record_id", "device_id", "created")
    )
    last_version = since
    for entry_version, table, record_id, entry_device, created in entries.iterator(chunk_size=2000):
        record = (table, record_id)
        if record not in touched and len(touched) >= page_size and entry_version != last_version:
            version, has_more = last_version, True
            break
        touched.setdefault(record, set()).add(entry_device)
        if created:
            created_after_cursor.add(record)
        last_version = entry_version
    gained, lost = keys - keys_then, keys_then - keys
    budget = page_size - len(touched)
    if gained and not has_more and _count_newly_held(gained, keys_then, limit=budget) is None:
        # More to back-fill than a page holds: rebuild the device instead, paged.
        return _initial(device_id, keys, page_size, replacement=True)
    changes = _empty_changes()
    by_table: dict[str, set[str]] = defaultdict(set)
    for table, record_id in touched:
        by_table[table].add(record_id)
    # Records only this device changed: it already holds what it sent (unless they left its
    # scope, which the deletions below still report).
    echoes = {record for record, devices in touched.items() if devices == {device_id}}
    for table in registry.syncable_tables():
        tracked = registry.get_table(table)
        ids = by_table.get(table, set())
        if not ids and not ((gained or lost) and not has_more):
            continue
        visible_condition = tracked.held_by(keys)
        backfill: list[dict[str, Any]] = []
        if gained and not has_more:
            gained_condition = _newly_held(tracked, gained, keys_then)
            if gained_condition is not None:
                backfill = _rows(tracked, gained_condition, after_id=None, limit=None)
        backfilled = {row["id"] for row in backfill}
        visible = (
            _rows(tracked, visible_condition & Q(pk__in=ids), after_id=None, limit=None)
            if ids and visible_condition is not None
            else []
        )
        seen = {row["id"] for row in visible}
        bucket = changes[table]
        for row in visible:
            if row["id"] in backfilled or (table, row["id"]) in echoes:
                continue
            kind = "created" if (table, row["id"]) in created_after_cursor else "updated"
            bucket[kind].append(row)
        bucket["created"].extend(backfill)
        gone = ids - seen - backfilled
        if lost and not has_more:
            lost_condition = tracked.held_by(lost)
            if lost_condition is not None:
                still = visible_condition if visible_condition is not None else Q(pk__in=[])
                gone |= set(
                    tracked.model._default_manager.filter(lost_condition)
                    .exclude(still)
                    .values_list("pk", flat=True)
                )
        bucket["deleted"].extend(sorted(str(i) for i in gone - seen - backfilled))
    pending = _checkpoint(
        device_id,
        version,
        keys if not has_more else keys_then,
        None,
        base=base,
        partial=has_more,
    )
    return PullResult(changes, version, has_more, checkpoint=pending)
