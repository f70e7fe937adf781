"""A real daphne process on a fresh data directory, serving the demo data as `make run` does.
Tests drive it over HTTP and WebSocket like devices do.

On the embedded leg it runs on SQLite and the in-memory channel layer. On the services leg
(``DATABASE_URL`` set) it runs on a fresh PostgreSQL database of its own, dropped afterwards,
with the leg's Redis and S3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "FIELDLINE_ENV")


@contextmanager
def fresh_database(env: dict[str, str]) -> Iterator[None]:
    """On the services leg, point ``env`` at a new PostgreSQL database for this server."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield
        return
    import psycopg  # only on the services leg

    name = f"live_{uuid.uuid4().hex[:12]}"
    parts = urllib.parse.urlsplit(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    for variable in ("REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL"):
        if variable in os.environ:
            env[variable] = os.environ[variable]
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None):
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
    env = service_environment(data_dir) | {"FIELDLINE_ENV": "dev"}
    with fresh_database(env):
        prepare(env)
        with daphne(env, data_dir / "daphne.log") as base:
            yield base


def service_environment(data_dir: Path) -> dict[str, str]:
    """This process's environment minus the services leg's variables, for a server of its
    own (``fresh_database`` adds them back, pointing at a new database)."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    return env | {"FIELDLINE_DATA_DIR": str(data_dir)}


MANAGE = [sys.executable, str(ROOT / "manage.py")]


def prepare(env: dict[str, str]) -> None:
    """Migrate and load the small demo data set, as ``make run`` does."""
    for command in (["migrate", "-v0"], ["seed_demo", "--scale", "small", "--seed", "3"]):
        subprocess.run([*MANAGE, *command], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603


@contextmanager
def daphne(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A daphne process serving ``server.asgi`` with ``env``; yields its base URL."""
    port = free_port()
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
        stderr=log_path.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(log_path.read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def login(base: str, username: str, device_id: str, **device: str) -> dict[str, Any]:
    """Sign a demo user in on a device (``fcm_token=`` gives it a push token)."""
    status, body = call(
        base,
        "POST",
        "/api/v1/auth/login/",
        {
            "username": username,
            "password": "fieldline-demo",
            "device_id": device_id,
            "platform": "android",
            "app_version": "1.0.0",
            **device,
        },
    )
    assert status == 200, body
    return body
