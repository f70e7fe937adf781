"""/api/v1/assets/: list, create, retrieve, patch and archive; sites, parents and dates."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Asset, Site
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, AssetFactory, SiteFactory

LIST = "/api/v1/assets/"
BACK_OFFICE = ["dispatcher", "sales_manager", "service_manager", "finance", "admin_user"]


def detail(asset_id: str) -> str:
    return f"/api/v1/assets/{asset_id}/"


def archive(asset_id: str) -> str:
    return f"/api/v1/assets/{asset_id}/archive/"


def at(day: int) -> dt.datetime:
    return dt.datetime(2025, 4, day, 9, 0, tzinfo=dt.UTC)


def site_of(owner) -> Site:
    return SiteFactory.create(account=AccountFactory.create(owner=owner))


# ---- visibility ------------------------------------------------------------------------------


def test_rep_lists_only_assets_of_their_accounts(client_for, rep, other_rep):
    first = AssetFactory.create(site=site_of(rep), created_at=at(1))
    second = AssetFactory.create(site=site_of(rep), created_at=at(2))
    AssetFactory.create(site=site_of(other_rep), created_at=at(3))

    response = client_for(rep).get(LIST)

    assert result_ids(response) == [second.id, first.id]


@pytest.mark.parametrize("role", BACK_OFFICE)
def test_back_office_roles_list_every_asset(request, client_for, rep, other_rep, role):
    first = AssetFactory.create(site=site_of(rep), created_at=at(1))
    second = AssetFactory.create(site=site_of(other_rep), created_at=at(2))

    response = client_for(request.getfixturevalue(role)).get(LIST)

    assert result_ids(response) == [second.id, first.id]


def test_technician_sees_no_assets(client_for, technician, rep):
    asset = AssetFactory.create(site=site_of(rep))
    client = client_for(technician)

    assert result_ids(client.get(LIST)) == []
    assert_error(client.get(detail(asset.id)), 404, "not_found")


def test_retrieving_another_reps_asset_is_not_found(client_for, rep, other_rep):
    asset = AssetFactory.create(site=site_of(other_rep))

    response = client_for(rep).get(detail(asset.id))

    error = assert_error(response, 404, "not_found", fields=[])
    assert error["message"] == f"No asset with id {asset.id!r}."


@pytest.mark.parametrize("bad_id", ["bad%20id!", "x" * 37, "0000000000000000"])
def test_invalid_or_missing_asset_id_is_not_found(client_for, dispatcher, bad_id):
    client = client_for(dispatcher)

    assert_error(client.get(detail(bad_id)), 404, "not_found")
    assert_error(client.patch(detail(bad_id), {"model_name": "x"}, format="json"), 404, "not_found")
    assert_error(client.post(archive(bad_id)), 404, "not_found")


def test_retrieve_shows_the_asset(client_for, rep):
    site = site_of(rep)
    parent = AssetFactory.create(site=site)
    asset = AssetFactory.create(
        site=site,
        parent=parent,
        serial_number="SN-1",
        model_name="Vitodens 200",
        manufacturer="Viessmann",
        install_date=dt.date(2024, 1, 15),
        warranty_end=dt.date(2026, 1, 15),
        contract_end=None,
    )

    response = client_for(rep).get(detail(asset.id))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": asset.id,
        "account": site.account_id,
        "site": site.id,
        "parent": parent.id,
        "serial_number": "SN-1",
        "model_name": "Vitodens 200",
        "manufacturer": "Viessmann",
        "install_date": "2024-01-15",
        "warranty_end": "2026-01-15",
        "contract_end": None,
        "created_at": api_datetime(asset.created_at),
        "updated_at": api_datetime(asset.updated_at),
        "archived_at": None,
    }


# ---- create ----------------------------------------------------------------------------------


def test_asset_takes_its_account_from_its_site(client_for, rep):
    # given
    site = site_of(rep)
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.post(
        LIST,
        {
            "site": site.id,
            "serial_number": "SN-42",
            "model_name": "Logamax",
            "manufacturer": "Buderus",
            "install_date": "2024-05-01",
            "warranty_end": "2024-05-01",
        },
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    asset = Asset.objects.get()
    assert (body["id"], body["account"], body["site"], body["parent"]) == (
        asset.id,
        site.account_id,
        site.id,
        None,
    )
    assert asset.account_id == site.account_id
    assert table_counts() == {**before, "Asset": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="assets")
    assert (change.operation, change.record_id, change.actor_id) == ("create", asset.id, rep.pk)
    assert change.diff["account"] == [None, site.account_id]
    assert change.diff["site"] == [None, site.id]
    assert change.diff["install_date"] == [None, "2024-05-01"]


def test_asset_with_a_parent_of_the_same_account(client_for, rep):
    site = site_of(rep)
    other_site = SiteFactory.create(account=site.account)
    parent = AssetFactory.create(site=other_site)

    response = client_for(rep).post(
        LIST,
        {"site": site.id, "parent": parent.id, "serial_number": "SN-43", "model_name": "Pump"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["parent"] == parent.id


def test_a_site_of_another_reps_account_reads_as_missing(client_for, rep, other_rep):
    foreign_site = site_of(other_rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {"site": foreign_site.id, "serial_number": "SN-1", "model_name": "Pump"},
        format="json",
    )

    error = assert_error(response, 400, "invalid", fields=["site"])
    assert error["fields"]["site"] == [f'Invalid pk "{foreign_site.id}" - object does not exist.']
    assert table_counts() == before


def test_a_parent_of_another_reps_account_reads_as_missing(client_for, rep, other_rep):
    site = site_of(rep)
    foreign_parent = AssetFactory.create(site=site_of(other_rep))
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {
            "site": site.id,
            "parent": foreign_parent.id,
            "serial_number": "SN-1",
            "model_name": "Pump",
        },
        format="json",
    )

    assert_error(response, 400, "invalid", fields=["parent"])
    assert table_counts() == before


def test_a_parent_of_another_account_is_refused(client_for, rep):
    site = site_of(rep)
    parent_elsewhere = AssetFactory.create(site=site_of(rep))
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {
            "site": site.id,
            "parent": parent_elsewhere.id,
            "serial_number": "SN-1",
            "model_name": "Pump",
        },
        format="json",
    )

    error = assert_error(response, 400, "invalid", fields=["parent"])
    assert error["fields"]["parent"] == ["Choose an asset of this account."]
    assert table_counts() == before


@pytest.mark.parametrize("role", ["finance", "technician"])
def test_roles_that_cannot_edit_write_no_asset(request, client_for, rep, role):
    site = site_of(rep)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(
        LIST, {"site": site.id, "serial_number": "SN-1", "model_name": "Pump"}, format="json"
    )

    if role == "finance":  # sees the site, may not edit
        assert_error(response, 403, "permission_denied")
    else:  # sees no site at all
        assert_error(response, 400, "invalid", fields=["site"])
    assert table_counts() == before


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"install_date": "2024-05-02", "warranty_end": "2024-05-01"}, ["warranty_end"]),
        ({"install_date": "2024-05-02", "contract_end": "2024-01-01"}, ["contract_end"]),
        ({"install_date": "02/05/2024"}, ["install_date"]),
        ({"warranty_end": "2024-02-30"}, ["warranty_end"]),
        ({"serial_number": ""}, ["serial_number"]),
        ({"model_name": None}, ["model_name"]),
        ({"site": None}, ["site"]),
        ({"site": "0000000000000000"}, ["site"]),
        ({"parent": "0000000000000000"}, ["parent"]),
        ({"account": "0000000000000000"}, ["account"]),
        ({"colour": "red"}, ["colour"]),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(client_for, rep, extra, fields):
    site = site_of(rep)
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {"site": site.id, "serial_number": "SN-1", "model_name": "Pump", **extra},
        format="json",
    )

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_duplicate_serial_number_of_a_manufacturer_is_refused(client_for, rep):
    site = site_of(rep)
    AssetFactory.create(site=site, manufacturer="Viessmann", serial_number="SN-1")
    client = client_for(rep)
    before = table_counts()

    response = client.post(
        LIST,
        {
            "site": site.id,
            "serial_number": "SN-1",
            "manufacturer": "Viessmann",
            "model_name": "Pump",
        },
        format="json",
    )

    assert_error(response, 400, "invalid")
    assert table_counts() == before


def test_duplicate_serial_number_names_the_field(client_for, rep):
    site = site_of(rep)
    AssetFactory.create(site=site, manufacturer="Viessmann", serial_number="SN-1")

    response = client_for(rep).post(
        LIST,
        {
            "site": site.id,
            "serial_number": "SN-1",
            "manufacturer": "Viessmann",
            "model_name": "Pump",
        },
        format="json",
    )

    assert_error(response, 400, "invalid", fields=["serial_number"])


def test_same_serial_number_of_another_manufacturer_is_fine(client_for, rep):
    site = site_of(rep)
    AssetFactory.create(site=site, manufacturer="Viessmann", serial_number="SN-1")

    response = client_for(rep).post(
        LIST,
        {"site": site.id, "serial_number": "SN-1", "manufacturer": "Buderus", "model_name": "Pump"},
        format="json",
    )

    assert response.status_code == 201, response.content


# ---- patch -----------------------------------------------------------------------------------


def test_patch_moves_an_asset_to_another_site_of_its_account(client_for, rep):
    site = site_of(rep)
    other_site = SiteFactory.create(account=site.account)
    asset = AssetFactory.create(site=site)

    response = client_for(rep).patch(detail(asset.id), {"site": other_site.id}, format="json")

    assert response.status_code == 200, response.content
    assert Asset.objects.get(pk=asset.pk).site_id == other_site.id
    change = Change.objects.get(table="assets")
    assert change.diff["site"] == [site.id, other_site.id]


def test_patch_refuses_a_site_of_another_account(client_for, rep):
    asset = AssetFactory.create(site=site_of(rep))
    elsewhere = site_of(rep)
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(asset.id), {"site": elsewhere.id}, format="json")

    error = assert_error(response, 400, "invalid", fields=["site"])
    assert error["fields"]["site"] == ["Choose a site of this account."]
    assert table_counts() == before
    assert Asset.objects.get(pk=asset.pk).site_id == asset.site_id


def test_patch_refuses_a_parent_cycle(client_for, rep):
    # given: boiler <- pump <- valve
    site = site_of(rep)
    boiler = AssetFactory.create(site=site)
    pump = AssetFactory.create(site=site, parent=boiler)
    valve = AssetFactory.create(site=site, parent=pump)
    client = client_for(rep)
    before = table_counts()

    # when: the boiler would hang under the valve
    response = client.patch(detail(boiler.id), {"parent": valve.id}, format="json")

    # then
    error = assert_error(response, 400, "invalid", fields=["parent"])
    assert error["fields"]["parent"] == ["This would make a cycle."]
    assert table_counts() == before
    assert Asset.objects.get(pk=boiler.pk).parent_id is None


def test_patch_refuses_an_asset_as_its_own_parent(client_for, rep):
    asset = AssetFactory.create(site=site_of(rep))
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(asset.id), {"parent": asset.id}, format="json")

    assert_error(response, 400, "invalid", fields=["parent"])
    assert table_counts() == before


def test_patch_refuses_a_warranty_ending_before_the_install_date(client_for, rep):
    asset = AssetFactory.create(site=site_of(rep), install_date=dt.date(2024, 6, 1))
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(asset.id), {"warranty_end": "2024-05-31"}, format="json")

    assert_error(response, 400, "invalid", fields=["warranty_end"])
    assert table_counts() == before
    assert Asset.objects.get(pk=asset.pk).warranty_end is None


def test_patching_another_reps_asset_is_not_found(client_for, rep, other_rep):
    asset = AssetFactory.create(site=site_of(other_rep), model_name="Unchanged")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(asset.id), {"model_name": "Changed"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before
    assert Asset.objects.get(pk=asset.pk).model_name == "Unchanged"


def test_finance_cannot_patch_an_asset(client_for, finance, rep):
    asset = AssetFactory.create(site=site_of(rep), model_name="Unchanged")
    client = client_for(finance)
    before = table_counts()

    response = client.patch(detail(asset.id), {"model_name": "Changed"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


# ---- archive, filters and query counts ---------------------------------------------------------


def test_archived_assets_are_hidden_unless_asked_for(client_for, rep):
    site = site_of(rep)
    live = AssetFactory.create(site=site, created_at=at(1))
    gone = AssetFactory.create(site=site, created_at=at(2))
    client = client_for(rep)

    response = client.post(archive(gone.id))

    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    assert result_ids(client.get(LIST)) == [live.id]
    assert result_ids(client.get(LIST, {"archived": "true"})) == [gone.id]
    change = Change.objects.get(table="assets")
    assert (change.record_id, change.operation) == (gone.id, "update")


def test_asset_filters(client_for, dispatcher):
    # given
    site = SiteFactory.create()
    other_site = SiteFactory.create(account=site.account)
    elsewhere = SiteFactory.create()
    covered = AssetFactory.create(
        site=site,
        serial_number="SN-A",
        warranty_end=dt.date(2025, 12, 31),
        contract_end=dt.date(2025, 6, 30),
        created_at=at(1),
    )
    expired = AssetFactory.create(
        site=other_site,
        serial_number="SN-B",
        warranty_end=dt.date(2024, 12, 31),
        contract_end=dt.date(2026, 6, 30),
        created_at=at(2),
    )
    other = AssetFactory.create(site=elsewhere, serial_number="SN-C", created_at=at(3))
    client = client_for(dispatcher)

    # then
    assert result_ids(client.get(LIST, {"account": site.account_id})) == [expired.id, covered.id]
    assert result_ids(client.get(LIST, {"site": other_site.id})) == [expired.id]
    assert result_ids(client.get(LIST, {"serial_number": "SN-C"})) == [other.id]
    assert result_ids(client.get(LIST, {"warranty_active_on": "2025-01-01"})) == [covered.id]
    assert result_ids(client.get(LIST, {"warranty_active_on": "2024-12-31"})) == [
        expired.id,
        covered.id,
    ]
    assert result_ids(client.get(LIST, {"contract_active_on": "2025-07-01"})) == [expired.id]


def test_invalid_asset_filters_are_refused(client_for, rep):
    response = client_for(rep).get(LIST, {"warranty_active_on": "tomorrow"})

    assert_error(response, 400, "invalid_filter", fields=["warranty_active_on"])


def test_asset_list_runs_a_constant_number_of_queries(client_for, rep, assert_constant_queries):
    site = site_of(rep)

    def make_assets(count: int) -> None:
        for _ in range(count):
            AssetFactory.create(site=site, parent=AssetFactory.create(site=site))

    make_assets(3)  # six assets: three parents, three children
    client = client_for(rep)

    queries = assert_constant_queries(client, LIST, lambda: make_assets(10), sizes=(6, 26))

    assert queries == 3  # device with roles, territories, assets
