"""Sync fixtures: reference sync clients (``sync.client``) over the test API client."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from rest_framework.test import APIClient

from server.models import User
from sync.client import SyncClient


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
