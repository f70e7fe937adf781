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

    # when a manager gives one of rep1's accounts, with its sites, to rep2 (territory and
    # owner)
    moved = sorted(rest_ids)[0]
    moved_sites = {s["id"] for s in rep1("query", table="sites") if s["account_id"] == moved}
    manager = login(server, "salesmanager", "wm-console")["access"]
    rep2_user = login(server, "rep2", "wm-rep2-phone")["user"]["id"]
    _give(server, manager, moved, rep2_user)

    # then rep1's next sync removes it and its sites, and rep2's brings them
    rep1("sync")
    rep2("sync")
    assert moved not in {a["id"] for a in rep1("query", table="accounts")}
    assert not moved_sites & {s["id"] for s in rep1("query", table="sites")}
    assert moved in {a["id"] for a in rep2("query", table="accounts")}
    assert moved_sites <= {s["id"] for s in rep2("query", table="sites")}
    assert rep1("local_changes") is False


def _give(server: Any, token: str, account_id: str, user_id: int) -> None:
    """As a manager: put the account in the territory ``user_id`` owns, by hand, and make
    them its owner (a rep sees their territories' accounts and their own)."""
    status, _ = call(
        server,
        "POST",
        "/api/v1/territory-overrides/",
        {
            "record_type": "account",
            "record_id": account_id,
            "territory_code": _territory_owned_by(server, token, user_id),
            "cause": "The customer asked for this rep",
        },
        token,
    )
    assert status == 201
    status, _ = call(server, "PATCH", f"/api/v1/accounts/{account_id}/", {"owner": user_id}, token)
    assert status == 200


def _territory_owned_by(server: Any, token: str, user_id: int) -> str:
    """The code of the demo map's territory that ``user_id`` owns."""
    status, page = call(server, "GET", "/api/v1/territories/?page_size=100", token=token)
    assert status == 200
    for territory in page["results"]:
        _, members = call(
            server, "GET", f"/api/v1/territories/{territory['id']}/members/", token=token
        )
        if any(m["user"] == user_id and m["role"] == "owner" for m in members):
            return str(territory["code"])
    raise AssertionError(f"user {user_id} owns no territory")


def _contact(account_id: str, last_name: str, roles: str) -> dict[str, Any]:
    return {"account_id": account_id, "first_name": "", "last_name": last_name, "roles": roles}


def test_offline_edits_push_merge_per_field_reject_one_record_and_revoke(server, watermelon):
    # given rep1's tablet and phone (two devices of one user), both synced
    tablet, token = _device(server, watermelon, "rep1", "wm-tablet")
    phone, _ = _device(server, watermelon, "rep1", "wm-phone")
    tablet("sync")
    phone("sync")
    account = sorted(tablet("query", table="accounts"), key=lambda a: a["id"])[0]

    # when the tablet, offline, edits the account (name: server wins; notes: the device wins)
    # and creates two contacts, one of them with a role that does not exist
    tablet("update", table="accounts", id=account["id"], values={"name": "Tablet", "notes": "T"})
    good = tablet("create", table="contacts", values=_contact(account["id"], "Roux", '["billing"]'))
    bad = tablet("create", table="contacts", values=_contact(account["id"], "Nope", '["pilot"]'))
    assert tablet("local_changes") is True
    # and the phone edits the same fields and syncs first
    phone("update", table="accounts", id=account["id"], values={"name": "Phone", "notes": "P"})
    assert phone("sync")["pushed"] == {"accounts": {"created": 0, "updated": 1, "deleted": 0}}

    result = tablet("sync")

    # then the bad contact alone is rejected, with its reason
    assert result["rejected"] == {"contacts": [bad["id"]]}
    assert result["rejections"]["contacts"][bad["id"]]["code"] == "invalid"
    assert result["pushed"]["contacts"]["created"] == 2
    assert result["warnings"] == []
    # the server merged per field: the phone's name (server wins), the tablet's notes
    status, merged = call(server, "GET", f"/api/v1/accounts/{account['id']}/", token=token)
    assert status == 200
    assert (merged["name"], merged["notes"]) == ("Phone", "T")
    status, contact = call(server, "GET", f"/api/v1/contacts/{good['id']}/", token=token)
    assert status == 200 and contact["roles"] == ["billing"]
    assert call(server, "GET", f"/api/v1/contacts/{bad['id']}/", token=token)[0] == 404

    # and after one more round both devices hold the merged account and the good contact
    assert tablet("sync")["warnings"] == []
    assert phone("sync")["warnings"] == []
    for device in (tablet, phone):
        held = device("get", table="accounts", id=account["id"])
        assert (held["name"], held["notes"]) == ("Phone", "T")
        assert device("get", table="contacts", id=good["id"])["last_name"] == "Roux"
    # the rejected contact stays a local change on the tablet, pushed again at each sync
    assert tablet("local_changes") is True
    assert tablet("sync")["rejected"] == {"contacts": [bad["id"]]}
    assert phone("get", table="contacts", id=bad["id"]) is None
    # fixed on the tablet, it goes through
    tablet("update", table="contacts", id=bad["id"], values={"roles": '["technical"]'})
    assert tablet("sync")["rejected"] == {}
    assert tablet("local_changes") is False

    # when a manager gives the account to rep2, both of rep1's devices lose it and its contacts
    manager = login(server, "salesmanager", "wm-console-2")["access"]
    rep2 = login(server, "rep2", "wm-rep2-tablet")["user"]["id"]
    _give(server, manager, account["id"], rep2)
    for device in (tablet, phone):
        device("sync")
        assert device("get", table="accounts", id=account["id"]) is None
        assert device("get", table="contacts", id=good["id"]) is None
        assert device("local_changes") is False
