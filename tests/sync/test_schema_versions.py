"""Schema versions: a device on an older schema gets only what it knows, and a device that
migrates its database gets the new tables and columns back-filled."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from sync import registry
from tests.factories import AccountFactory, TagFactory

PULL = "/api/v1/sync/pull/"


@pytest.fixture
def version_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend schema 2 added the ``tags`` table and the accounts' ``website`` column."""
    for table, changes in (
        ("tags", {"added_in": 2}),
        ("accounts", {"fields_added_in": {"website": 2}}),
    ):
        tracked = registry.get_table(table)
        newer = dataclasses.replace(tracked, **changes)
        monkeypatch.setitem(registry._by_table, table, newer)
        monkeypatch.setitem(registry._by_model, tracked.model, newer)


def _pull(client: APIClient, **params: Any) -> dict[str, Any]:
    response = client.get(PULL, params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("version_two")
def test_the_schema_of_each_version(client_for: Callable[..., APIClient], rep: Any) -> None:
    client = client_for(rep)

    newest = client.get("/api/v1/sync/schema/").json()
    first = client.get("/api/v1/sync/schema/", {"version": 1}).json()

    assert (newest["version"], first["version"]) == (2, 1)
    assert "tags" in newest["tables"] and "tags" not in first["tables"]
    names = {c["name"] for c in first["tables"]["accounts"]["columns"]}
    assert "website" not in names and "name" in names
    assert client.get("/api/v1/sync/schema/", {"version": 3}).status_code == 400


@pytest.mark.usefixtures("version_two")
def test_an_older_schema_gets_only_its_tables_and_columns(client_for, rep) -> None:
    AccountFactory.create(owner=rep, website="https://example.com")
    TagFactory.create()
    client = client_for(rep)

    old = _pull(client, schema_version=1)
    new = _pull(client_for(rep, device_id="device-2"), schema_version=2)

    assert "tags" not in old["changes"] and len(new["changes"]["tags"]["created"]) == 1
    [account] = old["changes"]["accounts"]["created"]
    assert "website" not in account and "name" in account
    assert new["changes"]["accounts"]["created"][0]["website"] == "https://example.com"
    assert client.get(PULL, {"schema_version": 3}).status_code == 400


@pytest.mark.usefixtures("version_two")
def test_a_migration_back_fills_new_tables_and_columns(client_for, rep) -> None:
    account = AccountFactory.create(owner=rep, website="https://example.com")
    tag = TagFactory.create()
    client = client_for(rep)
    cursor = _pull(client, schema_version=1)["timestamp"]
    migration = {
        "from": 1,
        "tables": ["tags"],
        "columns": [{"table": "accounts", "columns": ["website"]}],
    }

    body = _pull(client, schema_version=2, last_pulled_at=cursor, migration=json.dumps(migration))

    assert [r["id"] for r in body["changes"]["tags"]["created"]] == [tag.id]
    [updated] = body["changes"]["accounts"]["updated"]
    assert (updated["id"], updated["website"]) == (account.id, "https://example.com")
    # without a migration the same cursor sends nothing
    assert _pull(client, schema_version=2, last_pulled_at=body["timestamp"])["changes"]["tags"] == {
        "created": [],
        "updated": [],
        "deleted": [],
    }


@pytest.mark.usefixtures("version_two")
@pytest.mark.parametrize(
    "migration",
    ["not json", '{"from": "1"}', '{"from": 2}', '{"from": 0}', '{"from": 1, "columns": [1]}'],
)
def test_a_malformed_migration_is_refused(client_for, rep, migration: str) -> None:
    client = client_for(rep)
    cursor = _pull(client, schema_version=1)["timestamp"]

    response = client.get(
        PULL, {"schema_version": 2, "last_pulled_at": cursor, "migration": migration}
    )

    assert response.status_code == 400
    assert "migration" in response.json()["error"]["fields"]
