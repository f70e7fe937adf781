from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import django_filters
from django.db.models import Model, QuerySet

from server.access import Capability, has_capability, require_capability
from server.filters import DateTimeFilter, FilterSet, IdFilter, apply_filters
from server.models import User
from sync import registry
from sync.enums import Operation
from sync.models import Change, RejectedChange, VersionCounter


class ChangeFilter(FilterSet):
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
    return apply_filters(ChangeFilter, filters, Change.objects.all())


class RejectionFilter(FilterSet):
    open = django_filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull")
    table = django_filters.CharFilter()
    record_id = django_filters.CharFilter()
    code = django_filters.CharFilter()
    device = django_filters.CharFilter(field_name="device_id")
    user = IdFilter(field_name="user_id")

    class Meta:
        model = RejectedChange
        fields: list[str] = []


def rejection_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[RejectedChange]:
    """Pushed records the server rejected or overruled, kept as devices sent them. Users see
    their own; auditors see everyone's."""
    queryset = RejectedChange.objects.all()
    if not has_capability(actor, Capability.AUDIT_VIEW):
        queryset = queryset.filter(user=actor)
    return apply_filters(RejectionFilter, filters, queryset)


def current_version() -> int:
    """The cursor now: every change at or below it has committed."""
    value = VersionCounter.objects.filter(pk=1).values_list("value", flat=True).first()
    return int(value or 0)


def changed_since(version: int, models: Iterable[type[Model]]) -> bool:
    """Whether any record of ``models`` changed after cursor ``version``."""
    tables = [registry.for_model(model).table for model in models]
    return Change.objects.filter(version__gt=version, table__in=tables).exists()
