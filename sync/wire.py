"""How a tracked model's fields travel to devices: WatermelonDB columns and their values.

Columns are snake_case. A foreign key travels as ``<name>_id``, a many-to-many field as
``<singular>_ids`` (a JSON list in a string), a JSON field as a JSON string, a date-time as
epoch milliseconds, a date as ``YYYY-MM-DD``. Payloads are built from ``.values()`` rows, never
through DRF serializers.
"""

from __future__ import annotations

import builtins
import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import models

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]
_WIRE_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "boolean": bool,
}


class DecodeError(ValueError):
    """A pushed value that does not fit its column."""


@dataclass(frozen=True)
class Column:
    name: str  # on the wire
    source: str  # the ``.values()`` key it is read from
    type: str  # "string" | "number" | "boolean"
    optional: bool
    encode: Encoder
    field: str  # the model field
    decode: Decoder
    many_to_many: str | None = None  # the model field, for many-to-many columns
    # The model a foreign key or many-to-many column points to.
    target: builtins.type[models.Model] | None = None

    def check(self, value: Any) -> None:
        """Raise ``DecodeError`` unless ``value`` has this column's wire type."""
        if value is None:
            if not self.optional:
                raise DecodeError("may not be null")
            return
        expected = _WIRE_TYPES[self.type]
        if not isinstance(value, expected) or (self.type == "number" and isinstance(value, bool)):
            raise DecodeError(f"must be a {self.type}")


def _identity(value: Any) -> Any:
    return value


def epoch_ms(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1000)


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _decimal(value: decimal.Decimal | None) -> str | None:
    return None if value is None else str(value)


def _id_string(value: Any) -> str | None:
    return None if value is None else str(value)


def _from_epoch_ms(value: int | float | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise DecodeError("is not a time in epoch milliseconds") from error


def _from_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise DecodeError("is not a YYYY-MM-DD date") from error


def _from_json(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise DecodeError("is not a JSON string") from error


def _id_list(value: str | None) -> list[str]:
    ids = _from_json(value) if value else []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DecodeError("is not a JSON list of ids")
    return ids


def _from_decimal(value: str | None) -> decimal.Decimal | None:
    if value is None or value == "":
        return None
    try:
        return decimal.Decimal(value)
    except decimal.InvalidOperation as error:
        raise DecodeError("is not a decimal number") from error


def _reference(value: Any) -> Any:
    """A foreign key id; WatermelonDB sends "" for an unset non-optional relation."""
    return None if value == "" else value


def _whole_number(value: int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise DecodeError("must be a whole number")
    return int(value)


def _model(related: Any) -> builtins.type[models.Model]:
    if not (isinstance(related, type) and issubclass(related, models.Model)):
        raise TypeError(f"unresolved relation target {related!r}")
    return related


def column_for(model: type[models.Model], name: str) -> Column:
    field = model._meta.get_field(name)
    if field.many_to_many:
        wire = f"{name[:-1] if name.endswith('s') else name}_ids"
        return Column(
            wire, name, "string", False, _json, name, _id_list, name, _model(field.related_model)
        )
    if isinstance(field, models.ForeignKey):
        target_pk = field.target_field
        kind = "number" if isinstance(target_pk, models.IntegerField) else "string"
        encode = _identity if kind == "number" else _id_string
        attname, target = field.attname, _model(field.related_model)
        return Column(attname, attname, kind, field.null, encode, name, _reference, None, target)
    if isinstance(field, models.DateTimeField):
        return Column(name, name, "number", field.null, epoch_ms, name, _from_epoch_ms)
    if isinstance(field, models.DateField):
        return Column(name, name, "string", field.null, _date, name, _from_date)
    if isinstance(field, models.BooleanField):
        return Column(name, name, "boolean", field.null, _identity, name, _identity)
    if isinstance(field, models.IntegerField):
        return Column(name, name, "number", field.null, _identity, name, _whole_number)
    if isinstance(field, models.FloatField):
        return Column(name, name, "number", field.null, _identity, name, _identity)
    if isinstance(field, models.DecimalField):
        return Column(name, name, "string", field.null, _decimal, name, _from_decimal)
    if isinstance(field, models.JSONField):
        return Column(name, name, "string", field.null, _json, name, _from_json)
    if isinstance(field, models.CharField | models.TextField):
        return Column(name, name, "string", field.null, _identity, name, _identity)
    raise TypeError(f"{model.__name__}.{name}: no wire type for {type(field).__name__}")
