"""/api/v1/interactions/ and promises: logging calls, visits and notes, consent, check-in and
check-out, and promises made to the customer."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import ContactPreference, Interaction, Promise
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, ContactFactory, InteractionFactory, SiteFactory

LIST = "/api/v1/interactions/"
BACK_OFFICE = ["dispatcher", "sales_manager", "service_manager", "finance", "admin_user"]


def detail(interaction_id: str) -> str:
    return f"/api/v1/interactions/{interaction_id}/"


def at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, 5, day, hour, 0, tzinfo=dt.UTC)


def opt_out(account, channel: str, contact=None) -> ContactPreference:
    return ContactPreference.objects.create(
        account=account,
        contact=contact,
        channel=channel,
        opted_out=True,
        consent_at=at(1),
        consent_source="phone call",
    )


def make_promise(interaction: Interaction, **kwargs) -> Promise:
    values = {"description": "Send the quote", "due_date": dt.date(2025, 6, 1), **kwargs}
    return Promise.objects.create(interaction=interaction, account=interaction.account, **values)


# ---- visibility ------------------------------------------------------------------------------


def test_rep_lists_only_interactions_on_their_accounts(client_for, rep, other_rep):
    mine = AccountFactory.create(owner=rep)
    earlier = InteractionFactory.create(account=mine, occurred_at=at(1))
    later = InteractionFactory.create(account=mine, occurred_at=at(2))
    InteractionFactory.create(account=AccountFactory.create(owner=other_rep), occurred_at=at(3))

    response = client_for(rep).get(LIST)

    assert result_ids(response) == [later.id, earlier.id]


def test_rep_sees_interactions_others_logged_on_their_accounts(client_for, rep, dispatcher):
    logged_by_dispatcher = InteractionFactory.create(
        account=AccountFactory.create(owner=rep), author=dispatcher
    )

    assert result_ids(client_for(rep).get(LIST)) == [logged_by_dispatcher.id]


@pytest.mark.parametrize("role", BACK_OFFICE)
def test_back_office_roles_list_every_interaction(request, client_for, rep, other_rep, role):
    first = InteractionFactory.create(account=AccountFactory.create(owner=rep), occurred_at=at(1))
    second = InteractionFactory.create(
        account=AccountFactory.create(owner=other_rep), occurred_at=at(2)
    )

    response = client_for(request.getfixturevalue(role)).get(LIST)

    assert result_ids(response) == [second.id, first.id]


def test_technician_sees_no_interactions(client_for, technician, rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(technician)

    assert result_ids(client.get(LIST)) == []
    assert_error(client.get(detail(interaction.id)), 404, "not_found")


def test_retrieving_another_reps_interaction_is_not_found(client_for, rep, other_rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=other_rep))

    response = client_for(rep).get(detail(interaction.id))

    error = assert_error(response, 404, "not_found", fields=[])
    assert error["message"] == f"No interaction with id {interaction.id!r}."


@pytest.mark.parametrize("bad_id", ["bad%20id!", "x" * 37, "0000000000000000"])
def test_invalid_or_missing_interaction_id_is_not_found(client_for, dispatcher, bad_id):
    client = client_for(dispatcher)

    assert_error(client.get(detail(bad_id)), 404, "not_found")
    assert_error(client.patch(detail(bad_id), {"summary": "x"}, format="json"), 404, "not_found")
    assert_error(client.post(f"{detail(bad_id)}archive/"), 404, "not_found")
    assert_error(
        client.post(
            f"{detail(bad_id)}promises/",
            {"description": "x", "due_date": "2025-06-01"},
            format="json",
        ),
        404,
        "not_found",
    )
    assert_error(
        client.patch(f"/api/v1/promises/{bad_id}/", {"done": True}, format="json"), 404, "not_found"
    )


def test_retrieve_shows_the_interaction_with_its_promises(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    site = SiteFactory.create(account=account)
    interaction = InteractionFactory.create(
        account=account,
        contact=contact,
        site=site,
        kind="visit",
        direction="outbound",
        occurred_at=at(3, 10),
        summary="Serviced the boiler.",
        check_in_at=at(3, 10),
        check_in_latitude=45.0,
        check_in_longitude=4.0,
        check_out_at=at(3, 11),
        check_out_latitude=45.0,
        check_out_longitude=4.0,
    )
    later = make_promise(interaction, description="Order the part", due_date=dt.date(2025, 6, 2))
    sooner = make_promise(interaction, description="Send the quote", due_date=dt.date(2025, 6, 1))

    response = client_for(rep).get(detail(interaction.id))

    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: v for k, v in body.items() if k != "promises"} == {
        "id": interaction.id,
        "account": account.id,
        "contact": contact.id,
        "site": site.id,
        "kind": "visit",
        "direction": "outbound",
        "author": rep.pk,
        "occurred_at": "2025-05-03T10:00:00Z",
        "summary": "Serviced the boiler.",
        "check_in_at": "2025-05-03T10:00:00Z",
        "check_in_latitude": 45.0,
        "check_in_longitude": 4.0,
        "check_out_at": "2025-05-03T11:00:00Z",
        "check_out_latitude": 45.0,
        "check_out_longitude": 4.0,
        "created_at": api_datetime(interaction.created_at),
        "updated_at": api_datetime(interaction.updated_at),
        "archived_at": None,
    }
    assert body["promises"] == [
        {
            "id": p.id,
            "interaction": interaction.id,
            "account": account.id,
            "description": p.description,
            "due_date": p.due_date.isoformat(),
            "done_at": None,
            "created_at": api_datetime(p.created_at),
        }
        for p in (sooner, later)
    ]


# ---- create ----------------------------------------------------------------------------------


def test_rep_logs_a_note_now(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()
    started = timezone.now()

    # when
    response = client.post(
        LIST, {"account": account.id, "kind": "note", "summary": "Likes blue."}, format="json"
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    interaction = Interaction.objects.get()
    assert body["id"] == interaction.id
    assert (body["author"], body["direction"], body["promises"]) == (rep.pk, "outbound", [])
    assert started <= interaction.occurred_at <= timezone.now()
    assert table_counts() == {**before, "Interaction": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="interactions")
    assert (change.operation, change.record_id, change.actor_id) == (
        "create",
        interaction.id,
        rep.pk,
    )
    assert change.device_id == str(client.tokens["device"]["id"])
    assert change.request_id == response["X-Request-ID"]
    assert change.diff["summary"] == [None, "Likes blue."]
    assert change.diff["author"] == [None, rep.pk]


def test_interaction_with_nested_promises_creates_them(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.post(
        LIST,
        {
            "account": account.id,
            "kind": "call",
            "summary": "Asked for a quote.",
            "occurred_at": "2025-05-04T08:30:00Z",
            "promises": [
                {"description": "Call back", "due_date": "2025-05-09"},
                {"description": "Send the quote", "due_date": "2025-05-06"},
            ],
        },
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["occurred_at"] == "2025-05-04T08:30:00Z"
    assert [(p["description"], p["due_date"], p["done_at"]) for p in body["promises"]] == [
        ("Send the quote", "2025-05-06", None),
        ("Call back", "2025-05-09", None),
    ]
    promises = list(Promise.objects.order_by("due_date"))
    assert [(p.interaction_id, p.account_id) for p in promises] == [(body["id"], account.id)] * 2
    assert table_counts() == {
        **before,
        "Interaction": 1,
        "Promise": 2,
        "Change": before["Change"] + 3,
    }
    changes = list(
        Change.objects.filter(table__in=["interactions", "promises"]).order_by("version")
    )
    assert [(c.table, c.operation) for c in changes] == [
        ("interactions", "create"),
        ("promises", "create"),
        ("promises", "create"),
    ]
    assert {c.request_id for c in changes} == {response["X-Request-ID"]}


def test_outbound_call_to_a_contact_who_opted_out_of_phone_is_refused(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    opt_out(account, "phone", contact=contact)
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.post(
        LIST,
        {
            "account": account.id,
            "contact": contact.id,
            "kind": "call",
            "summary": "Cold call",
            "promises": [{"description": "Call back", "due_date": "2025-05-09"}],
        },
        format="json",
    )

    # then
    error = assert_error(response, 409, "opted_out", fields=[])
    assert error["channel"] == "phone"
    assert error["message"] == "This contact opted out of phone contact."
    assert table_counts() == before


def test_outbound_call_to_an_account_that_opted_out_is_refused(client_for, rep):
    account = AccountFactory.create(owner=rep)
    opt_out(account, "phone")
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST, {"account": account.id, "kind": "call", "summary": "Cold call"}, format="json"
    )

    error = assert_error(response, 409, "opted_out")
    assert error["message"] == "This account opted out of phone contact."
    assert table_counts() == before


def test_meeting_with_a_contact_who_opted_out_of_visits_is_refused(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    opt_out(account, "visit", contact=contact)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {"account": account.id, "contact": contact.id, "kind": "meeting", "summary": "Lunch"},
        format="json",
    )

    assert assert_error(response, 409, "opted_out")["channel"] == "visit"
    assert table_counts() == before


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "call", "direction": "inbound"},
        {"kind": "note"},
        {"kind": "email"},
    ],
)
def test_what_a_phone_opt_out_still_allows(client_for, rep, payload):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    opt_out(account, "phone", contact=contact)

    response = client_for(rep).post(
        LIST,
        {"account": account.id, "contact": contact.id, "summary": "Fine", **payload},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Interaction.objects.get().kind == payload["kind"]


def test_a_withdrawn_opt_out_allows_the_call(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    ContactPreference.objects.create(
        account=account,
        contact=contact,
        channel="phone",
        opted_out=False,
        consent_at=at(1),
        consent_source="opted back in",
    )

    response = client_for(rep).post(
        LIST,
        {"account": account.id, "contact": contact.id, "kind": "call", "summary": "Hello"},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_visit_with_check_in_and_check_out(client_for, rep):
    account = AccountFactory.create(owner=rep)

    response = client_for(rep).post(
        LIST,
        {
            "account": account.id,
            "kind": "visit",
            "summary": "On site",
            "check_in_at": "2025-05-04T08:00:00Z",
            "check_in_latitude": 45.76,
            "check_in_longitude": 4.84,
            "check_out_at": "2025-05-04T08:00:00Z",
            "check_out_latitude": -90,
            "check_out_longitude": 180,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get()
    assert (
        interaction.check_in_at
        == interaction.check_out_at
        == dt.datetime(2025, 5, 4, 8, tzinfo=dt.UTC)
    )
    assert (interaction.check_out_latitude, interaction.check_out_longitude) == (-90, 180)


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"kind": "call", "check_in_at": "2025-05-04T08:00:00Z"}, ["check_in_at"]),
        (
            {
                "kind": "note",
                "check_in_at": "2025-05-04T08:00:00Z",
                "check_out_at": "2025-05-04T09:00:00Z",
            },
            ["check_in_at"],
        ),
        (
            {"check_in_at": "2025-05-04T09:00:00Z", "check_out_at": "2025-05-04T08:59:59Z"},
            ["check_out_at"],
        ),
        ({"check_out_at": "2025-05-04T09:00:00Z"}, ["check_out_at"]),
        ({"check_in_at": "2025-05-04T09:00:00Z", "check_in_latitude": 45.0}, ["check_in_latitude"]),
        ({"check_in_at": "2025-05-04T09:00:00Z", "check_in_longitude": 4.0}, ["check_in_latitude"]),
        (
            {
                "check_in_at": "2025-05-04T09:00:00Z",
                "check_in_latitude": 91,
                "check_in_longitude": 4.0,
            },
            ["check_in_latitude"],
        ),
        (
            {
                "check_in_at": "2025-05-04T09:00:00Z",
                "check_out_at": "2025-05-04T10:00:00Z",
                "check_out_latitude": 45.0,
                "check_out_longitude": -180.5,
            },
            ["check_out_latitude"],
        ),
        ({"check_in_at": "yesterday"}, ["check_in_at"]),
        ({"check_in_latitude": "north"}, ["check_in_latitude"]),
    ],
)
def test_check_in_and_check_out_rules(client_for, rep, extra, fields):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST, {"account": account.id, "kind": "visit", "summary": "On site", **extra}, format="json"
    )

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_contact_and_site_must_belong_to_the_account(client_for, rep):
    account = AccountFactory.create(owner=rep)
    other_account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=other_account)
    site = SiteFactory.create(account=other_account)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {
            "account": account.id,
            "contact": contact.id,
            "site": site.id,
            "kind": "note",
            "summary": "x",
        },
        format="json",
    )

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {
        "contact": ["Choose a contact of this account."],
        "site": ["Choose a site of this account."],
    }
    assert table_counts() == before


def test_a_contact_of_another_reps_account_reads_as_missing(client_for, rep, other_rep):
    account = AccountFactory.create(owner=rep)
    foreign_contact = ContactFactory.create(account=AccountFactory.create(owner=other_rep))
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {"account": account.id, "contact": foreign_contact.id, "kind": "note", "summary": "x"},
        format="json",
    )

    assert_error(response, 400, "invalid", fields=["contact"])
    assert table_counts() == before


def test_rep_logging_on_another_reps_account_gets_not_found(client_for, rep, other_rep):
    foreign = AccountFactory.create(owner=other_rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST, {"account": foreign.id, "kind": "note", "summary": "x"}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [("finance", 403, "permission_denied"), ("technician", 404, "not_found")],
)
def test_roles_that_cannot_log_on_the_account_write_nothing(
    request, client_for, rep, role, status, code
):
    account = AccountFactory.create(owner=rep)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(
        LIST, {"account": account.id, "kind": "note", "summary": "x"}, format="json"
    )

    assert_error(response, status, code)
    assert table_counts() == before


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"kind": "spaceship"}, ["kind"]),
        ({"direction": "sideways"}, ["direction"]),
        ({"summary": ""}, ["summary"]),
        ({"occurred_at": "last tuesday"}, ["occurred_at"]),
        ({"author": 1}, ["author"]),
        ({"promises": {"description": "x"}}, ["promises.non_field_errors"]),
        ({"promises": [{"description": "Call back"}]}, ["promises.0.due_date"]),
        (
            {"promises": [{"description": "x", "due_date": "2025-05-09", "done": True}]},
            ["promises.0.done"],
        ),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(client_for, rep, extra, fields):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST, {"account": account.id, "kind": "note", "summary": "Fine", **extra}, format="json"
    )

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


# ---- patch and archive -------------------------------------------------------------------------


def test_patch_updates_the_interaction(client_for, rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep), summary="Old")

    response = client_for(rep).patch(detail(interaction.id), {"summary": "New"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["summary"] == "New"
    change = Change.objects.get(table="interactions")
    assert change.operation == "update"
    assert sorted(change.diff) == ["summary", "updated_at"]
    assert change.diff["summary"] == ["Old", "New"]


def test_patch_refuses_promises(client_for, rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(rep)
    before = table_counts()

    response = client.patch(
        detail(interaction.id),
        {"promises": [{"description": "x", "due_date": "2025-05-09"}]},
        format="json",
    )

    assert_error(response, 400, "unknown_field", fields=["promises"])
    assert table_counts() == before


@pytest.mark.parametrize(
    ("payload", "code", "fields"),
    [
        ({"check_in_at": "2025-05-04T08:00:00Z"}, "invalid", ["check_in_at"]),
        ({"account": "0000000000000000"}, "unknown_field", ["account"]),
        ({"author": 1}, "invalid", ["author"]),
    ],
)
def test_patch_rejects_bad_input_and_writes_nothing(client_for, rep, payload, code, fields):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep), kind="note")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(interaction.id), payload, format="json")

    assert_error(response, 400, code, fields=fields)
    assert table_counts() == before


def test_patching_a_note_into_a_call_to_an_opted_out_contact_is_refused(client_for, rep):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    opt_out(account, "phone", contact=contact)
    interaction = InteractionFactory.create(account=account, contact=contact, kind="note")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(interaction.id), {"kind": "call"}, format="json")

    assert_error(response, 409, "opted_out")
    assert table_counts() == before


def test_patching_another_reps_interaction_is_not_found(client_for, rep, other_rep):
    interaction = InteractionFactory.create(
        account=AccountFactory.create(owner=other_rep), summary="Unchanged"
    )
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(interaction.id), {"summary": "Changed"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before
    assert Interaction.objects.get(pk=interaction.pk).summary == "Unchanged"


def test_finance_cannot_patch_or_archive_an_interaction(client_for, finance, rep):
    interaction = InteractionFactory.create(
        account=AccountFactory.create(owner=rep), summary="Unchanged"
    )
    client = client_for(finance)
    before = table_counts()

    assert_error(
        client.patch(detail(interaction.id), {"summary": "x"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(client.post(f"{detail(interaction.id)}archive/"), 403, "permission_denied")

    assert table_counts() == before
    stored = Interaction.objects.get(pk=interaction.pk)
    assert (stored.summary, stored.archived_at) == ("Unchanged", None)


def test_archived_interactions_are_hidden_unless_asked_for(client_for, rep):
    account = AccountFactory.create(owner=rep)
    live = InteractionFactory.create(account=account, occurred_at=at(1))
    gone = InteractionFactory.create(account=account, occurred_at=at(2))
    client = client_for(rep)

    response = client.post(f"{detail(gone.id)}archive/")

    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    assert result_ids(client.get(LIST)) == [live.id]
    assert result_ids(client.get(LIST, {"archived": "true"})) == [gone.id]
    assert result_ids(client.get(LIST, {"archived": "all"})) == [gone.id, live.id]


# ---- promises --------------------------------------------------------------------------------


def test_add_a_promise_to_an_interaction(client_for, rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        f"{detail(interaction.id)}promises/",
        {"description": "Send the brochure", "due_date": "2025-06-01"},
        format="json",
    )

    assert response.status_code == 201, response.content
    promise = Promise.objects.get()
    assert response.json() == {
        "id": promise.id,
        "interaction": interaction.id,
        "account": interaction.account_id,
        "description": "Send the brochure",
        "due_date": "2025-06-01",
        "done_at": None,
        "created_at": api_datetime(promise.created_at),
    }
    assert table_counts() == {**before, "Promise": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="promises")
    assert (change.operation, change.actor_id) == ("create", rep.pk)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"description": "x"}, ["due_date"]),
        ({"description": "", "due_date": "2025-06-01"}, ["description"]),
        ({"description": "x", "due_date": "June"}, ["due_date"]),
        (
            {"description": "x", "due_date": "2025-06-01", "done_at": "2025-06-01T00:00:00Z"},
            ["done_at"],
        ),
    ],
)
def test_promise_create_rejects_bad_input(client_for, rep, payload, fields):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(rep)
    before = table_counts()

    response = client.post(f"{detail(interaction.id)}promises/", payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("other_rep", 404, "not_found"),
        ("finance", 403, "permission_denied"),
        ("technician", 404, "not_found"),
    ],
)
def test_promise_create_denied_writes_nothing(request, client_for, rep, role, status, code):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(
        f"{detail(interaction.id)}promises/",
        {"description": "x", "due_date": "2025-06-01"},
        format="json",
    )

    assert_error(response, status, code)
    assert table_counts() == before


def test_marking_a_promise_done_and_not_done(client_for, rep):
    # given
    promise = make_promise(InteractionFactory.create(account=AccountFactory.create(owner=rep)))
    client = client_for(rep)
    url = f"/api/v1/promises/{promise.id}/"
    started = timezone.now()

    # when: done
    done = client.patch(url, {"done": True}, format="json")

    # then
    assert done.status_code == 200, done.content
    promise.refresh_from_db()
    assert promise.done_at is not None
    assert started <= promise.done_at <= timezone.now()
    assert done.json()["done_at"] == api_datetime(promise.done_at)
    first_done_at = promise.done_at

    # when: done again, the first time it was done stays
    again = client.patch(url, {"done": True}, format="json")

    # then
    assert again.json()["done_at"] == api_datetime(first_done_at)
    promise.refresh_from_db()
    assert promise.done_at == first_done_at

    # when: not done after all
    undone = client.patch(url, {"done": False}, format="json")

    # then
    assert undone.status_code == 200, undone.content
    assert undone.json()["done_at"] is None
    promise.refresh_from_db()
    assert promise.done_at is None
    changes = list(Change.objects.filter(table="promises").order_by("version"))
    assert [c.diff["done_at"] for c in changes if "done_at" in c.diff] == [
        [None, first_done_at.isoformat()],
        [first_done_at.isoformat(), None],
    ]
    # "done again" changed nothing, so it recorded nothing
    assert [c.operation for c in changes] == ["update", "update"]


def test_promise_patch_changes_the_due_date(client_for, rep):
    promise = make_promise(InteractionFactory.create(account=AccountFactory.create(owner=rep)))

    response = client_for(rep).patch(
        f"/api/v1/promises/{promise.id}/", {"due_date": "2025-07-01"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert Promise.objects.get(pk=promise.pk).due_date == dt.date(2025, 7, 1)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"description": "   "}, ["description"]),
        ({"done": "sometimes"}, ["done"]),
        ({"done_at": "2025-06-01T00:00:00Z"}, ["done_at"]),
        ({"interaction": "0000000000000000"}, ["interaction"]),
    ],
)
def test_promise_patch_rejects_bad_input(client_for, rep, payload, fields):
    promise = make_promise(InteractionFactory.create(account=AccountFactory.create(owner=rep)))
    client = client_for(rep)
    before = table_counts()

    response = client.patch(f"/api/v1/promises/{promise.id}/", payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [("other_rep", 404, "not_found"), ("finance", 403, "permission_denied")],
)
def test_promise_patch_denied_writes_nothing(request, client_for, rep, role, status, code):
    promise = make_promise(InteractionFactory.create(account=AccountFactory.create(owner=rep)))
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.patch(f"/api/v1/promises/{promise.id}/", {"done": True}, format="json")

    assert_error(response, status, code)
    assert table_counts() == before
    assert Promise.objects.get(pk=promise.pk).done_at is None


# ---- filters and query counts ------------------------------------------------------------------


def test_interaction_filters(client_for, dispatcher, rep):
    # given
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    call = InteractionFactory.create(
        account=account, contact=contact, kind="call", occurred_at=at(1)
    )
    note = InteractionFactory.create(account=account, kind="note", occurred_at=at(2))
    visit = InteractionFactory.create(kind="visit", author=dispatcher, occurred_at=at(3))
    client = client_for(dispatcher)

    # then
    assert result_ids(client.get(LIST, {"kind": "call"})) == [call.id]
    assert result_ids(client.get(LIST, {"kind": "meeting"})) == []
    assert result_ids(client.get(LIST, {"account": account.id})) == [note.id, call.id]
    assert result_ids(client.get(LIST, {"contact": contact.id})) == [call.id]
    assert result_ids(client.get(LIST, {"author": dispatcher.pk})) == [visit.id]
    assert result_ids(client.get(LIST, {"author": rep.pk})) == [note.id, call.id]
    assert result_ids(client.get(LIST, {"occurred_after": "2025-05-02T09:00:00Z"})) == [
        visit.id,
        note.id,
    ]
    assert result_ids(client.get(LIST, {"occurred_before": "2025-05-02T09:00:00Z"})) == [call.id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "spaceship"}, "kind"),
        ({"author": "me"}, "author"),
        ({"occurred_after": "soon"}, "occurred_after"),
    ],
)
def test_invalid_interaction_filters_are_refused(client_for, rep, query, field):
    assert_error(client_for(rep).get(LIST, query), 400, "invalid_filter", fields=[field])


def test_interactions_page_by_occurrence(client_for, rep):
    account = AccountFactory.create(owner=rep)
    interactions = [
        InteractionFactory.create(account=account, occurred_at=at(day)) for day in range(1, 6)
    ]
    client = client_for(rep)

    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=2"
    while url is not None:
        body = client.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]

    assert seen == [i.id for i in reversed(interactions)]
    assert_error(client.get(LIST, {"cursor": "garbage"}), 400, "invalid_cursor")


def test_interaction_list_runs_a_constant_number_of_queries(
    client_for, rep, assert_constant_queries
):
    account = AccountFactory.create(owner=rep)

    def make_interactions(count: int) -> None:
        for _ in range(count):
            interaction = InteractionFactory.create(account=account)
            make_promise(interaction)
            make_promise(interaction, done_at=at(1))

    make_interactions(3)
    client = client_for(rep)

    queries = assert_constant_queries(client, LIST, lambda: make_interactions(10), sizes=(3, 13))

    assert queries == 4  # device with roles, territories, interactions, promises
    assert all(len(row["promises"]) == 2 for row in client.get(LIST).json()["results"])
