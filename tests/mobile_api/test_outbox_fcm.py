"""The outbox worker through the real pyfcm client against the FCM v1 test server: each of
FCM's error answers gives its documented outcome, and a Retry-After never blocks the other
sends."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from mobile_api import outbox
from mobile_api.models import Device
from mobile_api.push import get_push_backend
from server.enums import Role
from server.models import Notification, OutboxState
from server.notifications import notify
from tests.fcm_server import (
    FcmTestServer,
    fake_credentials,
    internal,
    invalid_argument,
    quota,
    unavailable,
    unregistered,
)


@pytest.fixture
def fcm(settings):
    with FcmTestServer() as server:
        settings.FIELDLINE_PUSH = {
            "BACKEND": "mobile_api.push.FCMPushBackend",
            "PROJECT_ID": "fieldline-test",
            "ENDPOINT_BASE": server.endpoint_base,
            "credentials": fake_credentials(),
        }
        get_push_backend.cache_clear()
        yield server
    get_push_backend.cache_clear()


def _user_with_token(make_user, token: str):
    user = make_user(Role.TECHNICIAN)
    Device.objects.create(
        user=user, client_id=token, platform="android", app_version="1.0",
        fcm_token=token, fcm_token_active=True,
    )  # fmt: skip
    return user


def test_a_push_goes_out_as_fcm_v1_with_its_id_and_collapse_key(fcm, make_user):
    user = _user_with_token(make_user, "tok-a")
    row = notify(
        user_id=user.pk, kind="job.assigned", title="New job", body="Repair",
        data={"work_order": "w1"}, collapse_key="job-w1",
    )  # fmt: skip

    assert outbox.run_once().sent == 1

    [request] = fcm.received_for("tok-a")
    assert request["notification"] == {"title": "New job", "body": "Repair"}
    assert request["data"] == {
        "work_order": "w1", "notification_id": str(row.pk), "kind": "job.assigned",
        "action": "sync",
    }  # fmt: skip
    assert request["android"] == {"priority": "high", "collapse_key": "job-w1"}
    message = request["body"]["message"]
    assert message["apns"] == {
        "headers": {
            "apns-push-type": "alert", "apns-priority": "10", "apns-collapse-id": "job-w1",
        },
        "payload": {"aps": {"content-available": 1}},
    }  # fmt: skip


def test_a_data_only_push_asks_for_a_pull_quietly(fcm, make_user):
    user = _user_with_token(make_user, "tok-quiet")
    notify(user_id=user.pk, kind="job.unassigned", data={"work_order": "w1"}, collapse_key="job-w1")

    assert outbox.run_once().sent == 1

    [request] = fcm.received_for("tok-quiet")
    assert request["notification"] is None
    assert request["data"] is not None
    assert request["data"]["action"] == "sync"
    assert request["android"] == {"priority": "normal", "collapse_key": "job-w1"}
    headers = request["body"]["message"]["apns"]["headers"]
    assert (headers["apns-push-type"], headers["apns-priority"]) == ("background", "5")


def test_unregistered_deactivates_the_token(fcm, make_user):
    user = _user_with_token(make_user, "tok-gone")
    fcm.answer("tok-gone", unregistered())
    row = notify(user_id=user.pk, kind="job.assigned")

    outcome = outbox.run_once()

    assert outcome.deactivated == 1
    assert Device.objects.get(fcm_token="tok-gone").fcm_token_active is False
    row.refresh_from_db()
    assert (row.state, row.last_error.split(":")[0]) == (OutboxState.FAILED, "unregistered")
    # and it gets nothing any more
    notify(user_id=user.pk, kind="job.assigned")
    outbox.run_once()
    assert len(fcm.received_for("tok-gone")) == 1


def test_invalid_argument_fails_the_row_with_the_reason(fcm, make_user):
    user = _user_with_token(make_user, "tok-bad")
    fcm.answer("tok-bad", invalid_argument("The registration token is not a valid FCM token"))
    row = notify(user_id=user.pk, kind="job.assigned")

    outbox.run_once()

    row.refresh_from_db()
    assert row.state == OutboxState.FAILED
    assert "INVALID_ARGUMENT" in row.last_error


def test_retry_after_reschedules_that_row_without_blocking_the_others(fcm, make_user):
    busy = _user_with_token(make_user, "tok-busy")
    other = _user_with_token(make_user, "tok-free")
    fcm.answer("tok-busy", quota(retry_after=30))
    waiting = notify(user_id=busy.pk, kind="job.assigned")
    notify(user_id=other.pk, kind="job.assigned")
    now = timezone.now()

    outcome = outbox.run_once(now=now)

    assert (outcome.sent, outcome.retried) == (1, 1)
    assert len(fcm.received_for("tok-busy")) == 1  # not resent after a sleep
    waiting.refresh_from_db()
    assert waiting.state == OutboxState.PENDING
    assert waiting.next_attempt_at == now + dt.timedelta(seconds=30)
    # when it is due again, it goes
    assert outbox.run_once(now=now + dt.timedelta(seconds=31)).sent == 1


def test_server_errors_back_off_then_give_up(fcm, make_user):
    user = _user_with_token(make_user, "tok-down")
    fcm.answer("tok-down", unavailable(), *[internal()] * outbox.MAX_ATTEMPTS)
    row = notify(user_id=user.pk, kind="job.assigned")
    now = timezone.now()

    first = outbox.run_once(now=now)
    row.refresh_from_db()
    assert first.retried == 1
    assert now < row.next_attempt_at <= now + dt.timedelta(seconds=outbox.BASE_DELAY_S)
    assert len(fcm.received_for("tok-down")) == 1  # one request: no retries inside pyfcm

    later = now
    for _ in range(outbox.MAX_ATTEMPTS):
        later += dt.timedelta(seconds=outbox.MAX_DELAY_S + outbox.LEASE.total_seconds())
        outbox.run_once(now=later)
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED
    assert row.last_error == f"gave up after {outbox.MAX_ATTEMPTS} attempts"
    assert Notification.objects.filter(state=OutboxState.PENDING).count() == 0


def test_a_revoked_device_gets_no_further_pushes(fcm, make_user):
    from mobile_api.services import device_revoke

    user = _user_with_token(make_user, "tok-lost")
    notify(user_id=user.pk, kind="job.assigned")
    outbox.run_once()
    device = Device.objects.get(fcm_token="tok-lost")

    device_revoke(actor=make_user(Role.ADMIN), device=device, reason="Lost in a taxi")
    row = notify(user_id=user.pk, kind="job.assigned")
    outbox.run_once()

    assert len(fcm.received_for("tok-lost")) == 1  # only the push before the revocation
    row.refresh_from_db()
    assert (row.state, row.last_error.split(":")[0]) == (OutboxState.FAILED, "no_push_token")


def test_a_worker_sends_a_batchs_messages_at_once_and_records_each(fcm, make_user):
    users = [_user_with_token(make_user, f"tok-{n}") for n in range(12)]
    rows = [notify(user_id=u.pk, kind="job.assigned", title="New job") for u in users]
    fcm.delay = 0.2  # FCM's answer takes a while, as over the internet
    fcm.answer("tok-3", unregistered())

    with ThreadPoolExecutor(8) as pool:
        outcome = outbox.run_once(pool=pool, chunk=8)

    assert fcm.most_in_flight > 1  # sent concurrently, not one after the other
    assert (outcome.sent, outcome.failed, outcome.deactivated) == (11, 1, 1)
    states = dict(Notification.objects.values_list("pk", "state"))
    assert [states[r.pk] for r in rows] == ["sent"] * 3 + ["failed"] + ["sent"] * 8
    assert Device.objects.get(fcm_token="tok-3").fcm_token_active is False
