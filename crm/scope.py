"""Which scope keys a customer record carries, and which records a set of keys covers.

An account carries ``org`` (back office sees every customer) and ``owner:<id>``. Other apps
add keys (territories, technicians' work orders) with ``register_account_keys``. Contacts,
sites, assets, interactions, promises and preferences carry their account's keys. Tiers and
tags are reference data (``ref``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Q

from crm.models import Account
from server.access import ORG_KEY, REFERENCE_KEY, owner_key

AccountKeys = Callable[[Account], Iterable[str]]
KeyFilter = Callable[[list[str]], Q]

_account_key_providers: list[AccountKeys] = []
_account_key_filters: dict[str, KeyFilter] = {
    "owner": lambda values: Q(owner_id__in=[int(v) for v in values if v.isdigit()]),
}


def register_account_keys(prefix: str, provider: AccountKeys, key_filter: KeyFilter) -> None:
    """Let another app scope accounts: ``provider`` lists an account's keys under ``prefix``,
    ``key_filter`` turns the key values a user holds into a filter on ``Account``."""
    _account_key_providers.append(provider)
    _account_key_filters[prefix] = key_filter


def reference_keys(_: Any) -> frozenset[str]:
    return frozenset({REFERENCE_KEY})


def account_keys(account: Account) -> frozenset[str]:
    keys = {ORG_KEY}
    if account.owner_id is not None:
        keys.add(owner_key(account.owner_id))
    for provider in _account_key_providers:
        keys.update(provider(account))
    return frozenset(keys)


def account_child_keys(record: Any) -> frozenset[str]:
    """Keys of a record that belongs to an account (``record.account``)."""
    return account_keys(record.account)


def accounts_covered_by(keys: frozenset[str]) -> Q:
    """A filter on ``Account`` for the records ``keys`` cover; an empty ``Q()`` (falsy) means
    all of them."""
    if ORG_KEY in keys:
        return Q()
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        prefix, _, value = key.partition(":")
        if value:
            by_prefix[prefix].append(value)
    condition = Q(pk__in=[])
    for prefix, values in by_prefix.items():
        key_filter = _account_key_filters.get(prefix)
        if key_filter is not None:
            condition |= key_filter(values)
    return condition


def reference_coverage(keys: frozenset[str]) -> Q | None:
    return Q() if REFERENCE_KEY in keys else None


def account_child_coverage(keys: frozenset[str]) -> Q:
    """A filter on a model with an ``account`` foreign key for the records ``keys`` cover."""
    condition = accounts_covered_by(keys)
    if not condition:
        return condition
    return Q(account__in=Account.objects.filter(condition).values("pk"))
