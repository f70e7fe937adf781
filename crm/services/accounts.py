from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

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


# The records that carry their account's scope keys.
ACCOUNT_CHILDREN = (Site, Contact, Asset, Interaction, Promise, ContactPreference)


def _move_children(account: Account, *, scope_before: frozenset[str], actor: User | None) -> None:
    """The account's records carry its scope keys: record that they moved with it."""
    children: list[Any] = []
    for model in ACCOUNT_CHILDREN:
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
def account_rescoped(*, account: Account, scope_before: frozenset[str], actor: User | None) -> None:
    """Another app changed what scopes an account (a technician put on one of its jobs):
    record that the account and its records moved, so devices gain or lose them."""
    if account_keys(account) == scope_before:
        return
    changelog.record_scope_moves(instances=[account], scope_before=scope_before, actor=actor)
    _move_children(account, scope_before=scope_before, actor=actor)


TERRITORY_BATCH = 1000


@transaction.atomic
def accounts_set_territories(*, actor: User | None, territories: Mapping[str, str]) -> int:
    """``account_set_territory`` for many accounts at once (a realignment's activation):
    ``territories`` maps account ids to codes. Per thousand accounts, one locking read, one
    read per kind of child record and one bulk update; the change log is written in one batch
    at the end. Returns how many accounts moved."""
    moved = 0
    ids = sorted(territories)
    with changelog.deferred():
        for start in range(0, len(ids), TERRITORY_BATCH):
            batch = ids[start : start + TERRITORY_BATCH]
            accounts = [
                account
                for account in Account.objects.select_for_update().filter(pk__in=batch)
                if account.territory != territories[account.pk]
            ]
            moved += _set_territories(accounts, territories, actor=actor)
    return moved


def _set_territories(
    accounts: list[Account], territories: Mapping[str, str], *, actor: User | None
) -> int:
    if not accounts:
        return 0
    now = timezone.now()
    children: dict[str, list[Any]] = {}
    for model in ACCOUNT_CHILDREN:
        for child in model._default_manager.filter(account_id__in=[a.pk for a in accounts]):
            children.setdefault(child.account_id, []).append(child)
    for account in accounts:
        before = changelog.snapshot(account, many_to_many=False)
        scope_before = account_keys(account)
        account.territory = territories[account.pk]
        account.updated_at = now
        changelog.record_update(
            instance=account,
            before=before,
            after=changelog.snapshot(account, many_to_many=False),
            scope_before=scope_before,
            actor=actor,
        )
        if account_keys(account) != scope_before:
            mine = children.get(account.pk, [])
            for child in mine:
                child.account = account  # the keys are computed from the (updated) parent
            changelog.record_scope_moves(instances=mine, scope_before=scope_before, actor=actor)
    Account.objects.bulk_update(accounts, ["territory", "updated_at"])
    return len(accounts)


@transaction.atomic
def account_archive(*, actor: User, account: Account) -> Account:
    return records.archive(account, actor=actor)
