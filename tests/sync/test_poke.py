"""After a change commits, the sockets of the users who hold its keys are told to pull."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from server.asgi import application
from tests.conftest import device_login
from tests.factories import AccountFactory


async def _socket(user, device_id: str) -> WebsocketCommunicator:
    tokens = await database_sync_to_async(device_login)(APIClient(), user, device_id=device_id)
    communicator = WebsocketCommunicator(application, f"/ws/device/?token={tokens['access']}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_a_committed_change_pokes_the_owner_and_nobody_else(rep, other_rep, sales_manager):
    account = await database_sync_to_async(AccountFactory.create)(owner=rep)
    owner_socket = await _socket(rep, "owner-tablet")
    other_socket = await _socket(other_rep, "other-tablet")

    # when a manager renames the rep's account
    def rename() -> int:
        client = APIClient()
        client.force_authenticate(sales_manager)
        return client.patch(
            f"/api/v1/accounts/{account.id}/", {"name": "Renamed"}, format="json"
        ).status_code

    assert await database_sync_to_async(rename)() == 200

    # then the owner's device is poked, with no data, and the other rep's is not
    assert await owner_socket.receive_json_from(timeout=5) == {"type": "sync.poke"}
    assert await other_socket.receive_nothing(timeout=0.3)
    await owner_socket.disconnect()
    await other_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_write_pokes_nobody(rep, finance):
    account = await database_sync_to_async(AccountFactory.create)(owner=rep)
    owner_socket = await _socket(rep, "owner-tablet")

    def forbidden_edit() -> int:
        client = APIClient()
        client.force_authenticate(finance)
        return client.patch(
            f"/api/v1/accounts/{account.id}/", {"name": "Nope"}, format="json"
        ).status_code

    assert await database_sync_to_async(forbidden_edit)() == 403
    await asyncio.sleep(0)
    assert await owner_socket.receive_nothing(timeout=0.3)
    await owner_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_one_transaction_pokes_each_device_once(rep, sales_manager):
    accounts = [await database_sync_to_async(AccountFactory.create)(owner=rep) for _ in range(3)]
    owner_socket = await _socket(rep, "owner-tablet")

    # when a manager's device pushes edits to three of the rep's accounts in one push
    def push() -> int:
        client = APIClient()
        tokens = device_login(client, sales_manager, device_id="console")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        cursor = client.get("/api/v1/sync/pull/").json()["timestamp"]
        updated = [{"id": a.id, "notes": "visited", "_changed": "notes"} for a in accounts]
        return client.post(
            "/api/v1/sync/push/",
            {"changes": {"accounts": {"updated": updated}}, "lastPulledAt": cursor},
            format="json",
        ).status_code

    assert await database_sync_to_async(push)() == 200

    # then the rep's device is poked once
    assert await owner_socket.receive_json_from(timeout=5) == {"type": "sync.poke"}
    assert await owner_socket.receive_nothing(timeout=0.3)
    await owner_socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_role_given_in_the_admin_reaches_the_open_socket(rep, other_rep, admin_user):
    account = await database_sync_to_async(AccountFactory.create)(owner=other_rep)
    socket = await _socket(rep, "rep-tablet")

    def make_rep_a_sales_manager() -> None:
        from types import SimpleNamespace

        from django.contrib import admin
        from django.db import transaction
        from django.test import RequestFactory

        from server.admin import UserAdmin
        from server.enums import Role
        from server.models import User, UserRole

        request = RequestFactory().post("/admin/")
        request.user = admin_user
        with transaction.atomic():
            UserRole.objects.create(user=rep, role=Role.SALES_MANAGER)
            # what the change form reports for its roles inline
            roles = SimpleNamespace(has_changed=lambda: True, save=lambda: None)
            form = SimpleNamespace(instance=rep, save_m2m=lambda: None)
            UserAdmin(User, admin.site).save_related(request, form, [roles], change=True)

    await database_sync_to_async(make_rep_a_sales_manager)()
    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}

    # the socket now hears changes to every customer, as a sales manager sees them
    def rename() -> int:
        client = APIClient()
        client.force_authenticate(other_rep)
        return client.patch(
            f"/api/v1/accounts/{account.id}/", {"name": "Renamed"}, format="json"
        ).status_code

    assert await database_sync_to_async(rename)() == 200
    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}
    await socket.disconnect()
