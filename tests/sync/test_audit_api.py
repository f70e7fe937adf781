from __future__ import annotations

from sync.models import Change
from tests.factories import AccountFactory


def test_admin_reads_the_audit_trail_of_a_record(client_for, admin_user, rep):
    # given a rep edits an account through the API
    account = AccountFactory.create(owner=rep, name="Old name", national_id="FR99887766")
    rep_client = client_for(rep, device_id="rep-tablet")
    response = rep_client.patch(
        f"/api/v1/accounts/{account.id}/",
        {"name": "New name", "national_id": "FR11223344"},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-0001",
    )
    assert response.status_code == 200

    # when an admin asks for the record's history
    audit = client_for(admin_user).get(
        "/api/v1/audit/", {"table": "accounts", "record_id": account.id}
    )

    # then the one change names actor, device, request and the diff, with secrets redacted
    assert audit.status_code == 200
    [entry] = audit.json()["results"]
    assert entry["operation"] == "update"
    assert entry["actor"] == rep.pk
    assert entry["device_id"] == str(rep_client.tokens["device"]["id"])
    assert entry["request_id"] == "req-audit-0001"
    assert entry["diff"]["name"] == ["Old name", "New name"]
    assert entry["diff"]["national_id"] == ["[redacted]", "[redacted]"]


def test_only_admins_read_the_audit_trail(client_for, rep, sales_manager):
    for user in (rep, sales_manager):
        response = client_for(user).get("/api/v1/audit/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_audit_filters_are_validated(client_for, admin_user):
    response = client_for(admin_user).get("/api/v1/audit/", {"operation": "explode"})
    assert response.status_code == 400
    assert "operation" in response.json()["error"]["fields"]


def test_versions_increase_with_every_change(client_for, rep):
    client = client_for(rep)
    for name in ("A", "B", "C"):
        assert client.post("/api/v1/accounts/", {"name": name}, format="json").status_code == 201
    versions = list(Change.objects.order_by("id").values_list("version", flat=True))
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
