"""Telling devices: push notifications (outbox rows the worker sends through FCM after
commit) and numbered notices on the device socket, both written in the domain's own
transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import F
from django.utils import timezone

from server import realtime
from server.models import DeviceNotice, NoticeSequence, Notification


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


def reserve_notice_numbers(user_ids: Iterable[int]) -> None:
    """Lock the notice numbers of ``user_ids`` until the transaction ends, all at once and in
    one order (by user id). A transaction that notifies several users calls this first, so two
    that notify the same users never wait for each other crosswise."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    NoticeSequence.objects.bulk_create(
        [NoticeSequence(user_id=user_id) for user_id in ids], ignore_conflicts=True
    )
    list(
        NoticeSequence.objects.select_for_update()
        .filter(user_id__in=ids)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def device_notice(*, user_id: int, kind: str, payload: dict[str, Any]) -> DeviceNotice:
    """Number and keep a notice for ``user_id``'s devices, inside the caller's transaction,
    and send it to their sockets after commit. Numbers follow commit order per user: the
    user's ``NoticeSequence`` row stays locked until the transaction ends. Call it inside a
    ``changelog.deferred()`` block (as the services do), so that this lock is always taken
    before the change log's counter row."""
    numbers = NoticeSequence.objects.filter(user_id=user_id)
    if not numbers.update(last_seq=F("last_seq") + 1):  # (takes the row's lock if not held)
        reserve_notice_numbers([user_id])  # the user's first notice
        numbers.update(last_seq=F("last_seq") + 1)
    seq = numbers.values_list("last_seq", flat=True).get()
    # Older ones go as new ones come: a device that far behind is told to pull instead.
    DeviceNotice.objects.filter(
        user_id=user_id, created_at__lt=timezone.now() - NOTICE_RETENTION
    ).delete()
    notice = DeviceNotice.objects.create(user_id=user_id, seq=seq, kind=kind, payload=payload)
    realtime.publish_on_commit(
        realtime.user_group(user_id),
        "device.notice",
        {"seq": notice.seq, "kind": kind, "at": notice.created_at.isoformat(), "payload": payload},
    )
    return notice
