"""List filters that refuse values the database cannot take, so a bad query string is a 400
rather than an overflow deep in the driver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from server.errors import ApplicationError

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


class FilterSet(django_filters.FilterSet):
    """A list's filters. ``defaults`` is what applies when the request asks for none."""

    @classmethod
    def defaults(cls, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


def apply_filters[M: Model](
    filter_class: type[FilterSet], data: Mapping[str, Any], queryset: QuerySet[M]
) -> QuerySet[M]:
    """``queryset`` narrowed by the filters in ``data``; invalid values are a 400."""
    if not set(data) & set(filter_class.base_filters):
        # No filter asked for: skip building and validating the form (every list request).
        return filter_class.defaults(queryset)
    filterset = filter_class(data=data, queryset=queryset)
    if not filterset.is_valid():
        raise ApplicationError(
            "invalid_filter",
            "The list filters are invalid.",
            fields={name: [str(m) for m in errors] for name, errors in filterset.errors.items()},
        )
    result: QuerySet[M] = filterset.qs
    return result
