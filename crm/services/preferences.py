from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from crm.enums import INTERACTION_CHANNEL, Channel, Frequency
from crm.models import Account, Contact, ContactPreference
from crm.services import records
from server.errors import ApplicationError
from server.models import User


@transaction.atomic
def preference_set(
    *,
    actor: User,
    account: Account,
    contact: Contact | None,
    channel: str,
    opted_out: bool,
    frequency: str = Frequency.ANY,
    consent_source: str,
) -> ContactPreference:
    """Record how the account (or one contact) may be reached on ``channel``. The time of
    consent is the server's; ``consent_source`` says how it was given (form, call, email)."""
    if contact is not None and contact.account_id != account.pk:
        raise ApplicationError("not_found", "No such contact on this account.", status=404)
    if channel not in Channel.values:
        raise ApplicationError("invalid", "Unknown channel.", fields={"channel": ["Unknown."]})
    preference = (
        ContactPreference.objects.select_for_update()
        .filter(account=account, contact=contact, channel=channel)
        .first()
    )
    values = {
        "opted_out": opted_out,
        "frequency": frequency,
        "consent_source": consent_source,
        "consent_at": timezone.now(),
        "recorded_by": actor,
    }
    if preference is None:
        preference = ContactPreference(account=account, contact=contact, channel=channel)
        records.assign(preference, values, allowed=values.keys())
        return records.create(preference, actor=actor)
    edit = records.Edit(preference)
    records.assign(preference, values, allowed=values.keys())
    edit.save(actor=actor)
    return preference


def check_reachable(*, account: Account, contact: Contact | None, kind: str) -> None:
    """Refuse an outbound interaction on a channel the contact (or, without a contact, the
    account) opted out of."""
    channel = INTERACTION_CHANNEL.get(kind)
    if channel is None:
        return
    opted_out = ContactPreference.objects.filter(
        account=account, contact=contact, channel=channel, opted_out=True
    ).exists()
    if opted_out:
        who = "This contact" if contact is not None else "This account"
        raise ApplicationError(
            "opted_out",
            f"{who} opted out of {channel} contact.",
            status=409,
            extra={"channel": channel},
        )
