from __future__ import annotations

from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.db import transaction
from django.test import RequestFactory
from rest_framework.test import APIClient

from mobile_api import outbox
from mobile_api.models import Device, RecordedPush
from server.admin import UserAdmin
from server.asgi import application
from server.enums import Role
from server.models import User
from server.notifications import notify
from sync.models import Change
from tests.conftest import device_login


def _revoke(client: APIClient, device_id: int, reason: str = "lost") -> int:
    return client.post(
        f"/api/v1/devices/{device_id}/revoke/", {"reason": reason}, format="json"
    ).status_code


def test_revoked_device_gets_401_with_a_clear_code_at_once(client_for, rep):
    # given a rep signed in on two devices
    handheld = client_for(rep, device_id="handheld")
    tablet = client_for(rep, device_id="tablet")
    assert handheld.get("/api/v1/me/").status_code == 200

    # when the rep revokes the lost handheld from the tablet
    assert _revoke(tablet, handheld.tokens["device"]["id"]) == 200

    # then the handheld's access token stops working, its refresh token too
    response = handheld.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "device_revoked"
    refresh = APIClient().post(
        "/api/v1/auth/refresh/", {"refresh": handheld.tokens["refresh"]}, format="json"
    )
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "device_revoked"
    # and signing in again on it is refused
    again = APIClient().post(
        "/api/v1/auth/login/",
        {
            "username": rep.username,
            "password": "correct horse battery",
            "device_id": "handheld",
            "platform": "android",
            "app_version": "1",
        },
        format="json",
    )
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "device_revoked"
    # while the tablet keeps working
    assert tablet.get("/api/v1/me/").status_code == 200


def test_revocation_is_audited(client_for, make_user, rep):
    manager = make_user(Role.SERVICE_MANAGER)
    handheld = client_for(rep, device_id="handheld")
    manager_client = client_for(manager, device_id="console")

    assert _revoke(manager_client, handheld.tokens["device"]["id"], reason="stolen") == 200

    change = Change.objects.filter(table="devices", operation="update").latest("version")
    assert change.actor_id == manager.pk
    assert change.record_id == str(handheld.tokens["device"]["id"])
    assert change.diff["revoked_reason"] == ["", "stolen"]
    assert change.device_id == str(manager_client.tokens["device"]["id"])


def test_a_user_cannot_revoke_someone_elses_device(client_for, rep, other_rep):
    victim = client_for(other_rep, device_id="victim")
    attacker = client_for(rep, device_id="attacker")
    changes_before = Change.objects.count()

    status = _revoke(attacker, victim.tokens["device"]["id"])

    assert status == 404
    assert Device.objects.get(pk=victim.tokens["device"]["id"]).revoked_at is None
    assert Change.objects.count() == changes_before
    assert victim.get("/api/v1/me/").status_code == 200


def test_device_list_shows_own_devices_only(client_for, rep, other_rep):
    client_for(other_rep, device_id="other")
    mine = client_for(rep, device_id="mine")
    response = mine.get("/api/v1/devices/")
    assert [d["client_id"] for d in response.json()["results"]] == ["mine"]


def test_current_device_updates_its_push_token(client_for, rep):
    client = client_for(rep)
    response = client.patch("/api/v1/devices/current/", {"fcm_token": "new-token"}, format="json")
    assert response.status_code == 200
    assert response.json()["has_push_token"] is True
    assert Device.objects.get().fcm_token == "new-token"


@pytest.mark.django_db(transaction=True)
async def test_revocation_closes_the_device_websocket(rep):
    tokens = await database_sync_to_async(device_login)(APIClient(), rep, device_id="ws-device")
    communicator = WebsocketCommunicator(application, f"/ws/device/?token={tokens['access']}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    # when another session revokes the device
    admin_client = APIClient()
    await database_sync_to_async(admin_client.force_authenticate)(rep)
    status = await database_sync_to_async(
        lambda: (
            admin_client.post(
                f"/api/v1/devices/{tokens['device']['id']}/revoke/", {}, format="json"
            ).status_code
        )
    )()
    assert status == 200

    # then the socket is told and closed with 4401
    assert (await communicator.receive_json_from(timeout=5))["type"] == "device.revoked"
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    await communicator.wait()


@pytest.mark.django_db(transaction=True)
async def test_websocket_refuses_a_bad_or_revoked_token(rep):
    communicator = WebsocketCommunicator(application, "/ws/device/?token=garbage")
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401
    no_token = WebsocketCommunicator(application, "/ws/device/")
    connected, code = await no_token.connect()
    assert (connected, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_in_the_admin_closes_their_sockets_and_stops_pushes(
    rep, admin_user
):
    tokens = await database_sync_to_async(device_login)(
        APIClient(), rep, device_id="ws-device", fcm_token="tok-rep"
    )
    communicator = WebsocketCommunicator(application, f"/ws/device/?token={tokens['access']}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    def deactivate() -> None:
        request = RequestFactory().post("/admin/")
        request.user = admin_user
        rep.is_active = False
        form = SimpleNamespace(changed_data=["is_active"])  # what Django's change form reports
        with transaction.atomic():
            UserAdmin(User, admin.site).save_model(request, rep, form, change=True)

    await database_sync_to_async(deactivate)()

    assert await communicator.receive_json_from(timeout=5) == {
        "type": "device.revoked",
        "reason": "user deactivated",
    }
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    await communicator.wait()

    row = await database_sync_to_async(notify)(user_id=rep.pk, kind="job.assigned", title="x")
    outcome = await database_sync_to_async(outbox.run_once)()
    assert (outcome.sent, outcome.failed) == (0, 1)
    await database_sync_to_async(row.refresh_from_db)()
    assert row.last_error.startswith("user_inactive")
    assert not await database_sync_to_async(RecordedPush.objects.exists)()
