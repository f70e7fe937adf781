from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from mobile_api.models import Device
from server.enums import Role
from sync.models import Change
from tests.conftest import device_login
from tests.factories import PASSWORD

LOGIN = "/api/v1/auth/login/"
REFRESH = "/api/v1/auth/refresh/"


def _login_body(username: str, password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {
        "username": username,
        "password": password,
        "device_id": "handheld-7",
        "platform": "android",
        "app_version": "2.3.1",
        **extra,
    }


@pytest.mark.parametrize("role", list(Role))
def test_every_role_signs_in_and_reads_me(make_user, role):
    user = make_user(role)
    client = APIClient()

    tokens = device_login(client, user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/v1/me/")

    assert me.status_code == 200
    assert me.json()["roles"] == [role.value]
    assert tokens["user"]["id"] == user.pk
    assert tokens["device"]["client_id"] == "device-1"


def test_login_registers_the_device_and_records_it(rep):
    response = APIClient().post(
        LOGIN, _login_body(rep.username, fcm_token="fcm-abc"), format="json"
    )

    assert response.status_code == 200
    device = Device.objects.get()
    assert (device.user_id, device.client_id, device.platform, device.app_version) == (
        rep.pk,
        "handheld-7",
        "android",
        "2.3.1",
    )
    assert device.fcm_token == "fcm-abc" and device.fcm_token_active
    change = Change.objects.get(table="devices")
    assert change.operation == "create"
    assert change.actor_id == rep.pk
    assert "fcm_token" not in change.diff  # the token itself is never logged


def test_second_login_refreshes_the_same_device(rep):
    client = APIClient()
    client.post(LOGIN, _login_body(rep.username), format="json")
    response = client.post(LOGIN, _login_body(rep.username, app_version="2.4.0"), format="json")

    assert response.status_code == 200
    assert Device.objects.count() == 1
    assert Device.objects.get().app_version == "2.4.0"


def test_wrong_password_is_401_and_writes_nothing(rep):
    response = APIClient().post(LOGIN, _login_body(rep.username, password="nope"), format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert Device.objects.count() == 0
    assert Change.objects.count() == 0


def test_inactive_user_cannot_sign_in(make_user):
    user = make_user(Role.TECHNICIAN, is_active=False)
    response = APIClient().post(LOGIN, _login_body(user.username), format="json")
    assert response.status_code == 401
    assert Device.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("platform", "blackberry"), ("device_id", "has spaces"), ("device_id", "x" * 65)],
)
def test_login_rejects_bad_fields(rep, field, value):
    response = APIClient().post(LOGIN, _login_body(rep.username, **{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Device.objects.count() == 0


def test_refresh_rotates_and_the_old_refresh_token_dies(rep):
    client = APIClient()
    first = device_login(client, rep)

    second = client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert second.status_code == 200
    third = client.post(REFRESH, {"refresh": second.json()["refresh"]}, format="json")
    assert third.status_code == 200
    # The first token was rotated away twice: outside the grace window for a lost answer.
    replay = client.post(REFRESH, {"refresh": first["refresh"]}, format="json")

    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_reused"


def test_refresh_retry_after_a_lost_answer_is_accepted_once(rep):
    client = APIClient()
    first = device_login(client, rep)
    client.post(REFRESH, {"refresh": first["refresh"]}, format="json")  # answer "lost"

    retry = client.post(REFRESH, {"refresh": first["refresh"]}, format="json")

    assert retry.status_code == 200
    assert (
        client.post(REFRESH, {"refresh": retry.json()["refresh"]}, format="json").status_code == 200
    )


def test_refresh_with_garbage_is_401(db):
    response = APIClient().post(REFRESH, {"refresh": "not-a-jwt"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_an_access_token_cannot_refresh(rep):
    client = APIClient()
    tokens = device_login(client, rep)
    response = client.post(REFRESH, {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 401


def test_requests_without_token_are_401(db):
    response = APIClient().get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_malformed_authorization_header_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_login_is_throttled_per_username(rep, monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"login": "100/min", "login_user": "3/min"}
    )
    client = APIClient()
    statuses = [
        client.post(LOGIN, _login_body(rep.username, password="wrong"), format="json").status_code
        for _ in range(4)
    ]
    blocked = client.post(LOGIN, _login_body(rep.username), format="json")

    assert statuses == [401, 401, 401, 429]
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    assert "Retry-After" in blocked.headers
    assert Device.objects.count() == 0


def test_console_session_authentication_works_and_enforces_csrf(rep):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(rep)

    read = client.get("/api/v1/me/")
    write = client.post("/api/v1/accounts/", {"name": "No CSRF"}, format="json")

    assert read.status_code == 200
    assert read.json()["username"] == rep.username
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "permission_denied"
