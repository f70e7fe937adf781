"""Territories in scope: a user holds ``territory:<code>`` for each territory of the active
model they are a member of today, and an account (with everything under it) carries the key
of its territory. REST, WebSocket and sync all see it through ``server.access.scope_keys_for``
and ``crm.scope``."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from crm.models import Account
from server.models import User
from territories.models import Membership, ModelState

PREFIX = "territory"


def territory_key(code: str) -> str:
    return f"{PREFIX}:{code}"


def user_territory_keys(user: User) -> Iterable[str]:
    today = timezone.localdate()
    codes = Membership.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today),
        user=user,
        valid_from__lte=today,
        territory__territory_model__state=ModelState.ACTIVE,
    ).values_list("territory__code", flat=True)
    return [territory_key(code) for code in codes]


def account_territory_keys(account: Account) -> Iterable[str]:
    return [territory_key(account.territory)] if account.territory else []


def accounts_in_territories(codes: list[str]) -> Q:
    return Q(territory__in=codes)
