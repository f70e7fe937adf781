"""The one way events leave the process: after the transaction commits.

``publish_on_commit`` queues a channel-layer ``group_send`` for when the transaction commits.
No network I/O happens while a transaction is open, and a rolled-back write publishes
nothing. The events of one transaction are sent together after it commits, each distinct
(group, message) once: a push of 500 records pokes each device once, not 500 times.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

logger = logging.getLogger(__name__)

Message = dict[str, Any]
# The flush registered on the open transaction, and the events it will send.
_pending: ContextVar[tuple[Callable[[], None], dict[tuple[str, str], Message]] | None] = ContextVar(
    "realtime_pending", default=None
)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def device_group(device_id: str) -> str:
    return f"device.{device_id}"


# The sockets that follow every territory of the active map (boards of those who see every
# job): told when another map becomes active.
ACTIVE_MAP_GROUP = "territories.active_map"


def scope_group(key: str) -> str:
    """The group of the sockets whose user holds scope key ``key`` (``owner:5`` ->
    ``scope.owner.5``; group names allow no colons)."""
    return "scope." + key.replace(":", ".")


def send_all(messages: list[tuple[str, Message]]) -> None:
    """Send each ``(group, message)`` now, concurrently, in one trip to the channel layer."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send() -> None:
        results = await asyncio.gather(
            *(layer.group_send(group, message) for group, message in messages),
            return_exceptions=True,
        )
        for (group, _), result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                # A lost event is recoverable by pulling; a failed request is not.
                logger.error("publish to %s failed: %r", group, result)

    try:
        async_to_sync(send)()
    except Exception:
        logger.exception("publishing %d events failed", len(messages))


def publish_on_commit(group: str, event_type: str, payload: dict[str, Any] | None = None) -> None:
    """Send ``{"type": event_type, **payload}`` to ``group`` once the current transaction
    commits (at once if none is open)."""
    message = {"type": event_type, **(payload or {})}
    if not connection.in_atomic_block:
        send_all([(group, message)])
        return
    pending = _pending.get()
    if pending is None or not _registered(pending[0]):
        events: dict[tuple[str, str], Message] = {}

        def flush() -> None:
            send_all(list(zip((group for group, _ in events), events.values(), strict=True)))

        transaction.on_commit(flush)
        pending = (flush, events)
        _pending.set(pending)
    pending[1][(group, json.dumps(message, sort_keys=True, default=str))] = message


def _registered(flush: Callable[[], None]) -> bool:
    """Whether ``flush`` still waits on the open transaction (a rolled-back savepoint drops
    the callbacks registered inside it; a committed transaction has run them)."""
    return any(entry[1] is flush for entry in connection.run_on_commit)


def dispatch_group(territory_code: str) -> str:
    """The dispatch board of a territory: its dispatchers' consoles."""
    return "dispatch." + "".join(c if c.isalnum() or c in "-_." else "_" for c in territory_code)
