"""Bad input gets a 4xx in the error envelope and changes nothing."""

from __future__ import annotations

import pytest
from django.conf import settings

from crm.models import Account
from sync.models import Change


def _assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def test_malformed_json_is_400_and_writes_nothing(client_for, rep):
    client = client_for(rep)
    changes = Change.objects.count()
    response = client.post(
        "/api/v1/accounts/", data='{"name": "Acme",', content_type="application/json"
    )
    _assert_envelope(response, 400, "malformed_request")
    assert Account.objects.count() == 0
    assert Change.objects.count() == changes


def test_unknown_fields_are_refused_by_name(client_for, rep):
    client = client_for(rep)
    response = client.post("/api/v1/accounts/", {"name": "Acme", "is_vip": True}, format="json")
    error = _assert_envelope(response, 400, "invalid")
    assert error["fields"] == {"is_vip": ["Unknown field."]}
    assert Account.objects.count() == 0


def test_a_body_over_the_limit_is_413_before_parsing(client_for, rep):
    client = client_for(rep)
    big = '{"name": "' + "x" * settings.FIELDLINE_MAX_BODY_BYTES + '"}'
    response = client.post("/api/v1/accounts/", data=big, content_type="application/json")
    _assert_envelope(response, 413, "body_too_large")
    assert Account.objects.count() == 0


def test_wrong_content_type_is_415(client_for, rep):
    response = client_for(rep).post(
        "/api/v1/accounts/", data="name=Acme", content_type="application/x-www-form-urlencoded"
    )
    _assert_envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("bad_id", ["does-not-exist", "%20", "a" * 80, "1;drop"])
def test_invalid_ids_are_404(client_for, rep, bad_id):
    response = client_for(rep).get(f"/api/v1/accounts/{bad_id}/")
    _assert_envelope(response, 404, "not_found")


def test_unknown_endpoint_is_404_in_the_envelope(client_for, rep):
    _assert_envelope(client_for(rep).get("/api/v1/nothing-here/"), 404, "not_found")


def test_wrong_method_is_405(client_for, rep):
    _assert_envelope(client_for(rep).delete("/api/v1/accounts/"), 405, "method_not_allowed")


def test_request_id_is_echoed_or_generated(client_for, rep):
    client = client_for(rep)
    echoed = client.get("/api/v1/me/", HTTP_X_REQUEST_ID="trace-12345678")
    generated = client.get("/api/v1/me/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert echoed["X-Request-ID"] == "trace-12345678"
    assert len(generated["X-Request-ID"]) == 32


class _Deadlock(Exception):
    sqlstate = "40P01"  # as psycopg's DeadlockDetected carries it


def test_a_transaction_the_database_gave_up_on_is_503_retry_and_writes_nothing(
    client_for, rep, monkeypatch
):
    from django.db import OperationalError

    from crm import services

    real_create = services.account_create

    def create_then_deadlock(**kwargs):
        real_create(**kwargs)  # written, then the database picks this transaction to abort
        raise OperationalError("deadlock detected") from _Deadlock()

    monkeypatch.setattr(services, "account_create", create_then_deadlock)
    client = client_for(rep)
    changes = Change.objects.count()

    response = client.post("/api/v1/accounts/", {"name": "Acme"}, format="json")

    _assert_envelope(response, 503, "busy")
    assert response["Retry-After"] == "1"
    assert Account.objects.count() == 0
    assert Change.objects.count() == changes
