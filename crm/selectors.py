"""Reads of customer records. Every list runs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import F, Prefetch, QuerySet

from crm.filters import AccountFilter, AssetFilter, ContactFilter, InteractionFilter, SiteFilter
from crm.models import (
    Account,
    AccountTag,
    Asset,
    Contact,
    ContactPreference,
    CustomerTier,
    Interaction,
    Promise,
    Site,
    Tag,
)
from crm.permissions import visible_accounts, visible_for_account
from server.filters import apply_filters
from server.models import User


def _live_sites() -> Prefetch:
    return Prefetch("sites", queryset=Site.objects.filter(archived_at__isnull=True))


# What the account list shows, read as plain rows (the list is the hottest read in the API).
ACCOUNT_LIST_COLUMNS = (
    "id",
    "name",
    "kind",
    "tier_id",
    "tier__code",
    "tier__name",
    "tier__rank",
    "lifecycle_stage",
    "owner_id",
    "phone",
    "email",
    "website",
    "notes",
    "national_id",
    "bank_account",
    "territory",
    "created_at",
    "updated_at",
    "archived_at",
)


def account_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Account, dict[str, Any]]:
    """Visible accounts matching ``filters``, as rows of ``ACCOUNT_LIST_COLUMNS``; page them,
    then attach sites and tags with ``account_list_related``."""
    queryset = apply_filters(AccountFilter, filters, visible_accounts(actor))
    return queryset.values(*ACCOUNT_LIST_COLUMNS)


def account_list_related(
    account_ids: list[str],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Live sites and tags of a page of accounts: two queries, grouped by account id."""
    sites: dict[str, list[dict[str, Any]]] = {account_id: [] for account_id in account_ids}
    for site in (
        Site.objects.filter(account_id__in=account_ids, archived_at__isnull=True)
        .order_by("-is_primary", "name", "id")  # Site's default ordering
        .values()
    ):
        sites[site["account_id"]].append(dict(site))
    tags: dict[str, list[dict[str, Any]]] = {account_id: [] for account_id in account_ids}
    for link in (
        AccountTag.objects.filter(account_id__in=account_ids)
        .order_by("tag__name")  # Tag's default ordering
        .values("account_id", "tag_id", "tag__name", "tag__color")
    ):
        tags[link["account_id"]].append(dict(link))
    return sites, tags


def account_detail(account: Account) -> Account:
    """Attach what the detail view shows to an account loaded by ``access_account``."""
    return (
        Account.objects.select_related("tier", "owner")
        .prefetch_related(_live_sites(), "tags")
        .get(pk=account.pk)
    )


def contact_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Contact]:
    return apply_filters(ContactFilter, filters, visible_for_account(Contact, actor))


def site_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Site]:
    return apply_filters(SiteFilter, filters, visible_for_account(Site, actor))


def asset_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Asset]:
    return apply_filters(AssetFilter, filters, visible_for_account(Asset, actor))


def interaction_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[Interaction]:
    queryset = visible_for_account(Interaction, actor).prefetch_related(
        Prefetch("promises", queryset=Promise.objects.filter(archived_at__isnull=True))
    )
    return apply_filters(InteractionFilter, filters, queryset)


def interaction_detail(interaction: Interaction) -> Interaction:
    return Interaction.objects.prefetch_related("promises").get(pk=interaction.pk)


def preference_list(*, account: Account) -> QuerySet[ContactPreference]:
    return ContactPreference.objects.filter(account=account).order_by(
        F("contact_id").asc(nulls_first=True), "channel"
    )


def tier_list() -> QuerySet[CustomerTier]:
    return CustomerTier.objects.filter(archived_at__isnull=True)


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.filter(archived_at__isnull=True)
