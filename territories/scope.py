"""Territories in scope: a user holds ``territory:<code>`` for each territory of the active
model they are a member of today, and an account (with everything under it) carries the key
of its territory. REST, WebSocket and sync all see it through ``server.access.scope_keys_for``
and ``crm.scope``."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from crm.models import Account
from server.models import User
from territories.models import MemberRole, Membership, ModelState, Territory

PREFIX = "territory"
DISPATCH_PREFIX = "dispatch"


def territory_key(code: str) -> str:
    return f"{PREFIX}:{code}"


def dispatch_key(code: str) -> str:
    return f"{DISPATCH_PREFIX}:{code}"


# The roles whose members see the territory's customers. Technicians and dispatchers belong
# to territories to be given and to dispatch its jobs: their scope is the jobs themselves.
CUSTOMER_ROLES = (MemberRole.OWNER, MemberRole.REP, MemberRole.MANAGER)


def user_territory_keys(user: User) -> Iterable[str]:
    """For each territory of the active model the user belongs to today, and every territory
    under it (an area's manager sees the area): ``territory:<code>`` as an owner, rep or
    manager (its customers), ``dispatch:<code>`` as a dispatcher (its jobs)."""
    keys: set[str] = set()
    for role, codes in member_codes(user.pk, (*CUSTOMER_ROLES, MemberRole.DISPATCHER)).items():
        make = dispatch_key if role == MemberRole.DISPATCHER else territory_key
        keys.update(make(code) for code in codes)
    return sorted(keys)


def member_codes(
    user_id: int, roles: Iterable[str], *, on: dt.date | None = None
) -> dict[str, set[str]]:
    """By role: the codes of the active model's territories the user is a member of on ``on``
    (today by default) in that role, with every territory under them."""
    today = on or timezone.localdate()
    rows = Membership.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today),
        user_id=user_id,
        role__in=list(roles),
        valid_from__lte=today,
        territory__territory_model__state=ModelState.ACTIVE,
    ).values_list(
        "role",
        "territory_id",
        "territory__territory_model_id",
        "territory__territory_model__revision",
    )
    codes: dict[str, set[str]] = {}
    for role, territory_id, model_id, revision in rows:
        codes.setdefault(role, set()).update(_subtree_codes(model_id, revision)[territory_id])
    return codes


# Per model revision, per process: each territory's code and its descendants' codes.
_subtrees: dict[tuple[int, str], dict[int, frozenset[str]]] = {}
_lock = threading.Lock()


def _subtree_codes(model_id: int, revision: str) -> dict[int, frozenset[str]]:
    key = (model_id, revision)
    with _lock:
        cached = _subtrees.get(key)
    if cached is not None:
        return cached
    rows = list(
        Territory.objects.filter(territory_model_id=model_id).values_list("pk", "parent_id", "code")
    )
    children: dict[int | None, list[int]] = {}
    code_of = {}
    for pk, parent_id, code in rows:
        children.setdefault(parent_id, []).append(pk)
        code_of[pk] = code
    subtree: dict[int, frozenset[str]] = {}

    def walk(pk: int) -> frozenset[str]:
        if pk not in subtree:
            codes = {code_of[pk]}
            for child in children.get(pk, []):
                codes |= walk(child)
            subtree[pk] = frozenset(codes)
        return subtree[pk]

    for pk in code_of:
        walk(pk)
    with _lock:
        for stale in [k for k in _subtrees if k[0] == model_id]:
            del _subtrees[stale]
        _subtrees[key] = subtree
    return subtree


def account_territory_keys(account: Account) -> Iterable[str]:
    return [territory_key(account.territory)] if account.territory else []


def accounts_in_territories(codes: list[str]) -> Q:
    return Q(territory__in=codes)
