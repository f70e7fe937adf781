"""crm.services.interactions and crm.services.preferences: who may log and edit, consent, and
promises."""

from __future__ import annotations

import datetime as dt

import pytest

from crm import services
from crm.models import ContactPreference, Interaction, Promise
from crm.services.preferences import check_reachable
from server.errors import ApplicationError
from sync.models import Change
from tests.crm.assertions import table_counts
from tests.factories import AccountFactory, ContactFactory, InteractionFactory

DONE_AT = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


def make_promise(interaction: Interaction, **kwargs) -> Promise:
    values = {"description": "Send the quote", "due_date": dt.date(2025, 6, 1), **kwargs}
    return Promise.objects.create(interaction=interaction, account=interaction.account, **values)


# ---- who may log and edit ----------------------------------------------------------------------


def test_finance_may_not_log_interactions(finance, rep):
    account = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.interaction_create(actor=finance, account=account, kind="note", summary="x")

    assert (raised.value.code, raised.value.status) == ("permission_denied", 403)
    assert table_counts() == before


def test_author_without_edit_rights_edits_their_own_interaction(technician, rep):
    interaction = InteractionFactory.create(
        account=AccountFactory.create(owner=rep), author=technician, summary="Old"
    )

    services.interaction_update(actor=technician, interaction=interaction, summary="New")

    assert Interaction.objects.get(pk=interaction.pk).summary == "New"


def test_someone_elses_interaction_needs_edit_rights(technician, rep):
    interaction = InteractionFactory.create(
        account=AccountFactory.create(owner=rep), summary="Unchanged"
    )
    before = table_counts()

    with pytest.raises(ApplicationError) as update_error:
        services.interaction_update(actor=technician, interaction=interaction, summary="Changed")
    with pytest.raises(ApplicationError) as archive_error:
        services.interaction_archive(actor=technician, interaction=interaction)

    assert update_error.value.code == archive_error.value.code == "permission_denied"
    assert table_counts() == before
    stored = Interaction.objects.get(pk=interaction.pk)
    assert (stored.summary, stored.archived_at) == ("Unchanged", None)


def test_a_rep_edits_an_interaction_someone_else_logged_on_their_account(rep, dispatcher):
    interaction = InteractionFactory.create(
        account=AccountFactory.create(owner=rep), author=dispatcher
    )

    services.interaction_update(actor=rep, interaction=interaction, summary="Corrected")

    change = Change.objects.get(table="interactions")
    assert (change.actor_id, change.diff["summary"][1]) == (rep.pk, "Corrected")


# ---- consent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "channel"),
    [("call", "phone"), ("visit", "visit"), ("meeting", "visit"), ("email", "email")],
)
def test_each_kind_checks_its_channel(rep, kind, channel):
    account = AccountFactory.create(owner=rep)
    contact = ContactFactory.create(account=account)
    services.preference_set(
        actor=rep,
        account=account,
        contact=contact,
        channel=channel,
        opted_out=True,
        consent_source="x",
    )

    with pytest.raises(ApplicationError) as raised:
        check_reachable(account=account, contact=contact, kind=kind)

    assert (raised.value.code, raised.value.status, raised.value.extra) == (
        "opted_out",
        409,
        {"channel": channel},
    )


def test_notes_need_no_consent(rep):
    account = AccountFactory.create(owner=rep)
    for channel in ("phone", "visit", "email", "sms", "post"):
        services.preference_set(
            actor=rep,
            account=account,
            contact=None,
            channel=channel,
            opted_out=True,
            consent_source="x",
        )

    check_reachable(account=account, contact=None, kind="note")


def test_another_contacts_opt_out_does_not_block(rep):
    account = AccountFactory.create(owner=rep)
    opted_out, reachable = (
        ContactFactory.create(account=account),
        ContactFactory.create(account=account),
    )
    services.preference_set(
        actor=rep,
        account=account,
        contact=opted_out,
        channel="phone",
        opted_out=True,
        consent_source="x",
    )

    interaction = services.interaction_create(
        actor=rep, account=account, contact=reachable, kind="call", summary="Hello"
    )

    assert Interaction.objects.get().pk == interaction.pk


def test_preference_set_updates_in_place(rep):
    account = AccountFactory.create(owner=rep)
    first = services.preference_set(
        actor=rep,
        account=account,
        contact=None,
        channel="sms",
        opted_out=False,
        consent_source="form",
    )

    second = services.preference_set(
        actor=rep,
        account=account,
        contact=None,
        channel="sms",
        opted_out=True,
        consent_source="reply STOP",
    )

    assert second.pk == first.pk
    assert ContactPreference.objects.count() == 1
    assert [
        c.operation for c in Change.objects.filter(table="contact_preferences").order_by("version")
    ] == [
        "create",
        "update",
    ]


def test_preference_set_refuses_a_contact_of_another_account(rep):
    account = AccountFactory.create(owner=rep)
    elsewhere = ContactFactory.create(account=AccountFactory.create(owner=rep))
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.preference_set(
            actor=rep,
            account=account,
            contact=elsewhere,
            channel="sms",
            opted_out=True,
            consent_source="x",
        )

    assert (raised.value.code, raised.value.status) == ("not_found", 404)
    assert table_counts() == before


def test_preference_set_refuses_an_unknown_channel(rep):
    account = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.preference_set(
            actor=rep,
            account=account,
            contact=None,
            channel="fax",
            opted_out=True,
            consent_source="x",
        )

    assert (raised.value.code, list(raised.value.fields)) == ("invalid", ["channel"])
    assert table_counts() == before


# ---- promises --------------------------------------------------------------------------------


def test_done_keeps_the_first_completion_time(rep):
    promise = make_promise(
        InteractionFactory.create(account=AccountFactory.create(owner=rep)), done_at=DONE_AT
    )

    services.promise_update(actor=rep, promise=promise, done=True)

    assert Promise.objects.get(pk=promise.pk).done_at == DONE_AT
    assert not Change.objects.filter(table="promises").exists()  # nothing changed


def test_not_done_clears_the_completion_time(rep):
    promise = make_promise(
        InteractionFactory.create(account=AccountFactory.create(owner=rep)), done_at=DONE_AT
    )

    services.promise_update(actor=rep, promise=promise, done=False)

    assert Promise.objects.get(pk=promise.pk).done_at is None
    assert Change.objects.get(table="promises").diff["done_at"] == [DONE_AT.isoformat(), None]


def test_a_promise_needs_a_description(rep):
    promise = make_promise(InteractionFactory.create(account=AccountFactory.create(owner=rep)))
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.promise_update(actor=rep, promise=promise, description="  ")

    assert (raised.value.code, list(raised.value.fields)) == ("invalid", ["description"])
    assert table_counts() == before
    assert Promise.objects.get(pk=promise.pk).description == "Send the quote"


def test_finance_may_not_make_promises(finance, rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.promise_create(
            actor=finance, interaction=interaction, description="x", due_date=dt.date(2025, 6, 1)
        )

    assert raised.value.code == "permission_denied"
    assert table_counts() == before


def test_promises_belong_to_the_interactions_account(rep):
    interaction = InteractionFactory.create(account=AccountFactory.create(owner=rep))

    promise = services.promise_create(
        actor=rep, interaction=interaction, description="Call back", due_date=dt.date(2025, 6, 1)
    )

    assert Promise.objects.get(pk=promise.pk).account_id == interaction.account_id
    change = Change.objects.get(table="promises")
    assert change.scope_after == ["org", f"owner:{rep.pk}"]
