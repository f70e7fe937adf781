"""Apps declare here which models the change log tracks, under which table name, which fields
it records, and how a record maps to scope keys. The engine knows nothing else about them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

ScopeKeys = Callable[[Any], frozenset[str]]


def _no_scope(_: Any) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class Tracked:
    model: type[models.Model]
    table: str
    fields: tuple[str, ...]
    scope_keys: ScopeKeys = _no_scope
    sensitive: frozenset[str] = field(default_factory=frozenset)
    syncable: bool = True


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
) -> Tracked:
    entry = Tracked(model, table, fields, scope_keys, sensitive, syncable)
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


def tables() -> list[str]:
    return sorted(_by_table)


def is_tracked(model: type[models.Model]) -> bool:
    return model in _by_model
