"""The same push sent twice at once (a client retrying before its first answer came back)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from crm.models import Contact
from server.access import scope_keys_for
from server.enums import Role
from sync import pull as sync_pull
from sync import push as sync_push
from sync.models import Change, PushReceipt
from tests.factories import AccountFactory, UserFactory


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pushes_with_one_key_apply_once_and_answer_alike() -> None:
    assert connection.vendor == "postgresql"
    rep = UserFactory.create(roles=[Role.SALES_REP])
    account = AccountFactory.create(owner=rep)
    keys = scope_keys_for(rep)
    cursor = sync_pull.pull(user=rep, device_id="tablet", keys=keys, last_pulled_at=None)
    body = {
        "changes": {
            "contacts": {
                "created": [
                    {"id": f"cont{i:012d}", "account_id": account.id, "last_name": f"N{i}"}
                    for i in range(20)
                ]
            }
        },
        "lastPulledAt": cursor.timestamp,
    }
    answers: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def send() -> None:
        try:
            start.wait(timeout=10)
            answers.append(
                sync_push.push(
                    user=rep,
                    device_id="tablet",
                    keys=keys,
                    body=body,
                    last_pulled_at=cursor.timestamp,
                    idempotency_key="same-key",
                )
            )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(answers) == 2 and answers[0] == answers[1]
    assert Contact.objects.count() == 20
    assert Change.objects.filter(table="contacts", operation="create").count() == 20
    assert PushReceipt.objects.count() == 1
