"""Queueing push notifications: the domain writes outbox rows in its own transaction; the
worker sends them (FCM through pyfcm) after commit."""

from __future__ import annotations

from typing import Any

from server.models import Notification


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
