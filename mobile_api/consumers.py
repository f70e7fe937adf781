"""The WebSockets: ``/ws/device/`` (pokes and notices for a handheld) and ``/ws/dispatch/``
(a dispatcher's board).

Both connect with an access token (``Authorization: Bearer`` header, or ``?token=`` for
clients that cannot set headers) and join groups chosen by the same scope keys as REST and
sync, again whenever the user's keys change (``scope.changed``). Revoking the device closes
either socket with code 4401.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mobile_api.authentication import DeviceAuthError, device_for_access_token
from mobile_api.models import Device
from server.access import Capability, has_capability, scope_keys_for
from server.models import DeviceNotice, NoticeSequence, User
from server.realtime import (
    ACTIVE_MAP_GROUP,
    device_group,
    dispatch_group,
    scope_group,
    user_group,
)
from territories.scope import DISPATCH_PREFIX
from territories.selectors import active_territory_codes

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0] == "Bearer":
                return parts[1]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


def _still_live(device: Device) -> bool:
    return Device.objects.filter(
        pk=device.pk, revoked_at__isnull=True, user__is_active=True
    ).exists()


def _fresh_user(device: Device) -> User:
    """The device's user as now (roles included): the one loaded at connect may be stale."""
    return User.objects.prefetch_related("roles").get(pk=device.user_id)


class _TokenConsumer(AsyncJsonWebsocketConsumer):
    """Authenticates at connect and leaves its groups at disconnect."""

    device: Device | None = None
    groups_joined: list[str]

    async def _authenticate(self) -> Device | None:
        """The live device the token names, or None after closing the socket."""
        raw = _token_from_scope(self.scope)
        if raw is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        try:
            device = await database_sync_to_async(device_for_access_token)(raw)
        except DeviceAuthError:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        self.device = device
        # The device's and user's groups first: a revocation or a scope change committed from
        # here on reaches this socket, so what it reads next is never stale for good. One
        # committed just before is caught by looking again.
        await self._join([device_group(str(device.pk)), user_group(device.user_id)])
        if not await database_sync_to_async(_still_live)(device):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        return device

    async def _join(self, groups: list[str]) -> None:
        """Join ``groups`` and leave the others joined before (a scope change)."""
        before = set(getattr(self, "groups_joined", []))
        self.groups_joined = groups
        layer, name = self.channel_layer, self.channel_name
        await asyncio.gather(
            *(layer.group_add(group, name) for group in groups if group not in before),
            *(layer.group_discard(group, name) for group in before - set(groups)),
        )

    async def disconnect(self, code: int) -> None:
        await self._join([])

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # ---- group events ----

    async def device_revoked(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "device.revoked", "reason": event.get("reason", "")})
        await self.close(code=CLOSE_UNAUTHENTICATED)


def _last_seq(scope: dict[str, Any]) -> int | None:
    """``?last_seq=N``: the number of the last notice the device saw before reconnecting."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("last_seq")
    if not values or not values[0].isdigit():
        return None
    return int(values[0])


def _missed(user_id: int, last_seq: int | None) -> tuple[int, list[dict[str, Any]], bool]:
    """The user's latest notice number, the notices after ``last_seq``, and whether some are
    gone (older than what is kept): then the device must pull."""
    notices = DeviceNotice.objects.filter(user_id=user_id)
    latest = (
        NoticeSequence.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first()
        or 0
    )
    if last_seq is None:
        return latest, [], False
    missed = [
        {"type": "notice", "seq": seq, "kind": kind, "at": at.isoformat(), "payload": payload}
        for seq, kind, at, payload in notices.filter(seq__gt=last_seq)
        .order_by("seq")
        .values_list("seq", "kind", "created_at", "payload")
    ]
    expected = latest - last_seq
    return latest, missed, len(missed) < expected


class DeviceConsumer(_TokenConsumer):
    """Pokes (pull now) and numbered notices (a job assigned, rescheduled, cancelled, taken
    away; ``at`` is when it happened, in server time). A device reconnecting with
    ``?last_seq=N`` gets the notices after N it missed, in order, then a poke; if some are no
    longer kept, the poke says so (``"reason": "missed"``). A notice may arrive twice around a
    reconnect: the app drops a number it has seen."""

    async def _join_scope(self, device: Device, keys: frozenset[str]) -> None:
        await self._join(
            [
                device_group(str(device.pk)),
                user_group(device.user_id),
                *(scope_group(key) for key in sorted(keys)),
            ]
        )

    async def connect(self) -> None:
        device = await self._authenticate()
        if device is None:
            return
        keys = await database_sync_to_async(scope_keys_for)(device.user)
        await self._join_scope(device, keys)
        await self.accept()
        # Read what was missed only once in the user's group: a notice committed meanwhile
        # then comes live, or both live and replayed (the app drops the second), never not.
        last_seq = _last_seq(self.scope)
        latest, missed, gap = await database_sync_to_async(_missed)(device.user_id, last_seq)
        await self.send_json({"type": "hello", "device": device.pk, "seq": latest})
        for notice in missed:
            await self.send_json(notice)
        if last_seq is not None:
            poke: dict[str, Any] = {"type": "sync.poke"}
            if gap:
                poke["reason"] = "missed"
            await self.send_json(poke)

    async def device_notice(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "notice",
                "seq": event["seq"],
                "kind": event["kind"],
                "at": event["at"],
                "payload": event["payload"],
            }
        )

    async def sync_poke(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "sync.poke"})

    async def scope_changed(self, event: dict[str, Any]) -> None:
        """The user's scope keys changed (a territory membership, a new map): hear the new
        keys' changes from now on, and pull what they bring."""
        if self.device is not None:
            self.device.user = await database_sync_to_async(_fresh_user)(self.device)
            keys = await database_sync_to_async(scope_keys_for)(self.device.user)
            await self._join_scope(self.device, keys)
        await self.send_json({"type": "sync.poke"})


@dataclass(frozen=True)
class Board:
    territories: list[str]
    whole_map: bool  # every territory of the active map, whichever it is


def _board(user: Any) -> Board | None:
    """The territories whose board the user sees (their ``dispatch:`` keys, every territory
    of the active map for those who see every job), or None when they see no board."""
    if has_capability(user, Capability.WORK_ORDER_VIEW_ALL):
        return Board(active_territory_codes(), whole_map=True)
    if not has_capability(user, Capability.DISPATCH):
        return None
    prefix = f"{DISPATCH_PREFIX}:"
    codes = sorted(k[len(prefix) :] for k in scope_keys_for(user) if k.startswith(prefix))
    return Board(codes, whole_map=False)


class DispatchConsumer(_TokenConsumer):
    """A dispatcher's board: job created, changed and assigned events, technicians'
    locations and SLA warnings and breaches, for the territories they dispatch."""

    async def connect(self) -> None:
        device = await self._authenticate()
        if device is None:
            return
        board = await database_sync_to_async(_board)(device.user)
        if board is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._join_board(device, board)
        await self.accept()
        await self.send_json({"type": "hello", "territories": board.territories})

    async def _join_board(self, device: Device, board: Board) -> None:
        await self._join(
            [
                device_group(str(device.pk)),
                user_group(device.user_id),
                *([ACTIVE_MAP_GROUP] if board.whole_map else []),
                *(dispatch_group(code) for code in board.territories),
            ]
        )

    async def scope_changed(self, event: dict[str, Any]) -> None:
        """The dispatcher's territories (or the active map) changed: follow the new ones'
        boards from now on; a user who may no longer see a board is disconnected."""
        if self.device is None:
            return
        self.device.user = await database_sync_to_async(_fresh_user)(self.device)
        board = await database_sync_to_async(_board)(self.device.user)
        if board is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self._join_board(self.device, board)
        await self.send_json({"type": "territories", "territories": board.territories})

    async def sync_poke(self, event: dict[str, Any]) -> None:
        """Pokes to the user are for their devices' sync, not the board."""

    device_notice = sync_poke

    async def _forward(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    job_created = _forward
    job_changed = _forward
    job_assigned = _forward
    technician_location = _forward
    sla_warning = _forward
    sla_breach = _forward
