"""Sync fixtures: reference sync clients (``sync.client``) over the test API client."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from rest_framework.test import APIClient

from server.access import scope_keys_for
from server.errors import ApplicationError
from server.models import User
from sync import pull as sync_pull
from sync import push as sync_push
from sync.client import PULL_PATH, SyncClient


class DirectTransport:
    """``sync.client.Transport`` straight onto the sync functions (no HTTP, no sign-in), for
    property tests that run thousands of syncs. HTTP handling is covered elsewhere."""

    def __init__(self, user: User, device_id: str, *, page_size: int = 5000) -> None:
        self.user = user
        self.device_id = device_id
        self.page_size = page_size

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any]:
        keys = scope_keys_for(self.user)
        try:
            if path == PULL_PATH:
                since = params.get("last_pulled_at")
                result = sync_pull.pull(
                    user=self.user,
                    device_id=self.device_id,
                    keys=keys,
                    last_pulled_at=int(since) if since else None,
                    page_size=self.page_size,
                )
                return 200, json.loads(json.dumps(result.as_json()))
            answer = sync_push.push(
                user=self.user,
                device_id=self.device_id,
                keys=keys,
                body=json.loads(json.dumps(body)),
                last_pulled_at=(body or {}).get("lastPulledAt"),
                idempotency_key=headers.get("Idempotency-Key"),
            )
            return 200, answer
        except ApplicationError as error:
            return error.status, {"error": {"code": error.code, "message": error.message}}


class APIClientTransport:
    """``sync.client.Transport`` over DRF's test client (no server process)."""

    def __init__(self, client: APIClient) -> None:
        self.client = client

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any]:
        if method == "GET":
            response = self.client.get(path, dict(params), headers=dict(headers))
        else:
            query = f"?{urllib.parse.urlencode(params)}" if params else ""
            response = self.client.generic(
                method,
                path + query,
                data=json.dumps(body),
                content_type="application/json",
                headers=dict(headers),
            )
        return response.status_code, response.json()


@pytest.fixture
def device_for(client_for: Callable[..., APIClient]) -> Callable[..., SyncClient]:
    """A reference sync client for ``user`` on ``device_id``, signed in through the API."""

    def make(user: User, *, device_id: str = "device-1") -> SyncClient:
        return SyncClient(APIClientTransport(client_for(user, device_id=device_id)))

    return make
