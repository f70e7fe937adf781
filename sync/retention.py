"""How long sync keeps what delta pulls need.

A delta pull reads change keys after the device's cursor and the checkpoint at it. Pruning
keeps both for ``SYNC_RETENTION_DAYS``: it finds the *horizon*, the last version recorded
before the window, deletes change keys up to it and checkpoints below it (and push receipts
older than the window). A device whose cursor is below the horizon then has no checkpoint,
so its next pull is a replacement sync. The change log itself is the audit trail and stays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sync.models import Change, ChangeKey, DeviceCheckpoint, PushReceipt


@dataclass(frozen=True)
class Pruned:
    horizon: int
    change_keys: int
    checkpoints: int
    receipts: int


@transaction.atomic
def prune(*, now: dt.datetime | None = None, retention_days: int | None = None) -> Pruned:
    now = now or timezone.now()
    days = settings.SYNC_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = now - dt.timedelta(days=days)
    horizon = (
        Change.objects.filter(created_at__lt=cutoff)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    ) or 0
    change_keys = checkpoints = 0
    if horizon:
        change_keys, _ = ChangeKey.objects.filter(version__lte=horizon).delete()
        checkpoints, _ = DeviceCheckpoint.objects.filter(version__lt=horizon).delete()
    # Continuation tokens of initial syncs abandoned long ago.
    stale, _ = DeviceCheckpoint.objects.filter(resume__isnull=False, created_at__lt=cutoff).delete()
    receipts, _ = PushReceipt.objects.filter(created_at__lt=cutoff).delete()
    return Pruned(horizon, change_keys, checkpoints + stale, receipts)
