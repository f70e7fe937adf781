"""Pull: initial sync, paging, deltas, echo suppression, revocation and back-fill."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from crm.models import Account
from server.access import scope_keys_for
from sync import pull as sync_pull
from sync.pull import CONTINUATION_BASE
from sync.schema import schema
from tests.factories import AccountFactory, SiteFactory, TagFactory, TierFactory

PULL = "/api/v1/sync/pull/"


def _pull(client: APIClient, since: int | None = None) -> dict[str, Any]:
    params = {"schema_version": 1}
    if since is not None:
        params["last_pulled_at"] = since
    response = client.get(PULL, params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any], table: str, kind: str) -> set[str]:
    items = body["changes"][table][kind]
    return {item if isinstance(item, str) else item["id"] for item in items}


def _create_account(client: APIClient, name: str) -> str:
    response = client.post("/api/v1/accounts/", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    account_id: str = response.json()["id"]
    return account_id


def test_initial_sync_sends_exactly_the_users_scope(client_for, rep, other_rep):
    # given accounts of two reps, with sites, and reference data
    tier = TierFactory.create()
    tag = TagFactory.create()
    mine = AccountFactory.create(owner=rep, tier=tier)
    mine.tags.set([tag])
    my_site = SiteFactory.create(account=mine, latitude=0.0, longitude=0.0)
    theirs = AccountFactory.create(owner=other_rep)
    SiteFactory.create(account=theirs)

    body = _pull(client_for(rep))

    assert body["has_more"] is False
    assert _ids(body, "accounts", "created") == {mine.id}
    assert _ids(body, "sites", "created") == {my_site.id}
    assert _ids(body, "customer_tiers", "created") == {tier.id}
    assert _ids(body, "tags", "created") == {tag.id}
    [account] = body["changes"]["accounts"]["created"]
    assert account["tag_ids"] == f'["{tag.id}"]'
    assert account["owner_id"] == rep.pk
    assert account["created_at"] == int(mine.created_at.timestamp() * 1000)
    [site] = body["changes"]["sites"]["created"]
    assert (site["account_id"], site["latitude"], site["longitude"]) == (mine.id, 0.0, 0.0)


def test_records_match_the_published_schema(client_for, sales_manager):
    AccountFactory.create()
    body = _pull(client_for(sales_manager))  # at schema version 1
    tables = schema(1)["tables"]
    assert set(body["changes"]) == set(tables)
    for table, spec in tables.items():
        expected = {"id"} | {column["name"] for column in spec["columns"]}
        for record in body["changes"][table]["created"]:
            assert set(record) == expected, table


def test_initial_sync_pages_by_record_count_and_misses_nothing(rep):
    # given 7 accounts with a site each: 14 records
    accounts = [AccountFactory.create(owner=rep) for _ in range(7)]
    for account in accounts:
        SiteFactory.create(account=account)
    keys = scope_keys_for(rep)

    # when pulling 4 records at a time, following the continuation tokens
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = sync_pull.pull(
            user=rep, device_id="d1", keys=keys, last_pulled_at=cursor, page_size=4
        )
        seen += [r["id"] for table in page.changes.values() for r in table["created"]]
        cursor = page.timestamp
        if not page.has_more:
            break

    # then every record arrived exactly once and the last cursor is a real version
    assert sorted(seen) == sorted(
        [a.id for a in accounts] + [s.id for a in accounts for s in a.sites.all()]
    )
    assert cursor is not None and cursor < CONTINUATION_BASE


def test_delta_sends_what_others_changed_but_not_the_devices_own_writes(client_for, rep, make_user):
    from server.enums import Role

    manager = make_user(Role.SALES_MANAGER)
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]

    # the rep's own device creates an account; a manager creates one for the rep
    own = _create_account(tablet, "Mine from the tablet")
    console = client_for(manager, device_id="console")
    response = console.post("/api/v1/accounts/", {"name": "Given", "owner": rep.pk}, format="json")
    given = response.json()["id"]

    body = _pull(tablet, cursor)

    assert _ids(body, "accounts", "created") == {given}
    assert own not in _ids(body, "accounts", "updated")
    assert body["timestamp"] > cursor


def test_reassigning_an_account_revokes_it_and_its_records(client_for, rep, other_rep, make_user):
    from server.enums import Role

    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep)
    site = SiteFactory.create(account=account)
    rep_tablet = client_for(rep, device_id="rep-tablet")
    other_tablet = client_for(other_rep, device_id="other-tablet")
    rep_cursor = _pull(rep_tablet)["timestamp"]
    other_cursor = _pull(other_tablet)["timestamp"]

    # when a manager gives the account to the other rep
    console = client_for(manager, device_id="console")
    moved = console.patch(f"/api/v1/accounts/{account.id}/", {"owner": other_rep.pk}, format="json")
    assert moved.status_code == 200

    # then the old owner's next pull deletes the account and its site, the new owner's brings them
    lost = _pull(rep_tablet, rep_cursor)
    gained = _pull(other_tablet, other_cursor)
    assert _ids(lost, "accounts", "deleted") == {account.id}
    assert _ids(lost, "sites", "deleted") == {site.id}
    assert _ids(gained, "accounts", "updated") | _ids(gained, "accounts", "created") == {account.id}
    assert _ids(gained, "sites", "updated") | _ids(gained, "sites", "created") == {site.id}
    # and no id is both sent and deleted
    for body in (lost, gained):
        for table in body["changes"].values():
            sent = {r["id"] for r in table["created"] + table["updated"]}
            assert not sent & set(table["deleted"])


def test_gaining_a_key_back_fills_and_losing_it_revokes(client_for, rep):
    from server.models import UserRole

    AccountFactory.create()  # owned by someone else
    tablet = client_for(rep, device_id="tablet")
    cursor = _pull(tablet)["timestamp"]
    assert Account.objects.count() == 1

    # when the rep becomes a sales manager too (gains the org key)
    UserRole.objects.create(user=rep, role="sales_manager")
    backfill = _pull(tablet, cursor)
    assert len(backfill["changes"]["accounts"]["created"]) == 1

    # and loses it again
    UserRole.objects.filter(user=rep, role="sales_manager").delete()
    revoked = _pull(tablet, backfill["timestamp"])
    assert len(revoked["changes"]["accounts"]["deleted"]) == 1


def test_an_unknown_cursor_gets_a_replacement_sync(client_for, rep):
    AccountFactory.create(owner=rep)
    body = _pull(client_for(rep), 123456)
    assert body["experimentalStrategy"] == "replacement"
    assert len(body["changes"]["accounts"]["created"]) == 1


def test_bad_pull_parameters_are_400(client_for, rep):
    client = client_for(rep)
    for params in (
        {"last_pulled_at": "yesterday"},
        {"last_pulled_at": str(2**53)},
        {"schema_version": "99"},
    ):
        response = client.get(PULL, params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid"


def test_pull_needs_a_device_token(rep):
    client = APIClient()
    client.force_authenticate(rep)
    response = client.get(PULL)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_device"


def test_gaining_a_key_back_fills_only_new_records_or_rebuilds_when_too_many(
    rep, other_rep, make_user
):
    from server.enums import Role
    from server.models import UserRole

    mine = AccountFactory.create(owner=rep)
    theirs = [AccountFactory.create(owner=other_rep) for _ in range(3)]
    keys = scope_keys_for(rep)
    first = sync_pull.pull(user=rep, device_id="d1", keys=keys, last_pulled_at=None)
    second = sync_pull.pull(user=rep, device_id="d2", keys=keys, last_pulled_at=None)

    # the rep is promoted: they now see every account
    UserRole.objects.create(user=rep, role=Role.SALES_MANAGER)
    rep = type(rep).objects.get(pk=rep.pk)
    wider = scope_keys_for(rep)
    assert wider > keys

    # a page large enough: a back-fill of the accounts the device did not hold, as created
    small = sync_pull.pull(user=rep, device_id="d1", keys=wider, last_pulled_at=first.timestamp)
    assert not small.replacement
    created = {r["id"] for r in small.changes["accounts"]["created"]}
    assert created == {a.id for a in theirs}
    assert mine.id not in created
    # a page smaller than the back-fill: a replacement sync, paged, with everything
    big = sync_pull.pull(
        user=rep, device_id="d2", keys=wider, last_pulled_at=second.timestamp, page_size=2
    )
    assert big.replacement and big.has_more


def test_sensitive_fields_never_reach_a_device(client_for, rep, sales_manager):
    AccountFactory.create(owner=rep, national_id="FR99887766", bank_account="FR76 3000")

    for user in (rep, sales_manager):
        [account] = _pull(client_for(user, device_id=f"d-{user.pk}"))["changes"]["accounts"][
            "created"
        ]
        assert "national_id" not in account and "bank_account" not in account
    columns = {c["name"] for c in schema()["tables"]["accounts"]["columns"]}
    assert not {"national_id", "bank_account"} & columns
