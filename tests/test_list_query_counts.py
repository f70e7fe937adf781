"""Lists outside crm run a constant number of queries (crm's are in tests/crm)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import AccountFactory


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_device_list_is_constant(client_for, make_user):
    from server.enums import Role

    manager = make_user(Role.SERVICE_MANAGER)
    client = client_for(manager, device_id="console")
    few = _queries(client, "/api/v1/devices/")
    for n in range(8):
        client_for(make_user(Role.TECHNICIAN), device_id=f"handheld-{n}")
    assert _queries(client, "/api/v1/devices/") == few


def test_audit_list_is_constant(client_for, admin_user, rep):
    client = client_for(admin_user)
    rep_client = client_for(rep)
    rep_client.post("/api/v1/accounts/", {"name": "First"}, format="json")
    few = _queries(client, "/api/v1/audit/")
    for n in range(8):
        AccountFactory.create(owner=rep)
        rep_client.post("/api/v1/accounts/", {"name": f"Acc {n}"}, format="json")
    assert _queries(client, "/api/v1/audit/") == few
