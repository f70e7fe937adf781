"""Reads of work orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet

from field_service import states
from field_service.models import CrewMember, State, WorkOrder
from field_service.permissions import visible_work_orders
from server.filters import FilterSet, IdFilter, apply_filters
from server.models import User


class WorkOrderFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    territory = django_filters.CharFilter()
    account = django_filters.CharFilter(field_name="account_id")
    site = django_filters.CharFilter(field_name="site_id")
    technician = IdFilter(method="filter_technician")

    class Meta:
        model = WorkOrder
        fields: list[str] = []

    def filter_technician(
        self, queryset: QuerySet[WorkOrder], name: str, value: int
    ) -> QuerySet[WorkOrder]:
        return queryset.filter(
            pk__in=CrewMember.objects.filter(technician_id=value).values("work_order")
        )


def work_order_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[WorkOrder]:
    return apply_filters(WorkOrderFilter, filters, visible_work_orders(actor))


def open_work_orders_by_territory(
    site_codes: Mapping[str, str],
) -> tuple[dict[str, int], dict[str, int]]:
    """Open jobs per territory now, and where their sites would put them (``site_codes``: site
    id -> territory code in a planning map): a realignment preview's workload measure."""
    now: dict[str, int] = {}
    then: dict[str, int] = {}
    for territory, site_id in WorkOrder.objects.filter(state__in=states.OPEN).values_list(
        "territory", "site_id"
    ):
        if territory:
            now[territory] = now.get(territory, 0) + 1
        code = site_codes.get(site_id)
        if code:
            then[code] = then.get(code, 0) + 1
    return now, then
