"""/api/v1/sites/: list, create, retrieve, patch and archive; one primary site per account."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Site
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, AssetFactory, SiteFactory

LIST = "/api/v1/sites/"
BACK_OFFICE = ["dispatcher", "sales_manager", "service_manager", "finance", "admin_user"]


def detail(site_id: str) -> str:
    return f"/api/v1/sites/{site_id}/"


def archive(site_id: str) -> str:
    return f"/api/v1/sites/{site_id}/archive/"


def at(day: int) -> dt.datetime:
    return dt.datetime(2025, 2, day, 9, 0, tzinfo=dt.UTC)


# ---- visibility ------------------------------------------------------------------------------


def test_rep_lists_only_sites_of_their_accounts(client_for, rep, other_rep):
    mine = AccountFactory.create(owner=rep)
    first = SiteFactory.create(account=mine, created_at=at(1))
    second = SiteFactory.create(account=AccountFactory.create(owner=rep), created_at=at(2))
    SiteFactory.create(account=AccountFactory.create(owner=other_rep), created_at=at(3))

    response = client_for(rep).get(LIST)

    assert result_ids(response) == [second.id, first.id]


@pytest.mark.parametrize("role", BACK_OFFICE)
def test_back_office_roles_list_every_site(request, client_for, rep, other_rep, role):
    first = SiteFactory.create(account=AccountFactory.create(owner=rep), created_at=at(1))
    second = SiteFactory.create(account=AccountFactory.create(owner=other_rep), created_at=at(2))

    response = client_for(request.getfixturevalue(role)).get(LIST)

    assert result_ids(response) == [second.id, first.id]


def test_technician_sees_no_sites(client_for, technician, rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    client = client_for(technician)

    assert result_ids(client.get(LIST)) == []
    assert_error(client.get(detail(site.id)), 404, "not_found")


def test_retrieving_another_reps_site_is_not_found(client_for, rep, other_rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=other_rep))

    response = client_for(rep).get(detail(site.id))

    error = assert_error(response, 404, "not_found", fields=[])
    assert error["message"] == f"No site with id {site.id!r}."


@pytest.mark.parametrize("bad_id", ["bad%20id!", "x" * 37, "0000000000000000"])
def test_invalid_or_missing_site_id_is_not_found(client_for, dispatcher, bad_id):
    client = client_for(dispatcher)

    assert_error(client.get(detail(bad_id)), 404, "not_found")
    assert_error(client.patch(detail(bad_id), {"name": "x"}, format="json"), 404, "not_found")
    assert_error(client.post(archive(bad_id)), 404, "not_found")


def test_retrieve_shows_the_site(client_for, rep):
    site = SiteFactory.create(
        account=AccountFactory.create(owner=rep),
        name="Warehouse",
        is_primary=True,
        street="1 rue de la Paix",
        city="Lyon",
        postal_code="69001",
        region="Rhône",
        country="FR",
        latitude=45.75,
        longitude=4.85,
        time_zone="Europe/Paris",
        access_notes="Ring twice.",
    )

    response = client_for(rep).get(detail(site.id))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": site.id,
        "account": site.account_id,
        "name": "Warehouse",
        "is_primary": True,
        "street": "1 rue de la Paix",
        "city": "Lyon",
        "postal_code": "69001",
        "region": "Rhône",
        "country": "FR",
        "latitude": 45.75,
        "longitude": 4.85,
        "time_zone": "Europe/Paris",
        "access_notes": "Ring twice.",
        "created_at": api_datetime(site.created_at),
        "updated_at": api_datetime(site.updated_at),
        "archived_at": None,
    }


# ---- create and the primary site -----------------------------------------------------------------


def test_first_site_of_an_account_becomes_primary(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    # when
    first = client.post(LIST, {"account": account.id, "name": "Head office"}, format="json")
    second = client.post(LIST, {"account": account.id, "name": "Depot"}, format="json")

    # then
    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert (first.json()["is_primary"], second.json()["is_primary"]) == (True, False)
    assert first.json()["account"] == account.id
    assert first.json()["time_zone"] == "UTC"
    assert first.json()["latitude"] is None
    assert table_counts() == {**before, "Site": before["Site"] + 2, "Change": before["Change"] + 2}
    changes = list(Change.objects.filter(table="sites").order_by("version"))
    assert [(c.operation, c.record_id, c.actor_id) for c in changes] == [
        ("create", first.json()["id"], rep.pk),
        ("create", second.json()["id"], rep.pk),
    ]
    assert changes[0].diff["is_primary"] == [None, True]
    assert changes[0].device_id == str(client.tokens["device"]["id"])


def test_first_site_stays_secondary_when_asked(client_for, rep):
    account = AccountFactory.create(owner=rep)

    response = client_for(rep).post(
        LIST, {"account": account.id, "name": "Depot", "is_primary": False}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["is_primary"] is False


def test_creating_a_primary_site_demotes_the_previous_one(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    old = SiteFactory.create(account=account, is_primary=True)
    client = client_for(rep)
    versions_before = Change.objects.count()

    # when
    response = client.post(
        LIST, {"account": account.id, "name": "New HQ", "is_primary": True}, format="json"
    )

    # then
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]
    old.refresh_from_db()
    assert old.is_primary is False
    assert list(
        Site.objects.filter(account=account, is_primary=True).values_list("id", flat=True)
    ) == [new_id]
    changes = list(Change.objects.filter(table="sites").order_by("version"))
    assert Change.objects.count() == versions_before + 2
    assert [(c.operation, c.record_id) for c in changes] == [("update", old.id), ("create", new_id)]
    assert changes[0].diff["is_primary"] == [True, False]
    assert sorted(changes[0].diff) == ["is_primary", "updated_at"]
    assert changes[0].actor_id == changes[1].actor_id == rep.pk
    assert changes[0].request_id == changes[1].request_id == response["X-Request-ID"]


def test_making_another_site_primary_demotes_the_previous_one(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep)
    old = SiteFactory.create(account=account, is_primary=True)
    other = SiteFactory.create(account=account, is_primary=False)
    elsewhere = SiteFactory.create(account=AccountFactory.create(owner=rep), is_primary=True)

    # when
    response = client_for(rep).patch(detail(other.id), {"is_primary": True}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["is_primary"] is True
    assert dict(Site.objects.values_list("id", "is_primary")) == {
        old.id: False,
        other.id: True,
        elsewhere.id: True,
    }
    changes = list(Change.objects.filter(table="sites").order_by("version"))
    assert [(c.operation, c.record_id, c.diff["is_primary"]) for c in changes] == [
        ("update", old.id, [True, False]),
        ("update", other.id, [False, True]),
    ]


def test_patching_the_primary_site_keeps_it_primary(client_for, rep):
    account = AccountFactory.create(owner=rep)
    primary = SiteFactory.create(account=account, is_primary=True)

    response = client_for(rep).patch(
        detail(primary.id), {"is_primary": True, "name": "HQ"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert Site.objects.get(pk=primary.pk).is_primary is True
    assert Change.objects.filter(table="sites").count() == 1


def test_new_site_becomes_primary_when_the_primary_was_archived(client_for, rep):
    account = AccountFactory.create(owner=rep)
    old = SiteFactory.create(account=account, is_primary=True)
    client = client_for(rep)
    assert client.post(archive(old.id)).status_code == 200

    response = client.post(LIST, {"account": account.id, "name": "New HQ"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["is_primary"] is True


def test_geocoded_at_zero_zero_is_a_real_point(client_for, rep):
    account = AccountFactory.create(owner=rep)

    response = client_for(rep).post(
        LIST,
        {"account": account.id, "name": "Null Island", "latitude": 0, "longitude": 0},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["latitude"], response.json()["longitude"]) == (0.0, 0.0)


# ---- create: denied and bad input ------------------------------------------------------------


def test_rep_creating_a_site_on_another_reps_account_gets_not_found(client_for, rep, other_rep):
    foreign = AccountFactory.create(owner=other_rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, {"account": foreign.id, "name": "Sneaky"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before


@pytest.mark.parametrize("account_id", ["0000000000000000", "bad id!", "x" * 36])
def test_creating_a_site_on_a_missing_account_is_not_found(client_for, dispatcher, account_id):
    client = client_for(dispatcher)
    before = table_counts()

    response = client.post(LIST, {"account": account_id, "name": "Nowhere"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before


@pytest.mark.parametrize("role", ["finance", "technician"])
def test_roles_without_edit_cannot_create_sites(request, client_for, rep, role):
    account = AccountFactory.create(owner=rep)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(LIST, {"account": account.id, "name": "Depot"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"latitude": 45.0}, ["latitude", "longitude"]),
        ({"longitude": 4.0}, ["latitude", "longitude"]),
        ({"latitude": 45.0, "longitude": None}, ["latitude", "longitude"]),
        ({"latitude": 90.5, "longitude": 4.0}, ["latitude"]),
        ({"latitude": -91, "longitude": 4.0}, ["latitude"]),
        ({"latitude": 45.0, "longitude": 180.1}, ["longitude"]),
        ({"latitude": 45.0, "longitude": -181}, ["longitude"]),
        ({"latitude": "north", "longitude": 4.0}, ["latitude"]),
        ({"time_zone": "Mars/Olympus_Mons"}, ["time_zone"]),
        ({"time_zone": "Europe"}, ["time_zone"]),
        ({"time_zone": "../../etc/passwd"}, ["time_zone"]),
        ({"time_zone": ""}, ["time_zone"]),
        ({"country": "FRA"}, ["country"]),
        ({"name": ""}, ["name"]),
        ({"is_primary": "perhaps"}, ["is_primary"]),
        ({"geocoded": True}, ["geocoded"]),
        ({"id": "mysite"}, ["id"]),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(client_for, rep, extra, fields):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, {"account": account.id, "name": "Depot", **extra}, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_create_without_account_names_it(client_for, rep):
    response = client_for(rep).post(LIST, {"name": "Depot"}, format="json")

    assert_error(response, 400, "invalid", fields=["account"])
    assert Site.objects.count() == 0


def test_create_rejects_malformed_json(client_for, rep):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, '{"name": "Depot"', content_type="application/json")

    assert_error(response, 400, "malformed_request")
    assert table_counts() == before


# ---- patch -----------------------------------------------------------------------------------


def test_patch_updates_the_site_and_records_the_diff(client_for, rep):
    site = SiteFactory.create(
        account=AccountFactory.create(owner=rep), city="Lyon", latitude=45.0, longitude=4.0
    )

    response = client_for(rep).patch(
        detail(site.id), {"city": "Paris", "latitude": 48.85, "longitude": 2.35}, format="json"
    )

    assert response.status_code == 200, response.content
    site.refresh_from_db()
    assert (site.city, site.latitude, site.longitude) == ("Paris", 48.85, 2.35)
    change = Change.objects.get(table="sites")
    assert change.operation == "update"
    assert {k: v for k, v in change.diff.items() if k != "updated_at"} == {
        "city": ["Lyon", "Paris"],
        "latitude": [45.0, 48.85],
        "longitude": [4.0, 2.35],
    }


def test_patch_clearing_both_coordinates_is_fine(client_for, rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))

    response = client_for(rep).patch(
        detail(site.id), {"latitude": None, "longitude": None}, format="json"
    )

    assert response.status_code == 200, response.content
    site.refresh_from_db()
    assert (site.latitude, site.longitude) == (None, None)


@pytest.mark.parametrize(
    ("payload", "code", "fields"),
    [
        ({"latitude": None}, "invalid", ["latitude", "longitude"]),
        ({"longitude": 200}, "invalid", ["longitude"]),
        ({"time_zone": "Europe/Atlantis"}, "invalid", ["time_zone"]),
        ({"colour": "red"}, "invalid", ["colour"]),
        ({"account": "0000000000000000"}, "unknown_field", ["account"]),
    ],
)
def test_patch_rejects_bad_input_and_writes_nothing(client_for, rep, payload, code, fields):
    site = SiteFactory.create(
        account=AccountFactory.create(owner=rep), latitude=45.0, longitude=4.0
    )
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(site.id), payload, format="json")

    assert_error(response, 400, code, fields=fields)
    assert table_counts() == before
    stored = Site.objects.get(pk=site.pk)
    assert (stored.latitude, stored.longitude, stored.time_zone, stored.account_id) == (
        45.0,
        4.0,
        "Europe/Paris",
        site.account_id,
    )


def test_patching_another_reps_site_is_not_found(client_for, rep, other_rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=other_rep), name="Unchanged")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(site.id), {"name": "Changed"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before
    assert Site.objects.get(pk=site.pk).name == "Unchanged"


def test_finance_cannot_patch_a_site(client_for, finance, rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep), name="Unchanged")
    client = client_for(finance)
    before = table_counts()

    response = client.patch(detail(site.id), {"name": "Changed"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before
    assert Site.objects.get(pk=site.pk).name == "Unchanged"


# ---- archive ---------------------------------------------------------------------------------


def test_archiving_a_site_with_live_assets_is_refused(client_for, rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    AssetFactory.create(site=site)
    client = client_for(rep)
    before = table_counts()

    response = client.post(archive(site.id))

    assert_error(response, 409, "site_has_assets")
    assert table_counts() == before
    assert Site.objects.get(pk=site.pk).archived_at is None


def test_archiving_a_site_whose_assets_are_archived_is_fine(client_for, rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    AssetFactory.create(site=site, archived_at=at(1))

    response = client_for(rep).post(archive(site.id))

    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    assert Site.objects.get(pk=site.pk).archived_at is not None
    change = Change.objects.get(table="sites")
    assert (change.operation, sorted(change.diff)) == ("update", ["archived_at", "updated_at"])


def test_archived_sites_are_hidden_unless_asked_for(client_for, rep):
    account = AccountFactory.create(owner=rep)
    live = SiteFactory.create(account=account, created_at=at(1))
    gone = SiteFactory.create(account=account, created_at=at(2))
    client = client_for(rep)

    assert client.post(archive(gone.id)).status_code == 200

    assert result_ids(client.get(LIST)) == [live.id]
    assert result_ids(client.get(LIST, {"archived": "true"})) == [gone.id]
    assert result_ids(client.get(LIST, {"archived": "all"})) == [gone.id, live.id]
    account_sites = client.get(f"/api/v1/accounts/{account.id}/").json()["sites"]
    assert [s["id"] for s in account_sites] == [live.id]


def test_archiving_another_reps_site_is_not_found(client_for, rep, other_rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=other_rep))
    client = client_for(rep)
    before = table_counts()

    assert_error(client.post(archive(site.id)), 404, "not_found")
    assert table_counts() == before


# ---- filters and query counts ------------------------------------------------------------------


def test_site_filters(client_for, dispatcher):
    # given
    lyon_account = AccountFactory.create()
    lyon = SiteFactory.create(account=lyon_account, city="Lyon", created_at=at(1))
    not_geocoded = SiteFactory.create(
        account=lyon_account, city="lyon", latitude=None, longitude=None, created_at=at(2)
    )
    paris = SiteFactory.create(city="Paris", latitude=0, longitude=0, created_at=at(3))
    client = client_for(dispatcher)

    # then
    assert result_ids(client.get(LIST, {"account": lyon_account.id})) == [not_geocoded.id, lyon.id]
    assert result_ids(client.get(LIST, {"city": "LYON"})) == [not_geocoded.id, lyon.id]
    assert result_ids(client.get(LIST, {"city": "Paris"})) == [paris.id]
    assert result_ids(client.get(LIST, {"geocoded": "true"})) == [paris.id, lyon.id]
    assert result_ids(client.get(LIST, {"geocoded": "false"})) == [not_geocoded.id]
    assert result_ids(client.get(LIST, {"account": "0000000000000000"})) == []


def test_account_filter_does_not_reach_into_another_reps_account(client_for, rep, other_rep):
    foreign = SiteFactory.create(account=AccountFactory.create(owner=other_rep))

    response = client_for(rep).get(LIST, {"account": foreign.account_id})

    assert result_ids(response) == []


def test_invalid_site_filters_are_refused(client_for, rep):
    client = client_for(rep)

    assert_error(client.get(LIST, {"archived": "yes"}), 400, "invalid_filter", fields=["archived"])
    assert_error(
        client.get(LIST, {"updated_since": "soon"}), 400, "invalid_filter", fields=["updated_since"]
    )
    assert_error(client.get(LIST, {"cursor": "garbage"}), 400, "invalid_cursor")


def test_site_list_runs_a_constant_number_of_queries(client_for, rep, assert_constant_queries):
    def make_sites(count: int) -> None:
        for _ in range(count):
            SiteFactory.create(account=AccountFactory.create(owner=rep))

    make_sites(3)
    client = client_for(rep)

    queries = assert_constant_queries(client, LIST, lambda: make_sites(10), sizes=(3, 13))

    assert queries == 3  # device with roles, territories, sites
