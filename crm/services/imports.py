from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Model

from crm.models import Account, AccountTag, Asset, Contact, Site
from server.models import User
from sync import changelog


def _insert(records: Sequence[Model], *, actor: User | None, batch_size: int) -> None:
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        type(batch[0])._default_manager.bulk_create(batch)
        changelog.record_bulk_create(instances=batch, actor=actor)


@transaction.atomic
def customers_bulk_import(
    *,
    actor: User | None,
    accounts: Sequence[Account],
    account_tags: dict[str, list[str]] | None = None,
    sites: Sequence[Site] = (),
    contacts: Sequence[Contact] = (),
    assets: Sequence[Asset] = (),
    batch_size: int = 2000,
) -> None:
    """Insert new customers with their sites, contacts and assets in one transaction, one
    change-log entry per record. For imports and demo data: rows are checked by the database's
    constraints, not by the per-record services. Assets must come parents first."""
    account_tags = account_tags or {}
    for start in range(0, len(accounts), batch_size):
        batch = accounts[start : start + batch_size]
        Account.objects.bulk_create(batch)
        AccountTag.objects.bulk_create(
            [
                AccountTag(account_id=a.pk, tag_id=t)
                for a in batch
                for t in account_tags.get(a.pk, [])
            ]
        )
        changelog.record_bulk_create(
            instances=batch,
            actor=actor,
            many_to_many={a.pk: {"tags": sorted(account_tags.get(a.pk, []))} for a in batch},
        )
    for records in (sites, contacts, assets):
        if records:
            _insert(records, actor=actor, batch_size=batch_size)
