"""The shape of a push, checked whole before anything is written.

A body is ``{"changes": {table: {"created": [...], "updated": [...], "deleted": [ids]}},
"lastPulledAt": cursor}``, as WatermelonDB's ``pushChanges`` sends it. Records carry their
columns, plus ``_status`` (ignored) and ``_changed`` (the comma-separated columns an update
changed). Anything that does not fit (an unknown table or column, a value of the wrong type, a
bad id, an id twice) refuses the whole push with one 400 listing every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.errors import ApplicationError
from sync import registry, wire
from sync.ids import is_valid_id

MAX_RECORDS = 5000
MAX_REPORTED_PROBLEMS = 50
BUCKETS = ("created", "updated", "deleted")
# Columns WatermelonDB adds to every pushed record.
LOCAL_COLUMNS = frozenset({"_status", "_changed"})


@dataclass(frozen=True)
class Incoming:
    """One pushed record: its raw form (kept for review if it is rejected) and its values
    decoded per column (relations still as ids)."""

    record_id: str
    raw: dict[str, Any]
    values: dict[str, Any]
    # The columns ``_changed`` names; None when the record did not say.
    changed: frozenset[str] | None


@dataclass(frozen=True)
class TablePush:
    tracked: registry.Tracked
    created: list[Incoming]
    updated: list[Incoming]
    deleted: list[str]

    @property
    def ids(self) -> list[str]:
        return [r.record_id for r in (*self.created, *self.updated)] + self.deleted


class _Problems:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        if len(self.fields) < MAX_REPORTED_PROBLEMS:
            self.fields.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ApplicationError(
                "invalid_push",
                "The push is malformed; nothing was applied.",
                fields=self.fields,
            )


def parse(body: Any) -> list[TablePush]:
    """The pushed changes, checked and decoded, or an ``ApplicationError`` (400, 403 or 413)."""
    if not isinstance(body, dict) or not isinstance(body.get("changes"), dict):
        raise ApplicationError(
            "invalid_push",
            'The body must be a JSON object with a "changes" object.',
            fields={"changes": ["Required object."]},
        )
    changes: dict[str, Any] = body["changes"]
    problems = _Problems()
    tables: list[TablePush] = []
    total = 0
    for table, bucket in changes.items():
        tracked = registry.for_table(table)
        if tracked is None or not tracked.syncable:
            raise ApplicationError(
                "unknown_table",
                f"There is no sync table {table!r}; nothing was applied.",
                fields={f"changes.{table}": ["Unknown table."]},
            )
        parsed = _table(tracked, bucket, f"changes.{table}", problems)
        if parsed is None:
            continue
        count = len(parsed.created) + len(parsed.updated) + len(parsed.deleted)
        if count and tracked.writer is None:
            raise ApplicationError(
                "read_only_table",
                f"Devices cannot change {table}; nothing was applied.",
                fields={f"changes.{table}": ["Read-only table."]},
                status=403,
            )
        total += count
        tables.append(parsed)
    if total > MAX_RECORDS:
        raise ApplicationError(
            "push_too_large",
            f"A push may carry at most {MAX_RECORDS} records; split it.",
            status=413,
        )
    problems.raise_if_any()
    return tables


def _table(
    tracked: registry.Tracked, bucket: Any, path: str, problems: _Problems
) -> TablePush | None:
    if not isinstance(bucket, dict) or set(bucket) - set(BUCKETS):
        problems.add(path, 'Must be an object with "created", "updated" and "deleted" lists.')
        return None
    lists: dict[str, list[Any]] = {}
    for name in BUCKETS:
        value = bucket.get(name, [])
        if not isinstance(value, list):
            problems.add(f"{path}.{name}", "Must be a list.")
            value = []
        lists[name] = value
    seen: set[str] = set()
    records: dict[str, list[Incoming]] = {"created": [], "updated": []}
    for name in ("created", "updated"):
        for index, raw in enumerate(lists[name]):
            incoming = _record(tracked, raw, f"{path}.{name}[{index}]", problems)
            if incoming is not None:
                if incoming.record_id in seen:
                    problems.add(f"{path}.{name}[{index}].id", "The same id appears twice.")
                seen.add(incoming.record_id)
                records[name].append(incoming)
    deleted: list[str] = []
    for index, record_id in enumerate(lists["deleted"]):
        if not is_valid_id(record_id):
            problems.add(f"{path}.deleted[{index}]", "Not a record id.")
        elif record_id in seen:
            problems.add(f"{path}.deleted[{index}]", "The same id appears twice.")
        else:
            seen.add(record_id)
            deleted.append(record_id)
    return TablePush(tracked, records["created"], records["updated"], deleted)


def _record(tracked: registry.Tracked, raw: Any, path: str, problems: _Problems) -> Incoming | None:
    if not isinstance(raw, dict):
        problems.add(path, "Must be an object.")
        return None
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not is_valid_id(record_id):
        problems.add(f"{path}.id", "Not a record id.")
        return None
    values: dict[str, Any] = {}
    columns = tracked.columns_by_name
    for name, value in raw.items():
        if name == "id" or name in LOCAL_COLUMNS:
            continue
        column = columns.get(name)
        if column is None:
            problems.add(f"{path}.{name}", "Unknown column.")
            continue
        try:
            column.check(value)
            values[name] = column.decode(value)
        except wire.DecodeError as error:
            problems.add(f"{path}.{name}", f"{name} {error}.")
    changed: frozenset[str] | None = None
    if "_changed" in raw:
        listed = raw["_changed"]
        if not isinstance(listed, str):
            problems.add(f"{path}._changed", "Must be a comma-separated string of columns.")
        else:
            changed = frozenset(name for name in listed.split(",") if name)
            for name in sorted(changed - set(columns)):
                problems.add(f"{path}._changed", f"Unknown column {name!r}.")
            for name in sorted((changed & set(columns)) - set(raw)):
                problems.add(f"{path}._changed", f"Column {name!r} is changed but not sent.")
    return Incoming(record_id, raw, values, changed)
