from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from mobile_api.models import RecordedPush
from mobile_api.push import FCMPushBackend, PushMessage, RecordingPushBackend, get_push_backend
from tests.fcm_server import FcmTestServer


def test_embedded_default_records_pushes_in_the_database_and_the_log(db, caplog):
    backend = get_push_backend()
    assert isinstance(backend, RecordingPushBackend)

    with caplog.at_level(logging.INFO, logger="mobile_api.push"):
        result = backend.send(
            PushMessage(
                token="fcm-token-1",
                title="New job",
                body="Boiler repair at 14:00",
                data={"type": "sync"},
                collapse_key="job-42",
            )
        )

    row = RecordedPush.objects.get()
    assert result == {"name": f"recorded/{row.pk}"}
    assert (row.token, row.title, row.data, row.collapse_key) == (
        "fcm-token-1",
        "New job",
        {"type": "sync"},
        "job-42",
    )
    assert "push recorded" in caplog.text
    assert "fcm-token-1" not in caplog.text  # tokens are credentials: never logged


def test_the_fcm_backend_sends_from_many_threads_with_one_access_token(tmp_path):
    """pyfcm alone loads and refreshes its shared credentials from every thread at once; the
    losers of that race sent "Bearer None". Through a service-account file, as in production."""
    with FcmTestServer() as fcm:
        fcm.delay = 0.02
        env = fcm.environment(tmp_path / "service-account.json", "fieldline-test")
        backend = FCMPushBackend(
            SERVICE_ACCOUNT_FILE=env["FCM_SERVICE_ACCOUNT_FILE"],
            PROJECT_ID=env["FCM_PROJECT_ID"],
            ENDPOINT_BASE=env["FCM_ENDPOINT_BASE"],
        )
        with ThreadPoolExecutor(16) as pool:
            results = list(
                pool.map(lambda n: backend.send(PushMessage(token=f"t{n}", title="x")), range(96))
            )

        assert len(results) == len(fcm.received) == 96
        assert fcm.token_requests == 1
        assert fcm.most_in_flight > 1
        assert {r["headers"]["Authorization"] for r in fcm.received} == {
            "Bearer fake-fcm-access-token"
        }
