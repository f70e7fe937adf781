"""A real WatermelonDB client (Node, LokiJS adapter) syncing against a running daphne server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import call, login

HARNESS = Path(__file__).resolve().parents[1] / "sync" / "watermelon"


class WatermelonClient:
    """Drives tests/sync/watermelon/client.js over its JSON-lines RPC."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the WatermelonDB client tests need it")
        if not (HARNESS / "node_modules" / "@nozbe" / "watermelondb").exists():
            raise RuntimeError(f"run `npm ci` in {HARNESS} (make test does)")
        self.process = subprocess.Popen(  # noqa: S603
            [node, str(HARNESS / "client.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def __call__(self, cmd: str, **args: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if not answer["ok"]:
            raise AssertionError(f"{cmd} failed: {answer}")
        return answer["result"]

    def close(self) -> None:
        try:
            self("quit")
        finally:
            self.process.wait(timeout=10)


@pytest.fixture
def watermelon():
    clients: list[WatermelonClient] = []

    def make() -> WatermelonClient:
        client = WatermelonClient()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _device(server: str, watermelon, username: str, device_id: str) -> tuple[Any, str]:
    token = login(server, username, device_id)["access"]
    status, schema = call(server, "GET", "/api/v1/sync/schema/", token=token)
    assert status == 200
    client = watermelon()
    client("init", base=server, token=token, schema=schema)
    return client, token


def test_initial_sync_then_revocation_by_reassignment(server, watermelon):
    # given two reps' tablets, both synced
    rep1, rep1_token = _device(server, watermelon, "rep1", "wm-rep1")
    rep2, _ = _device(server, watermelon, "rep2", "wm-rep2")
    rep1("sync")
    rep2("sync")
    status, page = call(server, "GET", "/api/v1/accounts/?page_size=200", token=rep1_token)
    assert status == 200
    rest_ids = {a["id"] for a in page["results"]}
    local = rep1("query", table="accounts")
    assert {a["id"] for a in local} == rest_ids
    assert len(rep1("query", table="customer_tiers")) == 3

    # when a manager gives one of rep1's accounts, with its sites, to rep2
    moved = sorted(rest_ids)[0]
    moved_sites = {s["id"] for s in rep1("query", table="sites") if s["account_id"] == moved}
    manager = login(server, "salesmanager", "wm-console")["access"]
    rep2_user = login(server, "rep2", "wm-rep2-phone")["user"]["id"]
    status, _ = call(server, "PATCH", f"/api/v1/accounts/{moved}/", {"owner": rep2_user}, manager)
    assert status == 200

    # then rep1's next sync removes it and its sites, and rep2's brings them
    rep1("sync")
    rep2("sync")
    assert moved not in {a["id"] for a in rep1("query", table="accounts")}
    assert not moved_sites & {s["id"] for s in rep1("query", table="sites")}
    assert moved in {a["id"] for a in rep2("query", table="accounts")}
    assert moved_sites <= {s["id"] for s in rep2("query", table="sites")}
    assert rep1("local_changes") is False
