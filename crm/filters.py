from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from crm.enums import AccountKind, InteractionKind, LifecycleStage
from crm.models import Account, Asset, Contact, Interaction, Site
from server.filters import DateTimeFilter, FilterSet, IdFilter


class ArchivedFilterSet(FilterSet):
    """Archived records are hidden unless ``archived=true`` (only archived) or ``all``."""

    archived = django_filters.ChoiceFilter(
        choices=[("false", "false"), ("true", "true"), ("all", "all")], method="filter_archived"
    )
    updated_since = DateTimeFilter(field_name="updated_at", lookup_expr="gte")

    def filter_archived(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if value == "all":
            return queryset
        return queryset.filter(archived_at__isnull=value != "true")

    @classmethod
    def defaults(cls, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(archived_at__isnull=True)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.form.cleaned_data.get("archived"):
            queryset = self.defaults(queryset)
        return super().filter_queryset(queryset)


class AccountFilter(ArchivedFilterSet):
    kind = django_filters.ChoiceFilter(choices=AccountKind.choices)
    lifecycle_stage = django_filters.ChoiceFilter(choices=LifecycleStage.choices)
    tier = django_filters.CharFilter(field_name="tier_id")
    owner = IdFilter(field_name="owner_id")
    tag = django_filters.CharFilter(field_name="tags__name", distinct=True)
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Account
        fields: list[str] = []

    def filter_search(
        self, queryset: QuerySet[Account], name: str, value: str
    ) -> QuerySet[Account]:
        return queryset.filter(Q(name__icontains=value) | Q(email__icontains=value))


class ContactFilter(ArchivedFilterSet):
    account = django_filters.CharFilter(field_name="account_id")
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(
        self, queryset: QuerySet[Contact], name: str, value: str
    ) -> QuerySet[Contact]:
        return queryset.filter(
            Q(last_name__icontains=value)
            | Q(first_name__icontains=value)
            | Q(email__icontains=value)
        )


class SiteFilter(ArchivedFilterSet):
    account = django_filters.CharFilter(field_name="account_id")
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact")
    geocoded = django_filters.BooleanFilter(method="filter_geocoded")

    class Meta:
        model = Site
        fields: list[str] = []

    def filter_geocoded(self, queryset: QuerySet[Site], name: str, value: bool) -> QuerySet[Site]:
        return queryset.filter(latitude__isnull=not value)


class AssetFilter(ArchivedFilterSet):
    account = django_filters.CharFilter(field_name="account_id")
    site = django_filters.CharFilter(field_name="site_id")
    serial_number = django_filters.CharFilter()
    warranty_active_on = django_filters.DateFilter(field_name="warranty_end", lookup_expr="gte")
    contract_active_on = django_filters.DateFilter(field_name="contract_end", lookup_expr="gte")

    class Meta:
        model = Asset
        fields: list[str] = []


class InteractionFilter(ArchivedFilterSet):
    account = django_filters.CharFilter(field_name="account_id")
    contact = django_filters.CharFilter(field_name="contact_id")
    kind = django_filters.ChoiceFilter(choices=InteractionKind.choices)
    author = IdFilter(field_name="author_id")
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Interaction
        fields: list[str] = []
