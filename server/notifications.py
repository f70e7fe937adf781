"""Telling devices: push notifications (outbox rows the worker sends through FCM after
commit) and numbered notices on the device socket, both written in the domain's own
transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from server import realtime
from server.models import DeviceNotice, Notification, User


def notify(
    *,
    user_id: int,
    kind: str,
    title: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
    collapse_key: str = "",
) -> Notification:
    """Queue a push notification to ``user_id``'s devices, inside the caller's transaction:
    it exists only if the change that causes it commits."""
    return Notification.objects.create(
        user_id=user_id,
        kind=kind,
        title=title,
        body=body,
        data=data or {},
        collapse_key=collapse_key,
    )


NOTICE_RETENTION = dt.timedelta(days=7)


def device_notice(*, user_id: int, kind: str, payload: dict[str, Any]) -> DeviceNotice:
    """Number and keep a notice for ``user_id``'s devices, inside the caller's transaction,
    and send it to their sockets after commit. Numbers follow commit order per user: the
    user's row is locked until the transaction ends."""
    User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()
    last = (
        DeviceNotice.objects.filter(user_id=user_id)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    ) or 0
    # Older ones go as new ones come (the newest stays, so numbers never restart): a device
    # that far behind is told to pull instead.
    DeviceNotice.objects.filter(
        user_id=user_id, created_at__lt=timezone.now() - NOTICE_RETENTION
    ).exclude(seq=last).delete()
    notice = DeviceNotice.objects.create(user_id=user_id, seq=last + 1, kind=kind, payload=payload)
    realtime.publish_on_commit(
        realtime.user_group(user_id),
        "device.notice",
        {"seq": notice.seq, "kind": kind, "at": notice.created_at.isoformat(), "payload": payload},
    )
    return notice
