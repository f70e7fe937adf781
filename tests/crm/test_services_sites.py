"""crm.services.sites: the primary site, coordinates and time zones, and the asset tree."""

from __future__ import annotations

import datetime as dt

import pytest

from crm import services
from crm.models import Asset, Site
from server.errors import ApplicationError
from sync.models import Change
from tests.crm.assertions import table_counts
from tests.factories import AccountFactory, AssetFactory, SiteFactory


def primary_ids(account) -> list[str]:
    return list(
        Site.objects.filter(account=account, is_primary=True, archived_at__isnull=True).values_list(
            "id", flat=True
        )
    )


# ---- the primary site ------------------------------------------------------------------------


def test_only_the_first_site_becomes_primary(rep):
    account = AccountFactory.create(owner=rep)

    first = services.site_create(actor=rep, account=account, name="HQ")
    second = services.site_create(actor=rep, account=account, name="Depot")

    assert (first.is_primary, second.is_primary) == (True, False)
    assert primary_ids(account) == [first.id]


def test_a_new_primary_site_demotes_the_old_one(rep):
    account = AccountFactory.create(owner=rep)
    old = services.site_create(actor=rep, account=account, name="HQ")

    new = services.site_create(actor=rep, account=account, name="New HQ", is_primary=True)

    assert primary_ids(account) == [new.id]
    changes = list(Change.objects.filter(table="sites").order_by("version"))
    assert [(c.operation, c.record_id) for c in changes] == [
        ("create", old.id),
        ("update", old.id),
        ("create", new.id),
    ]
    assert changes[1].diff["is_primary"] == [True, False]


def test_promoting_a_site_demotes_only_its_own_accounts_primary(rep):
    account = AccountFactory.create(owner=rep)
    old = SiteFactory.create(account=account, is_primary=True)
    depot = SiteFactory.create(account=account)
    other_account_primary = SiteFactory.create(
        account=AccountFactory.create(owner=rep), is_primary=True
    )

    services.site_update(actor=rep, site=depot, is_primary=True)

    assert primary_ids(account) == [depot.id]
    assert Site.objects.get(pk=old.pk).is_primary is False
    assert Site.objects.get(pk=other_account_primary.pk).is_primary is True


def test_promoting_a_site_leaves_archived_primaries_alone(rep):
    account = AccountFactory.create(owner=rep)
    archived = SiteFactory.create(
        account=account, is_primary=True, archived_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    live = SiteFactory.create(account=account)

    services.site_update(actor=rep, site=live, is_primary=True)

    assert primary_ids(account) == [live.id]
    assert Site.objects.get(pk=archived.pk).is_primary is True  # archived rows are left alone
    assert Change.objects.filter(table="sites").count() == 1


# ---- coordinates and time zones ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"latitude": 1.0}, ["latitude", "longitude"]),
        ({"longitude": 1.0}, ["latitude", "longitude"]),
        ({"time_zone": "Nowhere/Special"}, ["time_zone"]),
        ({"time_zone": "/etc/passwd"}, ["time_zone"]),
        ({"time_zone": "zone.tab"}, ["time_zone"]),
    ],
)
def test_site_create_refuses_bad_places(rep, data, fields):
    account = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.site_create(actor=rep, account=account, name="Depot", **data)

    assert (raised.value.code, sorted(raised.value.fields)) == ("invalid", fields)
    assert table_counts() == before


def test_site_create_refuses_fields_it_does_not_own(rep):
    account = AccountFactory.create(owner=rep)
    other = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.site_create(actor=rep, account=account, name="Depot", account_id=other.id)

    assert (raised.value.code, list(raised.value.fields)) == ("unknown_field", ["account_id"])
    assert table_counts() == before


def test_site_archive_with_live_assets_is_refused(rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    AssetFactory.create(site=site)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.site_archive(actor=rep, site=site)

    assert (raised.value.code, raised.value.status) == ("site_has_assets", 409)
    assert table_counts() == before


# ---- assets ----------------------------------------------------------------------------------


def test_asset_tree_refuses_a_deep_cycle(rep):
    # given: a <- b <- c <- d
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    a = AssetFactory.create(site=site)
    b = AssetFactory.create(site=site, parent=a)
    c = AssetFactory.create(site=site, parent=b)
    d = AssetFactory.create(site=site, parent=c)
    before = table_counts()

    # when
    with pytest.raises(ApplicationError) as raised:
        services.asset_update(actor=rep, asset=a, parent=d)

    # then
    assert (raised.value.code, raised.value.fields) == (
        "invalid",
        {"parent": ["This would make a cycle."]},
    )
    assert table_counts() == before
    assert Asset.objects.get(pk=a.pk).parent_id is None


def test_asset_may_be_moved_within_its_tree_without_a_cycle(rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    a = AssetFactory.create(site=site)
    b = AssetFactory.create(site=site, parent=a)
    c = AssetFactory.create(site=site, parent=b)

    services.asset_update(actor=rep, asset=c, parent=a)

    assert Asset.objects.get(pk=c.pk).parent_id == a.id


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        (
            {"install_date": dt.date(2025, 1, 2), "warranty_end": dt.date(2025, 1, 1)},
            "warranty_end",
        ),
        (
            {"install_date": dt.date(2025, 1, 2), "contract_end": dt.date(2025, 1, 1)},
            "contract_end",
        ),
    ],
)
def test_asset_dates_end_after_the_install(rep, dates, field):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.asset_create(
            actor=rep, account=site.account, site=site, serial_number="SN", model_name="M", **dates
        )

    assert (raised.value.code, list(raised.value.fields)) == ("invalid", [field])
    assert table_counts() == before


def test_asset_dates_without_an_install_date_are_not_compared(rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))

    asset = services.asset_create(
        actor=rep,
        account=site.account,
        site=site,
        serial_number="SN",
        model_name="M",
        warranty_end=dt.date(2000, 1, 1),
    )

    assert Asset.objects.get(pk=asset.pk).warranty_end == dt.date(2000, 1, 1)


def test_asset_site_must_belong_to_the_account(rep):
    site = SiteFactory.create(account=AccountFactory.create(owner=rep))
    other_account = AccountFactory.create(owner=rep)
    before = table_counts()

    with pytest.raises(ApplicationError) as raised:
        services.asset_create(
            actor=rep, account=other_account, site=site, serial_number="SN", model_name="M"
        )

    assert (raised.value.code, list(raised.value.fields)) == ("invalid", ["site"])
    assert table_counts() == before
