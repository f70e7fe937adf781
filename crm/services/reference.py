from __future__ import annotations

from django.db import transaction

from crm.models import CustomerTier, Tag
from crm.services import records
from server.access import Capability, require_capability
from server.models import User


@transaction.atomic
def tier_create(*, actor: User | None, code: str, name: str, rank: int) -> CustomerTier:
    if actor is not None:
        require_capability(actor, Capability.CRM_MANAGE_REFERENCE)
    return records.create(CustomerTier(code=code, name=name, rank=rank), actor=actor)


@transaction.atomic
def tag_create(*, actor: User | None, name: str, color: str = "") -> Tag:
    if actor is not None:
        require_capability(actor, Capability.CRM_MANAGE_REFERENCE)
    return records.create(Tag(name=name, color=color), actor=actor)
