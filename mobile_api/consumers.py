"""The device WebSocket, ``/ws/device/``.

A device connects with its access token (``Authorization: Bearer`` header, or ``?token=`` for
clients that cannot set headers). It joins its device and user groups and receives pokes and
notices; revoking the device closes the socket with code 4401.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mobile_api.authentication import DeviceAuthError, device_for_access_token
from mobile_api.models import Device
from server.access import scope_keys_for
from server.realtime import device_group, scope_group, user_group

CLOSE_UNAUTHENTICATED = 4401


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0] == "Bearer":
                return parts[1]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


class DeviceConsumer(AsyncJsonWebsocketConsumer):
    device: Device | None = None

    async def connect(self) -> None:
        raw = _token_from_scope(self.scope)
        if raw is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            device = await database_sync_to_async(device_for_access_token)(raw)
        except DeviceAuthError:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.device = device
        keys = await database_sync_to_async(scope_keys_for)(device.user)
        self.groups_joined = [
            device_group(str(device.pk)),
            user_group(device.user_id),
            *(scope_group(key) for key in sorted(keys)),
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "device": device.pk})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # ---- group events ----

    async def device_revoked(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "device.revoked", "reason": event.get("reason", "")})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def sync_poke(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "sync.poke"})
