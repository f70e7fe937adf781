"""The embedded default end to end: a real daphne process on a fresh data directory, driven
over HTTP and WebSocket like a device would (what `make run` serves)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "FIELDLINE_ENV")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None):
    request = urllib.request.Request(  # noqa: S310 - loopback URL built here
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("daphne")
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env |= {"FIELDLINE_ENV": "dev", "FIELDLINE_DATA_DIR": str(data_dir)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "-v0"], ["seed_demo", "--scale", "small", "--seed", "3"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "server.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / "daphne.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _call(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((data_dir / "daphne.log").read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _login(base: str, username: str, device_id: str) -> dict[str, Any]:
    status, body = _call(
        base,
        "POST",
        "/api/v1/auth/login/",
        {
            "username": username,
            "password": "fieldline-demo",
            "device_id": device_id,
            "platform": "android",
            "app_version": "1.0.0",
        },
    )
    assert status == 200, body
    return body


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
        token = _login(server, username, f"e2e-{username}")["access"]
        status, page = _call(server, "GET", "/api/v1/accounts/?page_size=200", token=token)
        assert status == 200
        seen[username] = len(page["results"])
    assert seen["admin"] == seen["salesmanager"] == seen["finance"] == 200
    assert seen["tech1"] == 0
    assert 0 < seen["rep1"] < 200


def test_api_docs_and_their_static_files_are_served(server):
    with urllib.request.urlopen(server + "/api/docs/", timeout=10) as response:  # noqa: S310
        html = response.read().decode()
    script = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert script in html
    with urllib.request.urlopen(server + script, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_revoking_a_device_closes_its_websocket(server):
    handheld = _login(server, "tech1", "e2e-lost-handheld")
    console = _login(server, "servicemanager", "e2e-console")
    ws_url = server.replace("http", "ws") + "/ws/device/"
    with websockets.sync.client.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {handheld['access']}"}
    ) as socket_:
        assert json.loads(socket_.recv(timeout=5))["type"] == "hello"

        status, _ = _call(
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
    status, body = _call(server, "GET", "/api/v1/me/", token=handheld["access"])
    assert (status, body["error"]["code"]) == (401, "device_revoked")
