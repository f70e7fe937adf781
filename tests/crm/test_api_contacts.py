"""/api/v1/contacts/: list, create, retrieve, patch and archive."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Contact
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, ContactFactory

LIST = "/api/v1/contacts/"
BACK_OFFICE = ["dispatcher", "sales_manager", "service_manager", "finance", "admin_user"]


def detail(contact_id: str) -> str:
    return f"/api/v1/contacts/{contact_id}/"


def archive(contact_id: str) -> str:
    return f"/api/v1/contacts/{contact_id}/archive/"


def at(day: int) -> dt.datetime:
    return dt.datetime(2025, 3, day, 9, 0, tzinfo=dt.UTC)


# ---- visibility ------------------------------------------------------------------------------


def test_rep_lists_only_contacts_of_their_accounts(client_for, rep, other_rep):
    first = ContactFactory.create(account=AccountFactory.create(owner=rep), created_at=at(1))
    second = ContactFactory.create(account=AccountFactory.create(owner=rep), created_at=at(2))
    ContactFactory.create(account=AccountFactory.create(owner=other_rep), created_at=at(3))
    ContactFactory.create(account=AccountFactory.create(owner=None), created_at=at(4))

    response = client_for(rep).get(LIST)

    assert result_ids(response) == [second.id, first.id]


@pytest.mark.parametrize("role", BACK_OFFICE)
def test_back_office_roles_list_every_contact(request, client_for, rep, other_rep, role):
    first = ContactFactory.create(account=AccountFactory.create(owner=rep), created_at=at(1))
    second = ContactFactory.create(account=AccountFactory.create(owner=other_rep), created_at=at(2))

    response = client_for(request.getfixturevalue(role)).get(LIST)

    assert result_ids(response) == [second.id, first.id]


def test_technician_sees_no_contacts(client_for, technician, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(technician)

    assert result_ids(client.get(LIST)) == []
    assert_error(client.get(detail(contact.id)), 404, "not_found")


def test_retrieving_another_reps_contact_is_not_found(client_for, rep, other_rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=other_rep))

    response = client_for(rep).get(detail(contact.id))

    error = assert_error(response, 404, "not_found", fields=[])
    assert error["message"] == f"No contact with id {contact.id!r}."


@pytest.mark.parametrize("bad_id", ["bad%20id!", "x" * 37, "0000000000000000"])
def test_invalid_or_missing_contact_id_is_not_found(client_for, dispatcher, bad_id):
    client = client_for(dispatcher)

    assert_error(client.get(detail(bad_id)), 404, "not_found")
    assert_error(client.patch(detail(bad_id), {"title": "x"}, format="json"), 404, "not_found")
    assert_error(client.post(archive(bad_id)), 404, "not_found")


def test_retrieve_shows_the_contact(client_for, rep):
    contact = ContactFactory.create(
        account=AccountFactory.create(owner=rep),
        first_name="Grace",
        last_name="Hopper",
        title="Admiral",
        roles=["decision_maker"],
        phone="+1 555 0100",
        email="grace@navy.example",
    )

    response = client_for(rep).get(detail(contact.id))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": contact.id,
        "account": contact.account_id,
        "first_name": "Grace",
        "last_name": "Hopper",
        "title": "Admiral",
        "roles": ["decision_maker"],
        "phone": "+1 555 0100",
        "email": "grace@navy.example",
        "created_at": api_datetime(contact.created_at),
        "updated_at": api_datetime(contact.updated_at),
        "archived_at": None,
    }


# ---- create ----------------------------------------------------------------------------------


def test_rep_creates_a_contact_and_the_change_is_recorded(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.post(
        LIST,
        {
            "account": account.id,
            "first_name": "Grace",
            "last_name": "Hopper",
            "roles": ["technical", "billing", "technical"],
            "email": "grace@navy.example",
        },
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    contact = Contact.objects.get()
    assert body["id"] == contact.id
    assert body["account"] == account.id
    assert body["roles"] == ["billing", "technical"]
    assert contact.roles == ["billing", "technical"]
    assert table_counts() == {**before, "Contact": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="contacts")
    assert (change.operation, change.record_id, change.actor_id) == ("create", contact.id, rep.pk)
    assert change.device_id == str(client.tokens["device"]["id"])
    assert change.request_id == response["X-Request-ID"]
    assert change.diff["last_name"] == [None, "Hopper"]
    assert change.scope_after == ["org", f"owner:{rep.pk}"]


def test_rep_creating_a_contact_on_another_reps_account_gets_not_found(client_for, rep, other_rep):
    foreign = AccountFactory.create(owner=other_rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, {"account": foreign.id, "last_name": "Sneaky"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [("finance", 403, "permission_denied"), ("technician", 403, "permission_denied")],
)
def test_roles_without_edit_cannot_create_contacts(request, client_for, rep, role, status, code):
    account = AccountFactory.create(owner=rep)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(LIST, {"account": account.id, "last_name": "Hopper"}, format="json")

    assert_error(response, status, code)
    assert table_counts() == before


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"last_name": ""}, ["last_name"]),
        ({"roles": ["billing", "ceo"]}, ["roles.1"]),
        ({"roles": "billing"}, ["roles"]),
        ({"roles": ["billing"] * 11}, ["roles"]),
        ({"email": "grace"}, ["email"]),
        ({"nickname": "amazing"}, ["nickname"]),
        ({"account": None}, ["account"]),
        ({"first_name": {"nested": True}}, ["first_name"]),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(client_for, rep, extra, fields):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST, {"account": account.id, "last_name": "Hopper", **extra}, format="json"
    )

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_create_rejects_malformed_json(client_for, rep):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, "[", content_type="application/json")

    assert_error(response, 400, "malformed_request")
    assert table_counts() == before


# ---- patch and archive -------------------------------------------------------------------------


def test_patch_updates_a_contact(client_for, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep), title="", roles=[])

    response = client_for(rep).patch(
        detail(contact.id), {"title": "CFO", "roles": ["billing"]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["roles"]) == ("CFO", ["billing"])
    change = Change.objects.get(table="contacts")
    assert change.operation == "update"
    assert {k: v for k, v in change.diff.items() if k != "updated_at"} == {
        "title": ["", "CFO"],
        "roles": [[], ["billing"]],
    }


def test_a_contact_cannot_be_moved_to_another_account(client_for, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep))
    other_account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(contact.id), {"account": other_account.id}, format="json")

    assert_error(response, 400, "unknown_field", fields=["account"])
    assert table_counts() == before
    assert Contact.objects.get(pk=contact.pk).account_id == contact.account_id


def test_patching_another_reps_contact_is_not_found(client_for, rep, other_rep):
    contact = ContactFactory.create(
        account=AccountFactory.create(owner=other_rep), title="Unchanged"
    )
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(contact.id), {"title": "Changed"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before
    assert Contact.objects.get(pk=contact.pk).title == "Unchanged"


def test_finance_cannot_patch_or_archive_a_contact(client_for, finance, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep), title="Unchanged")
    client = client_for(finance)
    before = table_counts()

    assert_error(
        client.patch(detail(contact.id), {"title": "Changed"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(client.post(archive(contact.id)), 403, "permission_denied")

    assert table_counts() == before
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.title, stored.archived_at) == ("Unchanged", None)


def test_patch_rejects_an_unknown_role(client_for, rep):
    contact = ContactFactory.create(account=AccountFactory.create(owner=rep), roles=["user"])
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(contact.id), {"roles": ["boss"]}, format="json")

    assert_error(response, 400, "invalid", fields=["roles.0"])
    assert table_counts() == before
    assert Contact.objects.get(pk=contact.pk).roles == ["user"]


def test_archived_contacts_are_hidden_unless_asked_for(client_for, rep):
    account = AccountFactory.create(owner=rep)
    live = ContactFactory.create(account=account, created_at=at(1))
    gone = ContactFactory.create(account=account, created_at=at(2))
    client = client_for(rep)

    response = client.post(archive(gone.id))

    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    assert result_ids(client.get(LIST)) == [live.id]
    assert result_ids(client.get(LIST, {"archived": "true"})) == [gone.id]
    assert result_ids(client.get(LIST, {"archived": "all"})) == [gone.id, live.id]


# ---- filters and query counts ------------------------------------------------------------------


def test_contact_filters(client_for, dispatcher):
    account = AccountFactory.create()
    grace = ContactFactory.create(
        account=account,
        first_name="Grace",
        last_name="Hopper",
        email="g@navy.example",
        created_at=at(1),
    )
    ada = ContactFactory.create(
        account=account,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@engine.example",
        created_at=at(2),
    )
    alan = ContactFactory.create(
        first_name="Alan", last_name="Turing", email="alan@navy.example", created_at=at(3)
    )
    client = client_for(dispatcher)

    assert result_ids(client.get(LIST, {"account": account.id})) == [ada.id, grace.id]
    assert result_ids(client.get(LIST, {"search": "hop"})) == [grace.id]
    assert result_ids(client.get(LIST, {"search": "ADA"})) == [ada.id]
    assert result_ids(client.get(LIST, {"search": "navy"})) == [alan.id, grace.id]
    assert result_ids(client.get(LIST, {"search": "navy", "account": account.id})) == [grace.id]
    assert result_ids(client.get(LIST, {"updated_since": "2999-01-01T00:00:00Z"})) == []


def test_invalid_contact_filters_are_refused(client_for, rep):
    client = client_for(rep)

    assert_error(client.get(LIST, {"archived": "1"}), 400, "invalid_filter", fields=["archived"])
    assert_error(client.get(LIST, {"cursor": "garbage"}), 400, "invalid_cursor")


def test_contact_list_runs_a_constant_number_of_queries(client_for, rep, assert_constant_queries):
    def make_contacts(count: int) -> None:
        for _ in range(count):
            ContactFactory.create(account=AccountFactory.create(owner=rep), roles=["billing"])

    make_contacts(3)
    client = client_for(rep)

    queries = assert_constant_queries(client, LIST, lambda: make_contacts(10), sizes=(3, 13))

    assert queries == 3  # device with roles, territories, contacts
