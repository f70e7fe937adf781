"""The loopback FCM server against the REAL pyfcm client (no database, no mocks of the sender).

``time.sleep`` is replaced by a recorder so the Retry-After / backoff sleeps done inside
urllib3 and pyfcm are observed (and asserted) instead of waited for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from pyfcm import FCMNotification
from pyfcm.errors import FCMNotRegisteredError, FCMServerError, InvalidDataError
from requests.adapters import HTTPAdapter

from tests.fcm_server import (
    FCM_ERROR_TYPE,
    Answer,
    FcmTestServer,
    fake_credentials,
    internal,
    invalid_argument,
    ok,
    quota,
    unavailable,
    unregistered,
)

PROJECT = "fieldline-test"
ClientFactory = Callable[..., FCMNotification]


@pytest.fixture
def fcm() -> Iterator[FcmTestServer]:
    with FcmTestServer() as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


@pytest.fixture
def make_client(fcm: FcmTestServer) -> ClientFactory:
    def make(*, urllib3_retries: bool = True) -> FCMNotification:
        adapter = None if urllib3_retries else HTTPAdapter(max_retries=0)
        client = FCMNotification(
            credentials=fake_credentials(), project_id=PROJECT, adapter=adapter
        )
        client.FCM_END_POINT_BASE = fcm.endpoint_base
        return client

    return make


def _send(client: FCMNotification, token: str) -> dict[str, str]:
    result: dict[str, str] = client.notify(fcm_token=token, notification_title="t")
    return result


def _error_code(body: str) -> str:
    details = json.loads(body)["error"]["details"]
    return next(d["errorCode"] for d in details if d["@type"] == FCM_ERROR_TYPE)


# --------------------------------------------------------------------------- happy path


def test_notify_is_recorded_and_returns_the_message_name(
    fcm: FcmTestServer, make_client: ClientFactory
) -> None:
    credentials = fake_credentials("tok-abc")
    client = FCMNotification(credentials=credentials, project_id=PROJECT)
    client.FCM_END_POINT_BASE = fcm.endpoint_base

    result = client.notify(
        fcm_token="device-1",
        notification_title="Visit moved",
        notification_body="Acme Corp is now at 14:00",
        data_payload={"kind": "visit", "id": "42"},
        android_config={"collapse_key": "visit-42", "priority": "high"},
    )

    assert result == {"name": f"projects/{PROJECT}/messages/1"}
    assert credentials.refresh_count == 1
    (req,) = fcm.received
    assert req["path"] == f"/v1/projects/{PROJECT}/messages:send"
    assert req["headers"]["Authorization"] == "Bearer tok-abc"
    assert req["token"] == "device-1"
    assert req["notification"] == {"title": "Visit moved", "body": "Acme Corp is now at 14:00"}
    assert req["data"] == {"kind": "visit", "id": "42"}
    assert req["android"] == {"collapse_key": "visit-42", "priority": "high"}
    assert req["body"]["validate_only"] is False
    assert fcm.base_url == f"http://127.0.0.1:{fcm.port}/"


def test_missing_bearer_is_401(fcm: FcmTestServer) -> None:
    url = f"{fcm.endpoint_base}/{PROJECT}/messages:send"
    response = requests.post(url, json={"message": {"token": "x"}}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- terminal errors


def test_unregistered_raises_not_registered(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("gone", unregistered())
    with pytest.raises(FCMNotRegisteredError, match="Token not registered"):
        _send(make_client(), "gone")
    assert len(fcm.received) == 1
    assert sleeps == []


def test_invalid_argument_raises_invalid_data_with_the_raw_body(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("bad", invalid_argument("bad payload", field="message.data[0].value"))
    with pytest.raises(InvalidDataError) as excinfo:
        _send(make_client(), "bad")
    body = excinfo.value.args[0]
    assert _error_code(body) == "INVALID_ARGUMENT"
    assert json.loads(body)["error"]["message"] == "bad payload"
    assert len(fcm.received) == 1
    assert sleeps == []


def test_internal_raises_server_error_without_retry(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", internal())
    with pytest.raises(FCMServerError, match="status code 500"):
        _send(make_client(), "t")
    assert len(fcm.received) == 1
    assert sleeps == []


def test_quota_without_retry_after_raises_server_error(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", quota(retry_after=None))
    with pytest.raises(FCMServerError, match="status code 429"):
        _send(make_client(), "t")
    assert len(fcm.received) == 1


# --------------------------------------------------------------------------- default pyfcm retries


def test_one_503_is_retried_at_once_by_urllib3_and_hidden(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", unavailable())
    assert _send(make_client(), "t")["name"].startswith(f"projects/{PROJECT}/messages/")
    assert len(fcm.received) == 2
    assert sleeps == []


def test_persistent_503_backs_off_then_raises_requests_retry_error(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", *[unavailable()] * 20)
    with pytest.raises(requests.exceptions.RetryError):
        _send(make_client(), "t")
    assert len(fcm.received) == 11  # first try + urllib3 Retry(total=10)
    assert sleeps == [2, 4, 8, 16, 32, 64, 120, 120, 120]  # ~8 minutes in real life


def test_503_with_retry_after_sleeps_it_then_raises_requests_retry_error(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", *[unavailable(retry_after=3)] * 20)
    with pytest.raises(requests.exceptions.RetryError):
        _send(make_client(), "t")
    assert len(fcm.received) == 11
    assert sleeps == [3] * 10


def test_quota_retry_after_is_slept_inside_the_client_and_never_surfaces(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    # urllib3 sleeps Retry-After 10 times, then hands the 429 to pyfcm, whose send_request
    # sleeps Retry-After again and recurses with a fresh urllib3 budget: no limit at all.
    fcm.answer("t", *[quota(retry_after=7)] * 15)
    assert _send(make_client(), "t")["name"].startswith(f"projects/{PROJECT}/")
    assert len(fcm.received) == 16
    assert sleeps == [7] * 15
    assert fcm.pending("t") == 0


# --------------------------------------------------------------------------- urllib3 retries off


def test_without_urllib3_retries_503_is_one_server_error(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", unavailable(), unavailable())
    with pytest.raises(FCMServerError, match="status code 503"):
        _send(make_client(urllib3_retries=False), "t")
    assert len(fcm.received) == 1
    assert sleeps == []


def test_without_urllib3_retries_retry_after_is_still_slept_by_pyfcm(
    fcm: FcmTestServer, make_client: ClientFactory, sleeps: list[float]
) -> None:
    fcm.answer("t", quota(retry_after=5), unavailable(retry_after=9), unregistered())
    with pytest.raises(FCMNotRegisteredError):
        _send(make_client(urllib3_retries=False), "t")
    assert len(fcm.received) == 3
    assert sleeps == [5, 9]


# --------------------------------------------------------------------------- scripting


def test_queue_is_per_token_then_defaults_to_ok(
    fcm: FcmTestServer, make_client: ClientFactory
) -> None:
    client = make_client()
    fcm.answer("a", unregistered(), ok(), Answer(400, {"error": {"code": 400}}))
    fcm.answer("b", internal())

    with pytest.raises(FCMNotRegisteredError):
        _send(client, "a")
    assert _send(client, "c") == {"name": f"projects/{PROJECT}/messages/1"}
    with pytest.raises(FCMServerError):
        _send(client, "b")
    assert _send(client, "a") == {"name": f"projects/{PROJECT}/messages/2"}
    with pytest.raises(InvalidDataError):
        _send(client, "a")
    assert _send(client, "a") == {"name": f"projects/{PROJECT}/messages/3"}
    assert _send(client, "b") == {"name": f"projects/{PROJECT}/messages/4"}

    assert [r["token"] for r in fcm.received] == ["a", "c", "b", "a", "a", "a", "b"]
    assert len(fcm.received_for("a")) == 4
    assert fcm.pending("a") == fcm.pending("b") == 0


def test_wait_for_counts_requests_from_other_threads(
    fcm: FcmTestServer, make_client: ClientFactory
) -> None:
    client = make_client()
    threads = [
        threading.Thread(target=_send, args=(client, f"dev-{i}"), daemon=True) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    received = fcm.wait_for(3, timeout=5)
    assert sorted(r["token"] or "" for r in received) == ["dev-0", "dev-1", "dev-2"]
    for thread in threads:
        thread.join(timeout=5)
    with pytest.raises(TimeoutError, match="got 3 request"):
        fcm.wait_for(4, timeout=0.05)
