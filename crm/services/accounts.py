from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from crm.models import (
    Account,
    Asset,
    Contact,
    ContactPreference,
    Interaction,
    Promise,
    Site,
    Tag,
)
from crm.scope import account_keys
from crm.services import records
from server.access import Capability, has_capability, require_capability
from server.errors import ApplicationError
from server.models import User
from sync import changelog

ACCOUNT_FIELDS = frozenset(
    {
        "name",
        "kind",
        "tier",
        "lifecycle_stage",
        "owner",
        "phone",
        "email",
        "website",
        "notes",
        "national_id",
        "bank_account",
    }
)


def _check_owner(*, actor: User, owner: User | None) -> None:
    """Sales reps own what they create; only back-office roles give an account to someone
    else or leave it unowned."""
    if owner is not None and not owner.is_active:
        raise ApplicationError(
            "invalid", "The owner must be an active user.", fields={"owner": ["Inactive user."]}
        )
    if owner != actor and not has_capability(actor, Capability.CRM_VIEW_ALL):
        raise ApplicationError(
            "permission_denied", "You may only own accounts yourself.", status=403
        )


@transaction.atomic
def account_create(
    *, actor: User, tags: Sequence[Tag] = (), record_id: str | None = None, **data: Any
) -> Account:
    """``record_id`` is the id a device gave the account offline; the server makes one
    otherwise."""
    require_capability(actor, Capability.CRM_EDIT)
    data.setdefault("owner", actor if not has_capability(actor, Capability.CRM_VIEW_ALL) else None)
    _check_owner(actor=actor, owner=data["owner"])
    account = records.with_id(Account(), record_id)
    records.assign(account, data, allowed=ACCOUNT_FIELDS)
    account.full_clean()
    account.save(force_insert=True)
    account.tags.set(tags)
    changelog.record_create(instance=account, actor=actor)
    return account


@transaction.atomic
def account_update(
    *, actor: User, account: Account, tags: Sequence[Tag] | None = None, **data: Any
) -> Account:
    """Caller loaded ``account`` with ``access_account(for_update=True)``."""
    if "owner" in data and data["owner"] != account.owner:
        _check_owner(actor=actor, owner=data["owner"])
    edit = records.Edit(account)
    records.assign(account, data, allowed=ACCOUNT_FIELDS)
    if tags is not None:
        account.tags.set(tags)
    if edit.save(actor=actor) and account_keys(account) != edit.scope_before:
        _move_children(account, scope_before=edit.scope_before, actor=actor)
    return account


def _move_children(account: Account, *, scope_before: frozenset[str], actor: User | None) -> None:
    """The account's records carry its scope keys: record that they moved with it."""
    children: list[Any] = []
    for model in (Site, Contact, Asset, Interaction, Promise, ContactPreference):
        children.extend(model._default_manager.filter(account=account))
    for child in children:
        child.account = account  # the keys are computed from the (updated) parent
    changelog.record_scope_moves(instances=children, scope_before=scope_before, actor=actor)


@transaction.atomic
def account_set_territory(*, actor: User | None, account: Account, code: str) -> bool:
    """Put ``account`` in territory ``code`` ("" for none), as the territories app decides;
    its records move scope with it. Returns whether anything changed."""
    if account.territory == code:
        return False
    edit = records.Edit(account)
    account.territory = code
    changed = edit.save(actor=actor)
    if changed and account_keys(account) != edit.scope_before:
        _move_children(account, scope_before=edit.scope_before, actor=actor)
    return changed


@transaction.atomic
def account_archive(*, actor: User, account: Account) -> Account:
    return records.archive(account, actor=actor)
