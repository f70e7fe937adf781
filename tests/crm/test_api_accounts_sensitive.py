"""``national_id`` and ``bank_account``: masked for roles without crm.view_sensitive, shown in
full to the others, and never written to the change log."""

from __future__ import annotations

import json

import pytest

from sync.models import Change
from tests.factories import AccountFactory

NATIONAL_ID = "FR123456789"  # 11 characters
BANK_ACCOUNT = "FR7630006000011234567890189"
SHORT = "12345678"  # 8 characters: nothing of it is shown

MASKED = {"national_id": "••••6789", "bank_account": "••••0189"}
IN_FULL = {"national_id": NATIONAL_ID, "bank_account": BANK_ACCOUNT}


def sensitive(row: dict[str, object]) -> dict[str, object]:
    return {"national_id": row["national_id"], "bank_account": row["bank_account"]}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rep", MASKED),
        ("dispatcher", MASKED),
        ("service_manager", MASKED),
        ("finance", IN_FULL),
        ("sales_manager", IN_FULL),
        ("admin_user", IN_FULL),
    ],
)
def test_sensitive_fields_by_role_in_list_and_detail(request, client_for, rep, role, expected):
    account = AccountFactory.create(owner=rep, national_id=NATIONAL_ID, bank_account=BANK_ACCOUNT)
    client = client_for(request.getfixturevalue(role))

    listed = client.get("/api/v1/accounts/").json()["results"]
    shown = client.get(f"/api/v1/accounts/{account.id}/").json()

    assert [sensitive(row) for row in listed] == [expected]
    assert sensitive(shown) == expected


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("", ""),
        ("1234", "••••"),
        (SHORT, "••••"),
        ("123456789", "••••6789"),
    ],
)
def test_short_values_are_masked_entirely(client_for, rep, value, masked):
    account = AccountFactory.create(owner=rep, national_id=value, bank_account=value)

    shown = client_for(rep).get(f"/api/v1/accounts/{account.id}/").json()

    assert sensitive(shown) == {"national_id": masked, "bank_account": masked}


def test_write_responses_are_masked_for_the_writer(client_for, rep):
    client = client_for(rep)

    created = client.post(
        "/api/v1/accounts/",
        {"name": "Garage", "national_id": NATIONAL_ID, "bank_account": BANK_ACCOUNT},
        format="json",
    )
    patched = client.patch(
        f"/api/v1/accounts/{created.json()['id']}/",
        {"bank_account": "DE89370400440532013000"},
        format="json",
    )

    assert created.status_code == 201, created.content
    assert sensitive(created.json()) == MASKED
    assert patched.status_code == 200, patched.content
    assert sensitive(patched.json()) == {"national_id": "••••6789", "bank_account": "••••3000"}


def test_change_log_redacts_sensitive_values(client_for, rep):
    # given
    client = client_for(rep)

    # when: created with both values, then one changed and one cleared
    created = client.post(
        "/api/v1/accounts/",
        {"name": "Garage", "national_id": NATIONAL_ID, "bank_account": BANK_ACCOUNT},
        format="json",
    )
    account_id = created.json()["id"]
    client.patch(
        f"/api/v1/accounts/{account_id}/",
        {"national_id": "FR999999999", "bank_account": ""},
        format="json",
    )

    # then
    create = Change.objects.get(table="accounts", operation="create")
    update = Change.objects.get(table="accounts", operation="update")
    assert create.diff["national_id"] == [None, "[redacted]"]
    assert create.diff["bank_account"] == [None, "[redacted]"]
    assert update.diff["national_id"] == ["[redacted]", "[redacted]"]
    assert update.diff["bank_account"] == ["[redacted]", ""]
    assert sorted(update.diff) == ["bank_account", "national_id", "updated_at"]
    logged = json.dumps([create.diff, update.diff])
    for value in (NATIONAL_ID, BANK_ACCOUNT, "FR999999999"):
        assert value not in logged


def test_unchanged_sensitive_fields_stay_out_of_the_diff(client_for, rep):
    account = AccountFactory.create(owner=rep, national_id=NATIONAL_ID, bank_account=BANK_ACCOUNT)

    client_for(rep).patch(f"/api/v1/accounts/{account.id}/", {"name": "Renamed"}, format="json")

    assert sorted(Change.objects.get(table="accounts").diff) == ["name", "updated_at"]
