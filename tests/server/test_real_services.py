"""Checks that only mean something on the real services (``make test``'s second leg)."""

from __future__ import annotations

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
        message = await receiver.receive(channel)
        assert message == {"type": "sync.poke", "n": 1}
    finally:
        await receiver.group_discard(group, channel)
        await receiver.flush() if hasattr(receiver, "flush") else None
