from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.enums import Direction, InteractionKind
from crm.models import Account, Interaction, Promise
from crm.services import records
from crm.services.preferences import check_reachable
from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User

INTERACTION_FIELDS = frozenset(
    {
        "contact",
        "site",
        "kind",
        "direction",
        "occurred_at",
        "summary",
        "check_in_at",
        "check_in_latitude",
        "check_in_longitude",
        "check_out_at",
        "check_out_latitude",
        "check_out_longitude",
    }
)
PROMISE_FIELDS = frozenset({"description", "due_date", "done_at"})
_GPS = (
    ("check_in_latitude", "check_in_longitude"),
    ("check_out_latitude", "check_out_longitude"),
)


def _validate(interaction: Interaction) -> None:
    fields: dict[str, list[str]] = {}
    if interaction.contact is not None and interaction.contact.account_id != interaction.account_id:
        fields["contact"] = ["Choose a contact of this account."]
    if interaction.site is not None and interaction.site.account_id != interaction.account_id:
        fields["site"] = ["Choose a site of this account."]
    has_gps = interaction.check_in_at is not None or interaction.check_out_at is not None
    if has_gps and interaction.kind != InteractionKind.VISIT:
        fields["check_in_at"] = ["Only visits have a check-in and check-out."]
    if interaction.check_out_at is not None and interaction.check_in_at is None:
        fields["check_out_at"] = ["Check in before checking out."]
    if (
        interaction.check_out_at is not None
        and interaction.check_in_at is not None
        and interaction.check_out_at < interaction.check_in_at
    ):
        fields["check_out_at"] = ["Check-out is before check-in."]
    for lat_name, lng_name in _GPS:
        lat, lng = getattr(interaction, lat_name), getattr(interaction, lng_name)
        if (lat is None) != (lng is None):
            fields[lat_name] = ["Give latitude and longitude together."]
        elif lat is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
            fields[lat_name] = ["Coordinates are out of range."]
    if fields:
        raise ApplicationError("invalid", "The interaction is not valid.", fields=fields)


@transaction.atomic
def interaction_create(
    *,
    actor: User,
    account: Account,
    promises: list[dict[str, Any]] | None = None,
    record_id: str | None = None,
    **data: Any,
) -> Interaction:
    """Log an interaction by ``actor`` on a visible ``account``, with its promises."""
    require_capability(actor, Capability.CRM_LOG_INTERACTION)
    data.setdefault("occurred_at", timezone.now())
    interaction = records.with_id(Interaction(account=account, author=actor), record_id)
    records.assign(interaction, data, allowed=INTERACTION_FIELDS)
    _validate(interaction)
    if interaction.direction == Direction.OUTBOUND:
        check_reachable(account=account, contact=interaction.contact, kind=interaction.kind)
    records.create(interaction, actor=actor)
    for promise in promises or []:
        promise_create(actor=actor, interaction=interaction, **promise)
    return interaction


@transaction.atomic
def interaction_update(*, actor: User, interaction: Interaction, **data: Any) -> Interaction:
    if interaction.author_id != actor.pk:
        require_capability(actor, Capability.CRM_EDIT)
    edit = records.Edit(interaction)
    records.assign(interaction, data, allowed=INTERACTION_FIELDS)
    _validate(interaction)
    # Who is reached, and how, changed: the new combination must respect opt-outs too.
    reach_changed = {"kind", "contact", "direction"} & set(data)
    if reach_changed and interaction.direction == Direction.OUTBOUND:
        check_reachable(
            account=interaction.account, contact=interaction.contact, kind=interaction.kind
        )
    edit.save(actor=actor)
    return interaction


@transaction.atomic
def interaction_archive(*, actor: User, interaction: Interaction) -> Interaction:
    if interaction.author_id != actor.pk:
        require_capability(actor, Capability.CRM_EDIT)
    return records.archive(interaction, actor=actor)


@transaction.atomic
def promise_create(
    *, actor: User, interaction: Interaction, record_id: str | None = None, **data: Any
) -> Promise:
    require_capability(actor, Capability.CRM_LOG_INTERACTION)
    promise = records.with_id(
        Promise(interaction=interaction, account_id=interaction.account_id), record_id
    )
    records.assign(promise, data, allowed=PROMISE_FIELDS)
    return records.create(promise, actor=actor)


@transaction.atomic
def promise_update(*, actor: User, promise: Promise, **data: Any) -> Promise:
    if "done" in data:
        done = data.pop("done")
        data["done_at"] = (promise.done_at or timezone.now()) if done else None
    edit = records.Edit(promise)
    records.assign(promise, data, allowed=PROMISE_FIELDS)
    if not promise.description.strip():
        raise ApplicationError(
            "invalid", "A promise needs a description.", fields={"description": ["Required."]}
        )
    edit.save(actor=actor)
    return promise
