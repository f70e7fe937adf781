"""Push: applying offline changes, per-field merge, rejections, idempotency and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from crm import services
from crm.models import Account, Contact, Site
from mobile_api.models import Device
from server.enums import Role
from sync.models import Change, RejectedChange
from sync.push_payload import MAX_RECORDS
from sync.schema import schema
from tests.factories import AccountFactory, ContactFactory, SiteFactory
from tests.sync.test_pull import _pull

PUSH = "/api/v1/sync/push/"


def _push(
    client: APIClient, changes: dict[str, Any], since: int | None, *, key: str | None = None
) -> Any:
    return client.post(
        PUSH,
        json.dumps({"changes": changes, "lastPulledAt": since}),
        content_type="application/json",
        headers={"Idempotency-Key": key} if key else {},
    )


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _pulled(body: dict[str, Any], table: str) -> dict[str, dict[str, Any]]:
    bucket = body["changes"][table]
    return {r["id"]: r for r in (*bucket["created"], *bucket["updated"])}


def _account_record(account: Account, **changes: Any) -> dict[str, Any]:
    """A pushed account as WatermelonDB sends it: every column, plus ``_changed``."""
    record: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "kind": account.kind,
        "tier_id": account.tier_id,
        "lifecycle_stage": account.lifecycle_stage,
        "owner_id": account.owner_id,
        "tag_ids": "[]",
        "phone": account.phone,
        "email": account.email,
        "website": account.website,
        "notes": account.notes,
        "_status": "updated",
    }
    record.update(changes)
    record["_changed"] = ",".join(sorted(changes))
    return record


def _full(table: str, **values: Any) -> dict[str, Any]:
    """A created record as WatermelonDB sends it: every column, unset ones at its defaults."""
    defaults = {"string": "", "number": 0, "boolean": False}
    record = {
        column["name"]: None if column["isOptional"] else defaults[column["type"]]
        for column in schema()["tables"][table]["columns"]
    }
    return {**record, **values, "_status": "created", "_changed": ""}


def _snapshot_counts() -> tuple[int, int, int, int]:
    return (
        Change.objects.count(),
        Account.objects.count(),
        Contact.objects.count(),
        RejectedChange.objects.count(),
    )


# ---- applying ------------------------------------------------------------------------------


def test_records_created_offline_are_applied_with_their_ids_and_not_echoed(client_for, rep):
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    changes = {
        "accounts": {
            "created": [
                {"id": "acc0000000000001", "name": "Boulangerie", "_status": "created"},
            ]
        },
        "sites": {
            "created": [
                {
                    "id": "site000000000001",
                    "account_id": "acc0000000000001",
                    "name": "Shop",
                    "latitude": 45.76,
                    "longitude": 4.83,
                    "time_zone": "Europe/Paris",
                }
            ]
        },
        "contacts": {
            "created": [
                _full(
                    "contacts",
                    id="cont000000000001",
                    account_id="acc0000000000001",
                    first_name="Ana",
                    last_name="Roux",
                    roles='["billing"]',
                )
            ]
        },
    }

    body = _ok(_push(tablet, changes, cursor))

    assert body["experimentalRejectedIds"] == {}
    account = Account.objects.get(pk="acc0000000000001")
    assert (account.name, account.owner_id) == ("Boulangerie", rep.pk)
    site = Site.objects.get(pk="site000000000001")
    assert (site.account_id, site.is_primary, site.latitude) == (account.id, True, 45.76)
    assert Contact.objects.get(pk="cont000000000001").roles == ["billing"]
    change = Change.objects.get(table="accounts", record_id=account.id)
    device = Device.objects.get(user=rep, client_id="tablet")
    assert (change.operation, change.actor_id, change.device_id) == (
        "create",
        rep.pk,
        str(device.pk),
    )
    # the device already holds the contact exactly as the server does: it is not sent back;
    # the account and site are, since the server filled columns the device did not send
    echo = _pull(tablet, cursor)
    assert "cont000000000001" not in _pulled(echo, "contacts")
    assert _pulled(echo, "accounts")["acc0000000000001"]["owner_id"] == rep.pk
    assert _pulled(echo, "sites")["site000000000001"]["is_primary"] is True


def test_only_the_changed_columns_of_an_update_are_written(client_for, rep):
    account = AccountFactory.create(owner=rep, name="Old", phone="111")
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    # the tablet changed the phone; its (stale) name is sent but not listed in _changed
    record = _account_record(account, phone="222")
    record["name"] = "Stale name"

    _ok(_push(tablet, {"accounts": {"updated": [record]}}, cursor))

    account.refresh_from_db()
    assert (account.name, account.phone) == ("Old", "222")


def test_a_field_both_sides_changed_follows_the_tables_policy(client_for, rep, make_user):
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep, name="Acme", notes="v1", phone="1")
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    # the back office renames the account and rewrites the notes after the tablet's pull
    console = client_for(manager, device_id="console")
    response = console.patch(
        f"/api/v1/accounts/{account.id}/", {"name": "Acme SA", "notes": "office"}, format="json"
    )
    assert response.status_code == 200

    # the tablet, offline, changed the name, the notes and the phone
    record = _account_record(account, name="ACME", notes="from the field", phone="2")
    body = _ok(_push(tablet, {"accounts": {"updated": [record]}}, cursor))

    # name: server wins (master data); notes: the device wins; phone: only the device changed it
    assert body["experimentalRejectedIds"] == {}
    assert body["overruled"] == {"accounts": {account.id: ["name"]}}
    kept = RejectedChange.objects.get(record_id=account.id, code="overruled")
    assert kept.data == {"id": account.id, "name": "ACME"} and kept.resolved_at is not None
    account.refresh_from_db()
    assert (account.name, account.notes, account.phone) == ("Acme SA", "from the field", "2")
    # the merged record goes back to the tablet, which holds a name the server did not keep
    pulled = _pulled(_pull(tablet, cursor), "accounts")[account.id]
    assert (pulled["name"], pulled["notes"], pulled["phone"]) == ("Acme SA", "from the field", "2")


def test_a_conflict_watermelon_already_resolved_while_pulling_still_follows_the_policy(
    device_for, rep, make_user
):
    # WatermelonDB pulls before it pushes, and keeps its own values for the columns it changed:
    # the push then carries the newer cursor, but the edit was made on older data.
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep, name="Acme", notes="v1")
    tablet, phone = device_for(rep, device_id="tablet"), device_for(manager, device_id="console")
    tablet.sync()
    phone.sync()
    tablet.update("accounts", account.id, {"name": "From tablet", "notes": "tablet notes"})
    phone.update("accounts", account.id, {"name": "From console", "notes": "console notes"})
    phone.sync()

    outcome = tablet.sync()

    assert outcome.rejected == {}
    account.refresh_from_db()
    assert (account.name, account.notes) == ("From console", "tablet notes")
    # one more round and both devices hold the merged record
    tablet.sync()
    phone.sync()
    for device in (tablet, phone):
        held = device.get("accounts", account.id)
        assert held is not None and (held["name"], held["notes"]) == (
            "From console",
            "tablet notes",
        )


def test_an_edit_made_after_seeing_the_other_change_is_not_a_conflict(device_for, rep, make_user):
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep, name="Acme")
    tablet, console = device_for(rep, device_id="tablet"), device_for(manager, device_id="console")
    tablet.sync()
    console.sync()
    console.update("accounts", account.id, {"name": "From console"})
    console.sync()
    tablet.sync()  # the tablet now shows the console's name
    tablet.update("accounts", account.id, {"name": "Corrected on the tablet"})

    tablet.sync()

    account.refresh_from_db()
    assert account.name == "Corrected on the tablet"


def test_columns_the_server_fills_on_create_reach_the_device(device_for, rep):
    tablet = device_for(rep, device_id="tablet")
    tablet.sync()
    account_id = tablet.create("accounts", {"name": "New lead"})

    tablet.sync()
    tablet.sync()

    held = tablet.get("accounts", account_id)
    assert held is not None and held["owner_id"] == rep.pk and held["lifecycle_stage"] == "prospect"


def test_an_archived_record_leaves_every_device(device_for, client_for, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep))
    tablet, phone = device_for(rep, device_id="tablet"), device_for(rep, device_id="phone")
    tablet.sync()
    phone.sync()
    assert phone.get("contacts", contact.id) is not None

    tablet.delete("contacts", contact.id)
    tablet.sync()
    phone.sync()

    contact.refresh_from_db()
    assert contact.archived_at is not None
    assert phone.get("contacts", contact.id) is None
    assert tablet.records("contacts") == phone.records("contacts")


def test_a_side_effect_of_a_push_reaches_the_pushing_device(client_for, rep):
    account = AccountFactory.create(owner=rep)
    first = SiteFactory.create(account=account, is_primary=True)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    new_primary = {
        "id": "site000000000002",
        "account_id": account.id,
        "name": "New HQ",
        "is_primary": True,
        "time_zone": "Europe/Paris",
    }

    _ok(_push(tablet, {"sites": {"created": [new_primary]}}, cursor))

    # the server demoted the old primary site: the tablet did not do that, so it hears of it
    pulled = _pulled(_pull(tablet, cursor), "sites")
    assert pulled[first.id]["is_primary"] is False


def test_a_delete_archives_and_an_unknown_id_is_ignored(client_for, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep))
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]

    body = _ok(_push(tablet, {"contacts": {"deleted": [contact.id, "neverexisted0001"]}}, cursor))

    assert body["experimentalRejectedIds"] == {}
    contact.refresh_from_db()
    assert contact.archived_at is not None


def test_a_lost_answer_replayed_without_a_key_creates_nothing_twice(client_for, rep):
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    record = _full(
        "accounts",
        id="acc0000000000009",
        name="Once",
        owner_id=rep.pk,
        kind="company",
        lifecycle_stage="prospect",
    )
    changes = {"accounts": {"created": [record]}}

    _ok(_push(tablet, changes, cursor))
    changes_before = Change.objects.count()
    _ok(_push(tablet, changes, cursor))

    assert Account.objects.filter(name="Once").count() == 1
    assert Change.objects.count() == changes_before


# ---- rejections ------------------------------------------------------------------------------


def test_a_record_breaking_a_rule_is_rejected_alone_and_kept_for_review(client_for, rep):
    account = AccountFactory.create(owner=rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    bad = {
        "id": "cont000000000002",
        "account_id": account.id,
        "last_name": "Bad",
        "roles": '["astronaut"]',
    }
    good = {"id": "cont000000000003", "account_id": account.id, "last_name": "Good"}

    body = _ok(_push(tablet, {"contacts": {"created": [bad, good]}}, cursor))

    assert body["experimentalRejectedIds"] == {"contacts": ["cont000000000002"]}
    reason = body["rejections"]["contacts"]["cont000000000002"]
    assert reason["code"] == "invalid" and "roles" in reason["fields"]
    assert Contact.objects.filter(pk="cont000000000003").exists()
    assert not Contact.objects.filter(pk="cont000000000002").exists()
    stored = RejectedChange.objects.get(record_id="cont000000000002")
    device = Device.objects.get(user=rep, client_id="tablet")
    assert (stored.device_id, stored.user_id, stored.operation) == (
        str(device.pk),
        rep.pk,
        "create",
    )
    assert stored.data["roles"] == '["astronaut"]'

    # WatermelonDB pushes a rejected record again at each sync: one open rejection, counted
    _ok(_push(tablet, {"contacts": {"created": [bad]}}, cursor))
    stored.refresh_from_db()
    assert stored.attempts == 2 and stored.resolved_at is None
    # fixed on the device, it applies and the rejection is closed
    _ok(_push(tablet, {"contacts": {"created": [{**bad, "roles": '["technical"]'}]}}, cursor))
    stored.refresh_from_db()
    assert stored.resolved_at is not None


def test_a_record_depending_on_a_rejected_one_is_rejected_too(client_for, rep):
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    changes = {
        "accounts": {"created": [{"id": "acc0000000000002", "name": "", "_status": "created"}]},
        "sites": {
            "created": [
                {"id": "site000000000003", "account_id": "acc0000000000002", "name": "Depot"}
            ]
        },
    }

    body = _ok(_push(tablet, changes, cursor))

    assert body["experimentalRejectedIds"] == {
        "accounts": ["acc0000000000002"],
        "sites": ["site000000000003"],
    }
    assert body["rejections"]["sites"]["site000000000003"]["code"] == "rejected_dependency"


def test_a_technician_cannot_edit_accounts_from_a_device(client_for, technician, make_user):
    dispatcher = make_user(Role.DISPATCHER)
    account = AccountFactory.create(owner=dispatcher)
    # a technician sees nothing of this account: pushing to it is refused whole
    handheld = client_for(technician, device_id="handheld")
    cursor = _pull(handheld)["timestamp"]
    before = _snapshot_counts()

    response = _push(
        handheld, {"accounts": {"updated": [_account_record(account, name="Mine")]}}, cursor
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "out_of_scope"
    assert _snapshot_counts() == before
    account.refresh_from_db()
    assert account.name != "Mine"


def test_a_record_that_left_the_devices_scope_is_rejected_not_refused(
    client_for, rep, other_rep, make_user
):
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    # the account is given to another rep after the tablet's pull
    console = client_for(manager, device_id="console")
    assert (
        console.patch(
            f"/api/v1/accounts/{account.id}/", {"owner": other_rep.pk}, format="json"
        ).status_code
        == 200
    )
    edited = _account_record(account, phone="555")
    fresh = {"id": "acc0000000000003", "name": "Still mine"}

    body = _ok(_push(tablet, {"accounts": {"updated": [edited], "created": [fresh]}}, cursor))

    assert body["experimentalRejectedIds"] == {"accounts": [account.id]}
    assert body["rejections"]["accounts"][account.id]["code"] == "out_of_scope"
    assert RejectedChange.objects.get(record_id=account.id).data["phone"] == "555"
    assert Account.objects.filter(pk="acc0000000000003").exists()
    account.refresh_from_db()
    assert account.phone != "555"


# ---- idempotency ---------------------------------------------------------------------------


def test_a_replayed_idempotency_key_returns_the_first_answer_and_applies_nothing(client_for, rep):
    account = AccountFactory.create(owner=rep, phone="1")
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    changes = {
        "accounts": {"updated": [_account_record(account, phone="2")]},
        "contacts": {
            "created": [{"id": "cont000000000004", "account_id": account.id, "roles": "7"}]
        },
    }

    first = _ok(_push(tablet, changes, cursor, key="push-1"))
    changes_after_first = _snapshot_counts()
    # meanwhile someone else sets the phone again; the replay must not overwrite it
    Account.objects.filter(pk=account.pk).update(phone="3")
    replay = _ok(_push(tablet, changes, cursor, key="push-1"))

    assert replay == first
    assert first["experimentalRejectedIds"] == {"contacts": ["cont000000000004"]}
    assert _snapshot_counts() == changes_after_first
    account.refresh_from_db()
    assert account.phone == "3"


def test_an_idempotency_key_reused_for_another_push_is_refused(client_for, rep):
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    _ok(
        _push(
            tablet,
            {"accounts": {"created": [{"id": "acc0000000000004", "name": "A"}]}},
            cursor,
            key="k-1",
        )
    )
    before = _snapshot_counts()

    response = _push(
        tablet,
        {"accounts": {"created": [{"id": "acc0000000000005", "name": "B"}]}},
        cursor,
        key="k-1",
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert _snapshot_counts() == before


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"invoices": {"created": []}}, 400, "unknown_table"),
        (
            {"customer_tiers": {"created": [{"id": "tier000000000001", "code": "Z"}]}},
            403,
            "read_only_table",
        ),
        ({"accounts": []}, 400, "invalid_push"),
        ({"accounts": {"created": {}}}, 400, "invalid_push"),
        ({"accounts": {"upserted": []}}, 400, "invalid_push"),
        ({"accounts": {"created": ["acc"]}}, 400, "invalid_push"),
        (
            {"accounts": {"created": [{"id": "no spaces allowed", "name": "X"}]}},
            400,
            "invalid_push",
        ),
        ({"accounts": {"created": [{"id": "acc0000000000006", "name": 7}]}}, 400, "invalid_push"),
        (
            {"accounts": {"created": [{"id": "acc0000000000006", "colour": "red"}]}},
            400,
            "invalid_push",
        ),
        (
            {"accounts": {"created": [{"id": "acc0000000000006", "name": None}]}},
            400,
            "invalid_push",
        ),
        (
            {"accounts": {"created": [{"id": "acc0000000000006", "tag_ids": "[1"}]}},
            400,
            "invalid_push",
        ),
        (
            {"accounts": {"updated": [{"id": "acc0000000000006", "_changed": "shoe_size"}]}},
            400,
            "invalid_push",
        ),
        (
            {"accounts": {"updated": [{"id": "acc0000000000006", "_changed": "name"}]}},
            400,
            "invalid_push",
        ),
        (
            {
                "accounts": {
                    "created": [{"id": "acc0000000000006"}],
                    "deleted": ["acc0000000000006"],
                }
            },
            400,
            "invalid_push",
        ),
        (
            {"assets": {"created": [{"id": "asset00000000001", "install_date": "31/12/2020"}]}},
            400,
            "invalid_push",
        ),
        (
            {"interactions": {"created": [{"id": "int0000000000001", "occurred_at": "yesterday"}]}},
            400,
            "invalid_push",
        ),
        (
            {"interactions": {"created": [{"id": "int0000000000001", "occurred_at": True}]}},
            400,
            "invalid_push",
        ),
    ],
    ids=[
        "unknown-table",
        "read-only-table",
        "bucket-not-object",
        "created-not-list",
        "unknown-bucket",
        "record-not-object",
        "bad-id",
        "wrong-type",
        "unknown-column",
        "null-in-required-column",
        "bad-json-column",
        "unknown-changed-column",
        "changed-column-missing",
        "same-id-twice",
        "bad-date",
        "bad-time",
        "boolean-as-time",
    ],
)
def test_malformed_pushes_are_refused_whole(client_for, rep, changes, status, code):
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    # a valid record rides along: it must not be applied either
    changes = {"contacts": {"created": [{"id": "cont000000000005", "first_name": "X"}]}, **changes}
    before = _snapshot_counts()

    response = _push(tablet, changes, cursor)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert _snapshot_counts() == before


def test_references_to_records_outside_the_scope_are_refused_whole(client_for, rep, other_rep):
    theirs = AccountFactory.create(owner=other_rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    before = _snapshot_counts()

    response = _push(
        tablet,
        {
            "accounts": {"created": [{"id": "acc0000000000007", "name": "Fine"}]},
            "contacts": {"created": [{"id": "cont000000000006", "account_id": theirs.id}]},
        },
        cursor,
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "out_of_scope"
    assert _snapshot_counts() == before


def test_deleting_or_recreating_another_users_record_is_refused(client_for, rep, other_rep):
    theirs = ContactFactory.create(account=AccountFactory.create(owner=other_rep))
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    before = _snapshot_counts()

    deleted = _push(tablet, {"contacts": {"deleted": [theirs.id]}}, cursor)
    recreated = _push(
        tablet,
        {"contacts": {"created": [{"id": theirs.id, "first_name": "Hijack"}]}},
        cursor,
    )

    assert (deleted.status_code, recreated.status_code) == (403, 403)
    assert _snapshot_counts() == before
    theirs.refresh_from_db()
    assert theirs.archived_at is None and theirs.first_name != "Hijack"


@pytest.mark.parametrize(
    ("body", "query", "code"),
    [
        (b"{not json", "", "invalid_push"),
        (b"[]", "", "invalid_push"),
        (b'{"changes": {}, "lastPulledAt": "yesterday"}', "", "invalid_push"),
        (b'{"changes": {}, "lastPulledAt": 999999999}', "", "invalid_cursor"),
        (b'{"changes": {}, "lastPulledAt": 5}', "?last_pulled_at=6", "invalid_push"),
    ],
    ids=[
        "not-json",
        "not-object",
        "cursor-not-number",
        "cursor-from-the-future",
        "cursors-disagree",
    ],
)
def test_malformed_bodies_and_cursors_get_400(client_for, rep, body, query, code):
    tablet = client_for(rep, device_id="tablet")
    _pull(tablet)

    response = tablet.post(PUSH + query, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


def test_push_needs_a_device_and_a_sane_size(api_client, rep, client_for, settings):
    api_client.force_authenticate(rep)
    without_device = api_client.post(PUSH, {"changes": {}}, format="json")
    assert without_device.status_code == 400
    assert without_device.json()["error"]["code"] == "no_device"

    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    many = [{"id": f"acc{i:013d}", "name": "X"} for i in range(MAX_RECORDS + 1)]
    response = _push(tablet, {"accounts": {"created": many}}, cursor)
    assert response.status_code == 413
    assert not Account.objects.exists()


def test_a_record_created_under_an_account_that_left_is_rejected_not_refused(
    device_for, rep, other_rep, make_user
):
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=other_rep)
    tablet = device_for(other_rep, device_id="tablet")
    tablet.sync()
    services.account_update(actor=manager, account=Account.objects.get(pk=account.pk), owner=rep)
    contact_id = tablet.create(
        "contacts", {"account_id": account.id, "last_name": "Late", "roles": "[]"}
    )

    outcome = tablet.sync()

    assert outcome.rejected == {"contacts": [contact_id]}
    assert outcome.rejections["contacts"][contact_id]["code"] == "out_of_scope"
    assert not Contact.objects.filter(pk=contact_id).exists()


def test_a_device_whose_only_change_was_overruled_gets_the_server_value_back(device_for, rep):
    account = AccountFactory.create(owner=rep, name="Acme")
    tablet, phone = device_for(rep, device_id="tablet"), device_for(rep, device_id="phone")
    tablet.sync()
    phone.sync()
    tablet.update("accounts", account.id, {"name": "From tablet"})
    phone.update("accounts", account.id, {"name": "From phone"})
    tablet.sync()

    outcome = phone.sync()
    phone.sync()

    assert outcome.overruled == {"accounts": {account.id: ["name"]}}
    held = phone.get("accounts", account.id)
    assert held is not None and held["name"] == "From tablet"


def test_a_record_rejected_as_out_of_scope_is_rejected_again_not_refused(
    device_for, rep, other_rep, make_user
):
    # WatermelonDB pushes a rejected record at every sync: by then its account left the
    # scope the device held when that sync began, yet it is the same record, not an attack
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=other_rep)
    tablet = device_for(other_rep, device_id="tablet")
    tablet.sync()
    services.account_update(actor=manager, account=Account.objects.get(pk=account.pk), owner=rep)
    contact_id = tablet.create("contacts", {"account_id": account.id, "last_name": "Late"})
    tablet.sync()

    again = tablet.sync()

    assert again.rejected == {"contacts": [contact_id]}
    assert RejectedChange.objects.get(record_id=contact_id).attempts == 2


def test_rejections_are_listed_for_their_user_and_auditors_and_can_be_resolved(
    client_for, rep, other_rep, admin_user
):
    account = AccountFactory.create(owner=rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    bad = {"id": "cont000000000009", "account_id": account.id, "roles": '["pilot"]'}
    _ok(_push(tablet, {"contacts": {"created": [bad]}}, cursor))
    other = client_for(other_rep, device_id="other")
    auditor = client_for(admin_user, device_id="console")

    mine = tablet.get("/api/v1/sync/rejections/", {"open": "true"}).json()["results"]
    theirs = other.get("/api/v1/sync/rejections/").json()["results"]
    seen_by_auditor = auditor.get("/api/v1/sync/rejections/", {"user": rep.pk}).json()["results"]

    assert [(r["record_id"], r["data"]["roles"]) for r in mine] == [(bad["id"], '["pilot"]')]
    assert theirs == [] and len(seen_by_auditor) == 1
    # another user cannot close it; its own user can
    url = f"/api/v1/sync/rejections/{mine[0]['id']}/resolve/"
    assert other.post(url).status_code == 404
    assert RejectedChange.objects.get(pk=mine[0]["id"]).resolved_at is None
    resolved = tablet.post(url)
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] is not None
    assert tablet.get("/api/v1/sync/rejections/", {"open": "true"}).json()["results"] == []


def test_a_push_takes_its_versions_at_the_end_in_one_batch(client_for, rep):
    account = AccountFactory.create(owner=rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    good = [
        {"id": f"cont{i:012d}", "account_id": account.id, "last_name": f"N{i}"} for i in range(3)
    ]
    bad = {"id": "cont000000000099", "account_id": account.id, "roles": '["pilot"]'}

    body = _ok(_push(tablet, {"contacts": {"created": [good[0], bad, good[1], good[2]]}}, cursor))

    assert body["experimentalRejectedIds"] == {"contacts": [bad["id"]]}
    versions = sorted(Change.objects.filter(table="contacts").values_list("version", flat=True))
    # the rejected record's change was dropped with its savepoint; the rest are consecutive
    assert len(versions) == 3 and versions == list(range(versions[0], versions[0] + 3))
    assert not Change.objects.filter(record_id=bad["id"]).exists()


def test_a_push_looks_up_the_users_scope_once(client_for, rep):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = AccountFactory.create(owner=rep)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    created = [
        {"id": f"cont{i:012d}", "account_id": account.id, "last_name": f"N{i}"} for i in range(10)
    ]

    with CaptureQueriesContext(connection) as queries:
        _ok(_push(tablet, {"contacts": {"created": created}}, cursor))

    memberships = [q for q in queries.captured_queries if "territories_membership" in q["sql"]]
    # one for the request's scope, none per record
    assert len(memberships) == 1
    assert Contact.objects.filter(account=account).count() == 10
