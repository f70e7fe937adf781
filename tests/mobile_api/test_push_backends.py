from __future__ import annotations

import logging

from mobile_api.models import RecordedPush
from mobile_api.push import PushMessage, RecordingPushBackend, get_push_backend


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
