"""crm.services.accounts: who owns an account, what an update records."""

from __future__ import annotations

import datetime as dt

import pytest

from crm import services
from crm.models import Account
from server.enums import Role
from server.errors import ApplicationError
from sync.models import Change
from tests.crm.assertions import table_counts
from tests.factories import AccountFactory, TagFactory, TierFactory


def test_rep_owns_what_they_create(rep):
    account = services.account_create(actor=rep, name="Garage")

    assert Account.objects.get().owner_id == rep.pk
    change = Change.objects.get()
    assert (change.table, change.operation, change.record_id) == ("accounts", "create", account.id)
    assert (change.actor_id, change.device_id) == (rep.pk, "")  # no device outside requests
    assert change.request_id != ""


@pytest.mark.parametrize("role", ["dispatcher", "sales_manager", "service_manager", "admin_user"])
def test_back_office_creates_unowned_accounts(request, role):
    account = services.account_create(actor=request.getfixturevalue(role), name="Mairie")

    assert account.owner_id is None


def test_back_office_gives_an_account_to_a_rep(dispatcher, rep):
    account = services.account_create(actor=dispatcher, name="Mairie", owner=rep)

    assert Account.objects.get(pk=account.pk).owner_id == rep.pk


@pytest.mark.parametrize(
    ("actor", "owner"),
    [
        ("rep", {"owner": "other_rep"}),
        ("rep", {"owner": None}),
        ("technician", {}),
        ("finance", {}),
    ],
)
def test_create_refused_writes_nothing(request, db, actor, owner):
    kwargs = {key: name and request.getfixturevalue(name) for key, name in owner.items()}
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.account_create(actor=request.getfixturevalue(actor), name="Garage", **kwargs)

    assert (raised.value.code, raised.value.status) == ("permission_denied", 403)
    assert table_counts() == before


def test_an_inactive_owner_is_refused_even_by_the_back_office(dispatcher, make_user):
    gone = make_user(Role.SALES_REP, is_active=False)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.account_create(actor=dispatcher, name="Garage", owner=gone)

    assert (raised.value.code, raised.value.status, list(raised.value.fields)) == (
        "invalid",
        400,
        ["owner"],
    )
    assert table_counts() == before


def test_fields_outside_the_account_cannot_be_written(rep):
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.account_create(
            actor=rep, name="Garage", archived_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        )

    assert (raised.value.code, list(raised.value.fields)) == ("unknown_field", ["archived_at"])
    assert table_counts() == before


def test_update_records_every_changed_field(sales_manager, rep):
    # given
    tier, tag = TierFactory.create(), TagFactory.create()
    account = AccountFactory.create(owner=rep, name="Old", lifecycle_stage="prospect")
    old_updated_at = account.updated_at

    # when
    services.account_update(
        actor=sales_manager,
        account=account,
        name="New",
        lifecycle_stage="active",
        tier=tier,
        tags=[tag],
    )

    # then
    account.refresh_from_db()
    change = Change.objects.get()
    assert change.diff == {
        "name": ["Old", "New"],
        "lifecycle_stage": ["prospect", "active"],
        "tier": [None, tier.id],
        "tags": [[], [tag.id]],
        "updated_at": [old_updated_at.isoformat(), account.updated_at.isoformat()],
    }
    assert change.actor_id == sales_manager.pk


def test_rep_cannot_hand_an_account_to_someone_else(rep, other_rep):
    account = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.account_update(actor=rep, account=account, owner=other_rep)

    assert raised.value.code == "permission_denied"
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).owner_id == rep.pk


def test_rep_may_restate_themselves_as_owner(rep):
    account = AccountFactory.create(owner=rep)

    services.account_update(actor=rep, account=account, owner=rep, notes="Still mine")

    assert Account.objects.get(pk=account.pk).notes == "Still mine"


def test_archive_is_recorded_once(rep):
    account = AccountFactory.create(owner=rep)

    services.account_archive(actor=rep, account=account)
    services.account_archive(actor=rep, account=account)

    assert Account.objects.get(pk=account.pk).archived_at is not None
    assert Change.objects.filter(table="accounts", operation="update").count() == 1


def test_an_edit_that_changes_nothing_writes_nothing(rep):
    from crm.permissions import access_account

    account = AccountFactory.create(owner=rep, name="Same")
    updated_at = account.updated_at

    services.account_update(
        actor=rep, account=access_account(actor=rep, account_id=account.id), name="Same"
    )

    assert Change.objects.count() == 0
    assert Account.objects.get(pk=account.pk).updated_at == updated_at
