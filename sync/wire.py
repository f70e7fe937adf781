"""How a tracked model's fields travel to devices: WatermelonDB columns and their values.

Columns are snake_case. A foreign key travels as ``<name>_id``, a many-to-many field as
``<singular>_ids`` (a JSON list in a string), a JSON field as a JSON string, a date-time as
epoch milliseconds, a date as ``YYYY-MM-DD``. Payloads are built from ``.values()`` rows, never
through DRF serializers.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models

Encoder = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    name: str  # on the wire
    source: str  # the ``.values()`` key it is read from
    type: str  # "string" | "number" | "boolean"
    optional: bool
    encode: Encoder
    many_to_many: str | None = None  # the model field, for many-to-many columns


def _identity(value: Any) -> Any:
    return value


def epoch_ms(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1000)


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _decimal(value: decimal.Decimal | None) -> str | None:
    return None if value is None else str(value)


def _id_string(value: Any) -> str | None:
    return None if value is None else str(value)


def column_for(model: type[models.Model], name: str) -> Column:
    field = model._meta.get_field(name)
    if field.many_to_many:
        wire = f"{name[:-1] if name.endswith('s') else name}_ids"
        return Column(wire, name, "string", False, _json, many_to_many=name)
    if isinstance(field, models.ForeignKey):
        target_pk = field.target_field
        kind = "number" if isinstance(target_pk, models.IntegerField) else "string"
        encode = _identity if kind == "number" else _id_string
        return Column(field.attname, field.attname, kind, field.null, encode)
    if isinstance(field, models.DateTimeField):
        return Column(name, name, "number", field.null, epoch_ms)
    if isinstance(field, models.DateField):
        return Column(name, name, "string", field.null, _date)
    if isinstance(field, models.BooleanField):
        return Column(name, name, "boolean", field.null, _identity)
    if isinstance(field, models.IntegerField | models.FloatField):
        return Column(name, name, "number", field.null, _identity)
    if isinstance(field, models.DecimalField):
        return Column(name, name, "string", field.null, _decimal)
    if isinstance(field, models.JSONField):
        return Column(name, name, "string", field.null, _json)
    if isinstance(field, models.CharField | models.TextField):
        return Column(name, name, "string", field.null, _identity)
    raise TypeError(f"{model.__name__}.{name}: no wire type for {type(field).__name__}")
