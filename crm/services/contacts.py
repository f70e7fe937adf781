from __future__ import annotations

from typing import Any

from django.db import transaction

from crm.enums import ContactRole
from crm.models import Account, Contact
from crm.services import records
from server.errors import ApplicationError
from server.models import User

CONTACT_FIELDS = frozenset({"first_name", "last_name", "title", "roles", "phone", "email"})


def _validate_roles(contact: Contact) -> None:
    roles = contact.roles
    if not isinstance(roles, list) or any(r not in ContactRole.values for r in roles):
        raise ApplicationError(
            "invalid",
            "Unknown contact role.",
            fields={"roles": [f"Each role is one of {', '.join(ContactRole.values)}."]},
        )
    contact.roles = sorted(set(roles))


@transaction.atomic
def contact_create(
    *, actor: User, account: Account, record_id: str | None = None, **data: Any
) -> Contact:
    contact = records.with_id(Contact(account=account), record_id)
    records.assign(contact, data, allowed=CONTACT_FIELDS)
    _validate_roles(contact)
    return records.create(contact, actor=actor)


@transaction.atomic
def contact_update(*, actor: User, contact: Contact, **data: Any) -> Contact:
    edit = records.Edit(contact)
    records.assign(contact, data, allowed=CONTACT_FIELDS)
    _validate_roles(contact)
    edit.save(actor=actor)
    return contact


@transaction.atomic
def contact_archive(*, actor: User, contact: Contact) -> Contact:
    return records.archive(contact, actor=actor)
