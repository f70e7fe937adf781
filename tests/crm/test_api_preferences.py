"""/api/v1/accounts/{id}/preferences/ (list) and .../preferences/{channel}/ (PUT): how an
account or one of its contacts may be reached, and the consent behind it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import ContactPreference
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, ContactFactory

CONSENT_AT = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC)


def listing(account_id: str) -> str:
    return f"/api/v1/accounts/{account_id}/preferences/"


def put_url(account_id: str, channel: str) -> str:
    return f"/api/v1/accounts/{account_id}/preferences/{channel}/"


def preference(account, channel: str, contact=None, **kwargs) -> ContactPreference:
    values = {"opted_out": False, "consent_at": CONSENT_AT, "consent_source": "web form", **kwargs}
    return ContactPreference.objects.create(
        account=account, contact=contact, channel=channel, **values
    )


# ---- list ------------------------------------------------------------------------------------


def test_list_shows_the_accounts_preferences_by_channel(client_for, rep):
    account = AccountFactory.create(owner=rep)
    sms = preference(account, "sms", opted_out=True, recorded_by=rep)
    email = preference(account, "email", frequency="monthly")
    preference(AccountFactory.create(owner=rep), "email")

    response = client_for(rep).get(listing(account.id))

    assert response.status_code == 200, response.content
    assert response.json() == [
        {
            "id": email.id,
            "account": account.id,
            "contact": None,
            "channel": "email",
            "frequency": "monthly",
            "opted_out": False,
            "consent_at": "2025-01-01T09:00:00Z",
            "consent_source": "web form",
            "recorded_by": None,
        },
        {
            "id": sms.id,
            "account": account.id,
            "contact": None,
            "channel": "sms",
            "frequency": "any",
            "opted_out": True,
            "consent_at": "2025-01-01T09:00:00Z",
            "consent_source": "web form",
            "recorded_by": rep.pk,
        },
    ]


def test_list_includes_contact_preferences(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    preference(account, "phone")
    preference(account, "phone", contact=contact, opted_out=True)
    preference(account, "email", contact=contact)

    rows = client_for(rep).get(listing(account.id)).json()

    assert sorted((r["contact"] or "", r["channel"], r["opted_out"]) for r in rows) == [
        ("", "phone", False),
        (contact.id, "email", False),
        (contact.id, "phone", True),
    ]


@pytest.mark.parametrize(
    ("role", "visible"),
    [("finance", True), ("dispatcher", True), ("technician", False), ("other_rep", False)],
)
def test_who_may_list_an_accounts_preferences(request, client_for, rep, role, visible):
    account = AccountFactory.create(owner=rep)
    email = preference(account, "email")

    response = client_for(request.getfixturevalue(role)).get(listing(account.id))

    if visible:
        assert result_ids(response) == [email.id]
    else:
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize("account_id", ["bad%20id!", "0000000000000000"])
def test_listing_preferences_of_a_missing_account_is_not_found(client_for, dispatcher, account_id):
    assert_error(client_for(dispatcher).get(listing(account_id)), 404, "not_found")


def test_preference_list_runs_a_constant_number_of_queries(
    client_for, rep, assert_constant_queries
):
    account = AccountFactory.create(owner=rep)

    def make_preferences(count: int) -> None:
        for _ in range(count):
            preference(
                account, "phone", contact=ContactFactory.create(account=account), recorded_by=rep
            )

    make_preferences(3)
    client = client_for(rep)

    queries = assert_constant_queries(
        client, listing(account.id), lambda: make_preferences(10), sizes=(3, 13)
    )

    assert queries == 4  # device with roles, territories, account, preferences


# ---- PUT -------------------------------------------------------------------------------------


def test_put_records_a_new_preference_with_server_consent_time(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()
    started = timezone.now()

    # when
    response = client.put(
        put_url(account.id, "phone"),
        {"opted_out": True, "frequency": "monthly", "consent_source": "asked on the phone"},
        format="json",
    )

    # then
    assert response.status_code == 200, response.content
    stored = ContactPreference.objects.get()
    assert started <= stored.consent_at <= timezone.now()
    assert response.json() == {
        "id": stored.id,
        "account": account.id,
        "contact": None,
        "channel": "phone",
        "frequency": "monthly",
        "opted_out": True,
        "consent_at": api_datetime(stored.consent_at),
        "consent_source": "asked on the phone",
        "recorded_by": rep.pk,
    }
    assert table_counts() == {**before, "ContactPreference": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="contact_preferences")
    assert (change.operation, change.record_id, change.actor_id) == ("create", stored.id, rep.pk)
    assert change.device_id == str(client.tokens["device"]["id"])
    assert change.request_id == response["X-Request-ID"]


def test_put_again_updates_the_same_preference(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    existing = preference(account, "email", opted_out=False, frequency="weekly")
    client = client_for(rep)

    # when
    response = client.put(
        put_url(account.id, "email"),
        {"opted_out": True, "consent_source": "unsubscribe link"},
        format="json",
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["id"] == existing.id
    stored = ContactPreference.objects.get()
    assert (stored.opted_out, stored.frequency, stored.consent_source, stored.recorded_by_id) == (
        True,
        "any",
        "unsubscribe link",
        rep.pk,
    )
    assert stored.consent_at > CONSENT_AT
    change = Change.objects.get(table="contact_preferences")
    assert change.operation == "update"
    assert change.diff["opted_out"] == [False, True]
    assert change.diff["frequency"] == ["weekly", "any"]
    assert change.diff["recorded_by"] == [None, rep.pk]


def test_contact_preference_is_separate_from_the_accounts(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    account_level = preference(account, "phone")
    client = client_for(rep)

    response = client.put(
        put_url(account.id, "phone"),
        {"opted_out": True, "consent_source": "call", "contact": contact.id},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["contact"] == contact.id
    assert response.json()["id"] != account_level.id
    assert ContactPreference.objects.count() == 2
    assert set(ContactPreference.objects.values_list("contact_id", "opted_out")) == {
        (None, False),
        (contact.id, True),
    }


def test_an_opt_out_recorded_through_the_api_blocks_the_call(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    client = client_for(rep)
    client.put(
        put_url(account.id, "phone"),
        {"opted_out": True, "consent_source": "call", "contact": contact.id},
        format="json",
    )
    before = table_counts()

    response = client.post(
        "/api/v1/interactions/",
        {"account": account.id, "contact": contact.id, "kind": "call", "summary": "Hi"},
        format="json",
    )

    assert_error(response, 409, "opted_out")
    assert table_counts() == before


@pytest.mark.parametrize("channel", ["fax", "PHONE", "phone%20"])
def test_put_on_an_unknown_channel_is_not_found(client_for, rep, channel):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.put(
        put_url(account.id, channel), {"opted_out": True, "consent_source": "x"}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("technician", 403, "permission_denied"),
        ("finance", 403, "permission_denied"),
        ("other_rep", 404, "not_found"),
    ],
)
def test_put_denied_writes_nothing(request, client_for, rep, role, status, code):
    account = AccountFactory.create(owner=rep)
    existing = preference(account, "phone", opted_out=False)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.put(
        put_url(account.id, "phone"), {"opted_out": True, "consent_source": "x"}, format="json"
    )

    assert_error(response, status, code)
    assert table_counts() == before
    stored = ContactPreference.objects.get(pk=existing.pk)
    assert (stored.opted_out, stored.consent_at) == (False, CONSENT_AT)


def test_put_for_a_contact_of_another_account_is_not_found(client_for, rep):
    account = AccountFactory.create(owner=rep)
    elsewhere = ContactFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(rep)
    before = table_counts()

    response = client.put(
        put_url(account.id, "phone"),
        {"opted_out": True, "consent_source": "x", "contact": elsewhere.id},
        format="json",
    )

    assert_error(response, 404, "not_found")
    assert table_counts() == before


def test_put_for_a_contact_of_another_reps_account_reads_as_missing(client_for, rep, other_rep):
    account = AccountFactory.create(owner=rep)
    foreign = ContactFactory.create(account=AccountFactory.create(owner=other_rep))
    client = client_for(rep)
    before = table_counts()

    response = client.put(
        put_url(account.id, "phone"),
        {"opted_out": True, "consent_source": "x", "contact": foreign.id},
        format="json",
    )

    assert_error(response, 400, "invalid", fields=["contact"])
    assert table_counts() == before


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"consent_source": "x"}, ["opted_out"]),
        ({"opted_out": True}, ["consent_source"]),
        ({"opted_out": "maybe", "consent_source": "x"}, ["opted_out"]),
        ({"opted_out": True, "consent_source": "x", "frequency": "hourly"}, ["frequency"]),
        (
            {"opted_out": True, "consent_source": "x", "consent_at": "2020-01-01T00:00:00Z"},
            ["consent_at"],
        ),
        ({"opted_out": True, "consent_source": "x", "channel": "sms"}, ["channel"]),
        ({"opted_out": True, "consent_source": "x" * 201}, ["consent_source"]),
    ],
)
def test_put_rejects_bad_input_and_writes_nothing(client_for, rep, payload, fields):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.put(put_url(account.id, "sms"), payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_put_rejects_malformed_json(client_for, rep):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.put(
        put_url(account.id, "sms"), "{'opted_out': true}", content_type="application/json"
    )

    assert_error(response, 400, "malformed_request")
    assert table_counts() == before
