"""Apps declare here which models the change log tracks, under which table name, which fields
it records, and how a record maps to scope keys. The engine knows nothing else about them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

from django.db import models
from django.db.models import Q

from sync import wire

ScopeKeys = Callable[[Any], frozenset[str]]
# The records a set of keys covers: a filter, Q() for all, or None for none.
Coverage = Callable[[frozenset[str]], Q | None]


class MergePolicy(StrEnum):
    """Who wins a field both the server and a device changed since the device's last pull."""

    SERVER = "server"
    CLIENT = "client"


class Writer(Protocol):
    """How pushed records become writes: an app's adapter onto its own services, which load
    records through the same permission functions as its REST views. ``values`` maps model
    field names to Python values (model instances for relations, lists of them for
    many-to-many fields). Services raise ``ApplicationError`` or ``ValidationError`` to reject
    one record."""

    @property
    def fields(self) -> frozenset[str]:
        """The model fields a device may write."""
        ...

    def create(self, *, actor: Any, record_id: str, values: dict[str, Any]) -> None: ...

    def update(self, *, actor: Any, record_id: str, values: dict[str, Any]) -> None: ...

    def delete(self, *, actor: Any, record_id: str) -> None: ...


def _no_scope(_: Any) -> frozenset[str]:
    return frozenset()


def _covers_none(_: frozenset[str]) -> Q | None:
    return None


@dataclass(frozen=True)
class Tracked:
    model: type[models.Model]
    table: str
    fields: tuple[str, ...]
    scope_keys: ScopeKeys = _no_scope
    sensitive: frozenset[str] = field(default_factory=frozenset)
    syncable: bool = True
    covered_by: Coverage = _covers_none
    # Devices may push to this table only with a writer.
    writer: Writer | None = None
    merge: Mapping[str, MergePolicy] = field(default_factory=dict)
    default_merge: MergePolicy = MergePolicy.SERVER
    # Records with this field set are archived: devices do not hold them (an archive reaches
    # them as a deletion), though they stay in scope for the REST API and for pushes.
    archived_field: str | None = None
    # The schema version that added the table, and the versions that added later fields.
    added_in: int = 1
    fields_added_in: Mapping[str, int] = field(default_factory=dict)

    def column_added_in(self, column: wire.Column) -> int:
        return max(self.added_in, self.fields_added_in.get(column.field, self.added_in))

    def columns_at(self, version: int) -> tuple[wire.Column, ...]:
        """The columns a device on schema ``version`` knows."""
        return tuple(c for c in self.columns if self.column_added_in(c) <= version)

    def held_by(self, keys: frozenset[str]) -> Q | None:
        """The records a device whose user holds ``keys`` keeps: covered and not archived."""
        condition = self.covered_by(keys)
        if condition is None or self.archived_field is None:
            return condition
        return condition & Q(**{f"{self.archived_field}__isnull": True})

    def merge_policy(self, field_name: str) -> MergePolicy:
        return self.merge.get(field_name, self.default_merge)

    @cached_property
    def columns_by_name(self) -> dict[str, wire.Column]:
        return {column.name: column for column in self.columns}

    @cached_property
    def columns(self) -> tuple[wire.Column, ...]:
        """Wire columns: the tracked fields except sensitive ones, which never leave the
        server for a device (the REST API shows them to the roles allowed to see them)."""
        return tuple(
            wire.column_for(self.model, name) for name in self.fields if name not in self.sensitive
        )

    def value_names(self) -> list[str]:
        return ["pk", *(c.source for c in self.columns if c.many_to_many is None)]

    def encode_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``.values(*value_names())`` rows as wire records (one query per many-to-many)."""
        many = [c for c in self.columns if c.many_to_many is not None]
        related: dict[str, dict[Any, list[str]]] = {}
        for column in many:
            through = getattr(self.model, column.many_to_many or "").through
            source, target = _through_fields(through, self.model)
            grouped: dict[Any, list[str]] = {}
            for owner, other in (
                through.objects.filter(**{f"{source}__in": [r["pk"] for r in rows]})
                .order_by(target)
                .values_list(source, target)
            ):
                grouped.setdefault(owner, []).append(str(other))
            related[column.name] = grouped
        out = []
        for row in rows:
            record: dict[str, Any] = {"id": str(row["pk"])}
            for column in self.columns:
                if column.many_to_many is None:
                    record[column.name] = column.encode(row[column.source])
                else:
                    record[column.name] = column.encode(related[column.name].get(row["pk"], []))
            out.append(record)
        return out


def _through_fields(through: type[models.Model], model: type[models.Model]) -> tuple[str, str]:
    """The attnames of a through model's foreign key to ``model`` and to the other side."""
    source = target = ""
    for model_field in through._meta.get_fields():
        if isinstance(model_field, models.ForeignKey):
            if model_field.related_model is model and not source:
                source = model_field.attname
            else:
                target = model_field.attname
    return source, target


_by_model: dict[type[models.Model], Tracked] = {}
_by_table: dict[str, Tracked] = {}


def register(
    model: type[models.Model],
    *,
    table: str,
    fields: tuple[str, ...],
    scope_keys: ScopeKeys = _no_scope,
    sensitive: frozenset[str] = frozenset(),
    syncable: bool = True,
    covered_by: Coverage = _covers_none,
    writer: Writer | None = None,
    merge: Mapping[str, MergePolicy] | None = None,
    default_merge: MergePolicy = MergePolicy.SERVER,
    archived_field: str | None = None,
    added_in: int = 1,
    fields_added_in: Mapping[str, int] | None = None,
) -> Tracked:
    """Track ``model`` as sync table ``table``. A table or field added after devices shipped
    declares the schema version that adds it (``added_in``, ``fields_added_in``); the schema
    version devices build is the highest declared."""
    unknown = sorted((set(merge or {}) | set(fields_added_in or {})) - set(fields))
    if unknown:
        raise ValueError(f"{table}: merge policies or versions for untracked fields {unknown}")
    entry = Tracked(
        model,
        table,
        fields,
        scope_keys,
        sensitive,
        syncable,
        covered_by,
        writer,
        dict(merge or {}),
        default_merge,
        archived_field,
        added_in,
        dict(fields_added_in or {}),
    )
    known = _by_table.get(table)
    if known is not None and known.model is not model:
        raise ValueError(f"sync table {table!r} is already registered for {known.model!r}")
    _by_model[model] = entry
    _by_table[table] = entry
    return entry


def for_model(model: type[models.Model]) -> Tracked:
    try:
        return _by_model[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not registered with the change log") from None


def for_table(table: str) -> Tracked | None:
    return _by_table.get(table)


def get_table(table: str) -> Tracked:
    try:
        return _by_table[table]
    except KeyError:
        raise LookupError(f"no tracked table {table!r}") from None


def tables() -> list[str]:
    return sorted(_by_table)


def syncable_tables() -> list[str]:
    """Tables devices hold, in the order an initial sync sends them."""
    return sorted(table for table, entry in _by_table.items() if entry.syncable)


def schema_version() -> int:
    """The newest schema: the highest version any syncable table or field declares."""
    return max(
        (
            max([entry.added_in, *entry.fields_added_in.values()])
            for entry in _by_table.values()
            if entry.syncable
        ),
        default=1,
    )
