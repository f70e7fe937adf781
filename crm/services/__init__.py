"""Writes to customer records. Each service runs in one transaction, validates, saves and
records the change in the change log (which is also the audit trail)."""

from crm.services.accounts import (
    account_archive,
    account_create,
    account_rescoped,
    account_set_territory,
    account_update,
    accounts_set_territories,
)
from crm.services.contacts import contact_archive, contact_create, contact_update
from crm.services.imports import customers_bulk_import
from crm.services.interactions import (
    interaction_archive,
    interaction_create,
    interaction_update,
    promise_create,
    promise_update,
)
from crm.services.preferences import preference_set
from crm.services.reference import tag_create, tier_create
from crm.services.sites import (
    asset_archive,
    asset_create,
    asset_update,
    site_archive,
    site_create,
    site_update,
)

__all__ = [
    "account_archive",
    "account_create",
    "account_rescoped",
    "account_set_territory",
    "account_update",
    "accounts_set_territories",
    "asset_archive",
    "asset_create",
    "asset_update",
    "contact_archive",
    "contact_create",
    "contact_update",
    "customers_bulk_import",
    "interaction_archive",
    "interaction_create",
    "interaction_update",
    "preference_set",
    "promise_create",
    "promise_update",
    "site_archive",
    "site_create",
    "site_update",
    "tag_create",
    "tier_create",
]
