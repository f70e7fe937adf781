"""The one way events leave the process: after the transaction commits.

``publish_on_commit`` queues a channel-layer ``group_send`` on ``transaction.on_commit``. No
network I/O happens while a transaction is open, and a rolled-back write publishes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def device_group(device_id: str) -> str:
    return f"device.{device_id}"


def scope_group(key: str) -> str:
    """The group of the sockets whose user holds scope key ``key`` (``owner:5`` ->
    ``scope.owner.5``; group names allow no colons)."""
    return "scope." + key.replace(":", ".")


def send_now(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a lost event is recoverable by pulling; a failed request is not
        logger.exception("publish to %s failed", group)


def publish_on_commit(group: str, event_type: str, payload: dict[str, Any] | None = None) -> None:
    """Send ``{"type": event_type, **payload}`` to ``group`` once the current transaction
    commits (at once if none is open)."""
    message = {"type": event_type, **(payload or {})}
    transaction.on_commit(lambda: send_now(group, message))
