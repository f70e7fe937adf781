"""Checks that only mean something on the real services (``make test``'s second leg)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

pytestmark = pytest.mark.services


def test_database_is_postgresql(db):
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0].startswith("15")


def test_files_round_trip_through_the_s3_compatible_store():
    name = f"tests/{uuid.uuid4().hex}.txt"
    saved = default_storage.save(name, ContentFile(b"signed by the customer"))
    try:
        with default_storage.open(saved) as handle:
            assert handle.read() == b"signed by the customer"
        url = default_storage.url(saved)
        assert "X-Amz-Signature=" in url  # presigned
    finally:
        default_storage.delete(saved)
    assert not default_storage.exists(saved)


async def test_redis_channel_layer_reaches_another_layer_instance():
    """Two layer instances stand in for two daphne processes sharing Redis."""
    from channels.layers import channel_layers

    sender = get_channel_layer()
    receiver = channel_layers.make_backend("default")
    group = f"test.{uuid.uuid4().hex}"
    channel = await receiver.new_channel()
    await receiver.group_add(group, channel)
    try:
        await sender.group_send(group, {"type": "sync.poke", "n": 1})
        message = await asyncio.wait_for(receiver.receive(channel), timeout=5)
        assert message == {"type": "sync.poke", "n": 1}
    finally:
        await receiver.group_discard(group, channel)


@pytest.mark.django_db(transaction=True)
def test_writes_lock_rows_inside_their_own_transaction(client_for, rep):
    """Outside the test transaction, so PostgreSQL refuses a SELECT ... FOR UPDATE that a view
    runs in autocommit mode."""
    from tests.factories import AccountFactory

    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    patched = client.patch(f"/api/v1/accounts/{account.id}/", {"name": "Locked"}, format="json")
    site = client.post("/api/v1/sites/", {"account": account.id, "name": "Depot"}, format="json")
    revoked = client.post(
        f"/api/v1/devices/{client.tokens['device']['id']}/revoke/", {}, format="json"
    )
    assert (patched.status_code, site.status_code, revoked.status_code) == (200, 201, 200)


@pytest.mark.django_db(transaction=True)
def test_pull_reads_one_repeatable_read_snapshot(client_for, rep):
    from tests.factories import AccountFactory

    AccountFactory.create(owner=rep)
    client = client_for(rep)
    first = client.get("/api/v1/sync/pull/")
    second = client.get("/api/v1/sync/pull/", {"last_pulled_at": first.json()["timestamp"]})
    assert first.status_code == second.status_code == 200
    assert len(first.json()["changes"]["accounts"]["created"]) == 1
