"""List filters that refuse values the database cannot take, so a bad query string is a 400
rather than an overflow deep in the driver."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError

MAX_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """A positive integer id (a user, a device)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value: Any) -> dt.datetime | None:
        parsed: dt.datetime | None = super().to_python(value)
        if parsed is not None and parsed.tzinfo is not None:
            try:
                parsed.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError("This date is out of range.", code="invalid") from None
        return parsed


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time that converts to UTC without overflowing."""

    field_class = _BoundedIsoDateTimeField
