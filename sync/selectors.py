from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet

from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.filters import DateTimeFilter, IdFilter
from server.models import User
from sync.enums import Operation
from sync.models import Change


class ChangeFilter(django_filters.FilterSet):  # type: ignore[misc]
    table = django_filters.CharFilter()
    record_id = django_filters.CharFilter()
    operation = django_filters.ChoiceFilter(choices=Operation.choices)
    actor = IdFilter(field_name="actor_id")
    device = django_filters.CharFilter(field_name="device_id")
    request_id = django_filters.CharFilter()
    since = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Change
        fields: list[str] = []


def change_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Change]:
    """The audit trail: who changed what, from which device and request. Admins only."""
    require_capability(actor, Capability.AUDIT_VIEW)
    filterset = ChangeFilter(data=filters, queryset=Change.objects.all())
    if not filterset.is_valid():
        raise ApplicationError(
            "invalid_filter",
            "The audit filters are invalid.",
            fields={k: [str(m) for m in v] for k, v in filterset.errors.items()},
        )
    result: QuerySet[Change] = filterset.qs
    return result
