"""Writes to sync's own records (the review of rejected pushes)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from server.errors import ApplicationError
from server.models import User
from sync.models import RejectedChange
from sync.selectors import rejection_list


@transaction.atomic
def rejection_resolve(*, actor: User, rejection_id: int) -> RejectedChange:
    """Close a rejection once someone has dealt with it (re-entered the data, or told the
    device's user). A device that pushes the record again opens a new one."""
    rejection = (
        rejection_list(actor=actor, filters={}).select_for_update().filter(pk=rejection_id).first()
    )
    if rejection is None:
        raise ApplicationError("not_found", f"No rejection {rejection_id}.", status=404)
    if rejection.resolved_at is None:
        rejection.resolved_at = timezone.now()
        rejection.save(update_fields=["resolved_at"])
    return rejection
