"""The embedded default end to end: what `make run` serves, driven like a device would."""

from __future__ import annotations

import json
import urllib.request

import pytest
import websockets.sync.client

from tests.e2e.live import call, login


def test_every_demo_role_signs_in_and_lists_accounts(server):
    seen = {}
    for username in (
        "admin",
        "dispatcher1",
        "tech1",
        "rep1",
        "salesmanager",
        "servicemanager",
        "finance",
    ):
        token = login(server, username, f"e2e-{username}")["access"]
        status, page = call(server, "GET", "/api/v1/accounts/?page_size=200", token=token)
        assert status == 200
        seen[username] = len(page["results"])
    assert seen["admin"] == seen["salesmanager"] == seen["finance"] == 200
    assert 0 < seen["tech1"] <= 3  # the customers of their jobs
    assert 0 < seen["rep1"] < 200


def test_api_docs_and_their_static_files_are_served(server):
    with urllib.request.urlopen(server + "/api/docs/", timeout=10) as response:  # noqa: S310
        html = response.read().decode()
    script = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert script in html
    with urllib.request.urlopen(server + script, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_revoking_a_device_closes_its_websocket(server):
    handheld = login(server, "tech1", "e2e-lost-handheld")
    console = login(server, "servicemanager", "e2e-console")
    ws_url = server.replace("http", "ws") + "/ws/device/"
    with websockets.sync.client.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {handheld['access']}"}
    ) as socket_:
        assert json.loads(socket_.recv(timeout=5))["type"] == "hello"

        status, _ = call(
            server,
            "POST",
            f"/api/v1/devices/{handheld['device']['id']}/revoke/",
            {"reason": "lost on site"},
            token=console["access"],
        )
        assert status == 200

        assert json.loads(socket_.recv(timeout=5))["type"] == "device.revoked"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            socket_.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
    status, body = call(server, "GET", "/api/v1/me/", token=handheld["access"])
    assert (status, body["error"]["code"]) == (401, "device_revoked")
