"""Roles, capabilities and scope keys: the one place that decides who may do and see what.

* A **capability** is a named permission. Roles grant capabilities; ``has_capability`` and
  ``require_capability`` are what every app checks.
* A **scope key** names a slice of data a user holds (``org``, ``owner:<user id>``,
  ``tech:<user id>``, later ``territory:<id>``). Each syncable model maps its records to keys;
  a user sees a record when they share a key with it. REST, WebSocket and sync all go through
  ``scope_keys_for``, and apps add keys with ``register_scope_provider``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import TYPE_CHECKING

from server.enums import Role
from server.errors import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from server.models import User


class Capability(StrEnum):
    AUDIT_VIEW = "audit.view"
    CRM_VIEW_ALL = "crm.view_all"
    CRM_EDIT = "crm.edit"
    CRM_LOG_INTERACTION = "crm.log_interaction"
    CRM_VIEW_SENSITIVE = "crm.view_sensitive"
    CRM_MANAGE_REFERENCE = "crm.manage_reference"
    DEVICE_MANAGE_ANY = "device.manage_any"
    TERRITORY_MANAGE = "territory.manage"
    WORK_ORDER_VIEW_ALL = "work_order.view_all"
    WORK_ORDER_MANAGE = "work_order.manage"
    DISPATCH = "work_order.dispatch"


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.DISPATCHER: frozenset(
        {
            Capability.CRM_VIEW_ALL,
            Capability.CRM_EDIT,
            Capability.CRM_LOG_INTERACTION,
            Capability.WORK_ORDER_MANAGE,
            Capability.DISPATCH,
        }
    ),
    Role.TECHNICIAN: frozenset({Capability.CRM_LOG_INTERACTION}),
    Role.SALES_REP: frozenset({Capability.CRM_EDIT, Capability.CRM_LOG_INTERACTION}),
    Role.SALES_MANAGER: frozenset(
        {
            Capability.CRM_VIEW_ALL,
            Capability.CRM_EDIT,
            Capability.CRM_LOG_INTERACTION,
            Capability.CRM_VIEW_SENSITIVE,
            Capability.CRM_MANAGE_REFERENCE,
            Capability.TERRITORY_MANAGE,
        }
    ),
    Role.SERVICE_MANAGER: frozenset(
        {
            Capability.CRM_VIEW_ALL,
            Capability.CRM_EDIT,
            Capability.CRM_LOG_INTERACTION,
            Capability.DEVICE_MANAGE_ANY,
            Capability.TERRITORY_MANAGE,
            Capability.WORK_ORDER_VIEW_ALL,
            Capability.WORK_ORDER_MANAGE,
            Capability.DISPATCH,
        }
    ),
    Role.FINANCE: frozenset({Capability.CRM_VIEW_ALL, Capability.CRM_VIEW_SENSITIVE}),
}

# Scope keys every signed-in user holds: reference data (tiers, tags, catalogues).
REFERENCE_KEY = "ref"
# Back-office roles that see every customer hold this key.
ORG_KEY = "org"
# Those who see every work order (service managers) hold this one; dispatchers see the jobs
# of their territories (``dispatch:<code>``), technicians their own (``tech:<user>``).
WORK_ORDERS_KEY = "jobs"


def owner_key(user_id: int) -> str:
    return f"owner:{user_id}"


def technician_key(user_id: int) -> str:
    return f"tech:{user_id}"


ScopeProvider = Callable[["User"], Iterable[str]]
_scope_providers: list[ScopeProvider] = []


def register_scope_provider(provider: ScopeProvider) -> None:
    """Add keys to every user's scope; apps call this from ``AppConfig.ready``."""
    if provider not in _scope_providers:
        _scope_providers.append(provider)


def capabilities_for(user: User | AnonymousUser) -> frozenset[Capability]:
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Capability)
    granted: set[Capability] = set()
    for role in user.role_set:
        granted |= ROLE_CAPABILITIES.get(role, frozenset())
    return frozenset(granted)


def has_capability(user: User | AnonymousUser, capability: Capability) -> bool:
    return capability in capabilities_for(user)


def require_capability(user: User | AnonymousUser, capability: Capability) -> None:
    if not has_capability(user, capability):
        raise ApplicationError(
            "permission_denied",
            f"This action needs the '{capability}' permission.",
            status=403,
        )


_scope_cache: ContextVar[dict[int, frozenset[str]] | None] = ContextVar("scope_cache", default=None)


@contextmanager
def scope_keys_cached(known: dict[int, frozenset[str]] | None = None) -> Iterator[None]:
    """Within the block, each user's keys are computed once (a sync push checks scope for
    every record it applies, and a user's keys cannot change during it). ``known``: keys
    already computed, by user id."""
    token = _scope_cache.set(dict(known or {}))
    try:
        yield
    finally:
        _scope_cache.reset(token)


def scope_keys_for(user: User) -> frozenset[str]:
    """Every scope key ``user`` holds right now."""
    cache = _scope_cache.get()
    if cache is not None and user.pk in cache:
        return cache[user.pk]
    keys = _compute_keys(user)
    if cache is not None:
        cache[user.pk] = keys
    return keys


def _compute_keys(user: User) -> frozenset[str]:
    keys = {REFERENCE_KEY, owner_key(user.pk)}
    if has_capability(user, Capability.CRM_VIEW_ALL):
        keys.add(ORG_KEY)
    if has_capability(user, Capability.WORK_ORDER_VIEW_ALL):
        keys.add(WORK_ORDERS_KEY)
    if Role.TECHNICIAN in user.role_set:
        keys.add(technician_key(user.pk))
    for provider in _scope_providers:
        keys.update(provider(user))
    return frozenset(keys)
