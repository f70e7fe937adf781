"""How records pushed by devices become writes: the same services and permission loaders as
the REST views (``crm.api``), so a device can do exactly what its user could do online."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm import services
from crm.models import Account, Asset, Contact, Interaction, Promise, Site
from crm.permissions import access_account, access_account_record
from crm.services.accounts import ACCOUNT_FIELDS
from crm.services.contacts import CONTACT_FIELDS
from crm.services.interactions import INTERACTION_FIELDS, PROMISE_FIELDS
from crm.services.sites import ASSET_FIELDS, SITE_FIELDS
from server.access import Capability
from server.errors import ApplicationError
from server.models import User


def _required(values: dict[str, Any], name: str) -> Any:
    value = values.pop(name, None)
    if value is None:
        raise ApplicationError(
            "invalid", f"{name}_id is required.", fields={f"{name}_id": ["Required."]}
        )
    return value


class AccountWriter:
    fields = ACCOUNT_FIELDS | {"tags"}

    def create(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        services.account_create(
            actor=actor, record_id=record_id, tags=values.pop("tags", ()), **values
        )

    def update(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        account = access_account(actor=actor, account_id=record_id, for_update=True)
        services.account_update(
            actor=actor, account=account, tags=values.pop("tags", None), **values
        )

    def delete(self, *, actor: User, record_id: str) -> None:
        account = access_account(actor=actor, account_id=record_id, for_update=True)
        services.account_archive(actor=actor, account=account)


@dataclass(frozen=True)
class AccountRecordWriter:
    """Contacts, sites, assets and interactions: records created on an account."""

    model: type[Contact | Site | Asset | Interaction]
    fields: frozenset[str]
    create_service: Callable[..., Any]
    update_service: Callable[..., Any]
    archive_service: Callable[..., Any]
    record_arg: str
    capability: Capability = Capability.CRM_EDIT
    # Logging an interaction needs to see the account, not to be allowed to edit it.
    account_for_update: bool = True

    def create(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        parent: Account = _required(values, "account")
        account = access_account(
            actor=actor, account_id=parent.pk, for_update=self.account_for_update
        )
        self.create_service(actor=actor, account=account, record_id=record_id, **values)

    def update(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        record = self._load(actor, record_id)
        self.update_service(actor=actor, **{self.record_arg: record}, **values)

    def delete(self, *, actor: User, record_id: str) -> None:
        record = self._load(actor, record_id)
        self.archive_service(actor=actor, **{self.record_arg: record})

    def _load(self, actor: User, record_id: str) -> Any:
        return access_account_record(
            self.model,
            actor=actor,
            record_id=record_id,
            for_update=True,
            capability=self.capability,
        )


class PromiseWriter:
    """A promise belongs to an interaction (its account follows). Promises are kept: a device
    marks one done rather than deleting it."""

    fields = PROMISE_FIELDS | {"interaction"}

    def create(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        parent: Interaction = _required(values, "interaction")
        interaction = access_account_record(
            Interaction,
            actor=actor,
            record_id=parent.pk,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        services.promise_create(actor=actor, interaction=interaction, record_id=record_id, **values)

    def update(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        promise = access_account_record(
            Promise,
            actor=actor,
            record_id=record_id,
            for_update=True,
            capability=Capability.CRM_LOG_INTERACTION,
        )
        services.promise_update(actor=actor, promise=promise, **values)

    def delete(self, *, actor: User, record_id: str) -> None:
        raise ApplicationError(
            "not_deletable", "Promises are not deleted; mark the promise done instead."
        )


contact_writer = AccountRecordWriter(
    Contact,
    CONTACT_FIELDS | {"account"},
    services.contact_create,
    services.contact_update,
    services.contact_archive,
    "contact",
)
site_writer = AccountRecordWriter(
    Site,
    SITE_FIELDS | {"account"},
    services.site_create,
    services.site_update,
    services.site_archive,
    "site",
)
asset_writer = AccountRecordWriter(
    Asset,
    ASSET_FIELDS | {"account"},
    services.asset_create,
    services.asset_update,
    services.asset_archive,
    "asset",
)
interaction_writer = AccountRecordWriter(
    Interaction,
    INTERACTION_FIELDS | {"account"},
    services.interaction_create,
    services.interaction_update,
    services.interaction_archive,
    "interaction",
    capability=Capability.CRM_LOG_INTERACTION,
    account_for_update=False,
)
