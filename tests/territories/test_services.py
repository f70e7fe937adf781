"""Territory services: import, assignment, overrides, preview, activation, and scope through
sync."""

from __future__ import annotations

from typing import Any

import pytest

from crm import services as crm_services
from crm.models import Account, Site
from crm.services import accounts as crm_accounts
from server.access import scope_keys_for
from server.enums import Role
from server.errors import ApplicationError
from territories import services
from territories.models import (
    Assignment,
    ModelState,
    Override,
    Territory,
    TerritoryModel,
    TerritoryType,
)
from tests.factories import AccountFactory, SiteFactory


def square(lng: float, lat: float, size: float = 0.05) -> dict[str, Any]:
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(code: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": code,
        "geometry": geometry,
        "properties": {"name": code, "type": "territory", **properties},
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


WEST, EAST = square(4.80, 45.74), square(4.85, 45.74)
REGION = {
    "type": "Polygon",
    "coordinates": [[[4.70, 45.60], [5.00, 45.60], [5.00, 45.90], [4.70, 45.90], [4.70, 45.60]]],
}


@pytest.fixture
def manager(make_user):
    return make_user(Role.SALES_MANAGER)


@pytest.fixture
def types(db):
    TerritoryType.objects.create(code="territory", name="Territory", priority=1)
    TerritoryType.objects.create(code="region", name="Region", priority=3)


def _planning(manager, *features: dict[str, Any]) -> TerritoryModel:
    model = services.territory_model_create(actor=manager, name="Plan")
    services.territories_import(actor=manager, model_id=model.pk, collection=collection(*features))
    return model


def _activate(manager, model: TerritoryModel) -> None:
    services.territory_model_activate(actor=manager, model_id=model.pk)


def _site(account: Account, lng: float | None, lat: float | None) -> Site:
    return SiteFactory.create(account=account, is_primary=True, longitude=lng, latitude=lat)


# ---- import ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("types")
def test_import_builds_the_tree_and_names_each_bad_feature(manager):
    model = _planning(
        manager,
        feature("LYON", REGION, type="region"),
        feature("W", WEST, parent="LYON"),
        feature("E", EAST, parent="LYON", order=2),
    )
    west = Territory.objects.get(territory_model=model, code="W")
    assert west.parent is not None and west.parent.code == "LYON" and west.vertices == 5
    assert 15 < west.area < 25  # about 3.9 km by 5.6 km

    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(ApplicationError) as error:
        services.territories_import(
            actor=manager,
            model_id=model.pk,
            collection=collection(
                feature("OK", EAST),
                feature("BAD", bow_tie),
                feature("FAR", square(200, 0)),
                feature("ORPHAN", EAST, parent="NOWHERE"),
            ),
        )
    fields = error.value.fields
    assert any("BAD" in k and "self_intersection" in v[0] for k, v in fields.items())
    assert any("FAR" in k and "out_of_range" in v[0] for k, v in fields.items())
    assert not Territory.objects.filter(code="OK").exists()
    # make_valid only on request
    services.territories_import(
        actor=manager,
        model_id=model.pk,
        collection=collection(feature("FIXED", bow_tie)),
        make_valid=True,
    )
    assert Territory.objects.filter(code="FIXED").exists()


@pytest.mark.usefixtures("types")
def test_only_a_planning_model_changes(manager, rep):
    model = _planning(manager, feature("W", WEST))
    _activate(manager, model)

    with pytest.raises(ApplicationError) as error:
        services.territories_import(
            actor=manager, model_id=model.pk, collection=collection(feature("E", EAST))
        )
    assert error.value.status == 409
    with pytest.raises(ApplicationError) as denied:
        services.territory_model_create(actor=rep, name="Mine")
    assert denied.value.status == 403
    assert TerritoryModel.objects.count() == 1


# ---- assignment -----------------------------------------------------------------------------


@pytest.mark.usefixtures("types")
def test_accounts_follow_their_primary_site_with_reasons(manager):
    inside = AccountFactory.create()
    _site(inside, 4.81, 45.75)
    outside = AccountFactory.create()
    _site(outside, 2.35, 48.85)
    unplaced = AccountFactory.create()
    _site(unplaced, None, None)
    siteless = AccountFactory.create()
    model = _planning(manager, feature("LYON", REGION, type="region"), feature("W", WEST))

    _activate(manager, model)

    current = {
        a.record_id: (a.territory.code if a.territory else a.reason, a.cause)
        for a in Assignment.objects.filter(record_type="account", valid_to__isnull=True)
    }
    # the territory beats the region that also contains it (type priority)
    assert current[inside.id] == ("W", "rule")
    assert current[outside.id] == ("outside_all", "rule")
    assert current[unplaced.id] == ("no_geocode", "rule")
    assert current[siteless.id] == ("no_geocode", "rule")
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert (inside.territory, outside.territory) == ("W", "")


@pytest.mark.usefixtures("types")
def test_a_point_on_a_shared_edge_goes_to_one_territory(manager):
    edge = AccountFactory.create()
    _site(edge, 4.85, 45.76)  # on the border of W and E
    model = _planning(manager, feature("W", WEST, order=2), feature("E", EAST, order=1))

    _activate(manager, model)

    edge.refresh_from_db()
    assert edge.territory == "E"  # same type, same area: the explicit order decides
    assert Assignment.objects.filter(record_id=edge.id, valid_to__isnull=True).count() == 1


@pytest.mark.usefixtures("types")
def test_a_new_or_moved_site_is_assigned_in_its_transaction(manager):
    _activate(manager, _planning(manager, feature("W", WEST), feature("E", EAST)))
    account = AccountFactory.create(owner=manager)

    site = crm_services.site_create(
        actor=manager, account=account, name="HQ", longitude=4.81, latitude=45.75
    )
    account.refresh_from_db()
    assert account.territory == "W"

    crm_services.site_update(actor=manager, site=site, longitude=4.87)
    account.refresh_from_db()
    assert account.territory == "E"
    history = list(
        Assignment.objects.filter(record_type="site", record_id=site.id)
        .order_by("valid_from", "pk")
        .values_list("territory__code", "valid_to")
    )
    assert [code for code, _ in history] == ["W", "E"]
    assert history[0][1] is not None and history[1][1] is None


@pytest.mark.usefixtures("types")
def test_a_manual_override_survives_realignment(manager):
    account = AccountFactory.create()
    _site(account, 4.81, 45.75)
    first = _planning(manager, feature("W", WEST), feature("E", EAST))
    _activate(manager, first)
    services.override_set(
        actor=manager,
        record_type="account",
        record_id=account.id,
        territory_code="E",
        cause="Key account handled by the east team",
    )
    account.refresh_from_db()
    assert account.territory == "E"

    second = services.territory_model_clone(actor=manager, source=first, name="2027")
    _activate(manager, second)

    account.refresh_from_db()
    assert account.territory == "E"
    current = Assignment.objects.get(
        territory_model=second, record_id=account.id, valid_to__isnull=True
    )
    assert current.territory is not None
    assert (current.territory.code, current.cause) == ("E", "manual")
    assert Override.objects.get(record_id=account.id).removed_at is None


@pytest.mark.usefixtures("types")
def test_an_override_moves_only_its_record_and_removing_it_puts_it_back(manager):
    placed, neighbour = AccountFactory.create(), AccountFactory.create()
    _site(placed, 4.81, 45.75)
    _site(neighbour, 4.81, 45.75)
    _activate(manager, _planning(manager, feature("W", WEST), feature("E", EAST)))
    history = Assignment.objects.count()

    override = services.override_set(
        actor=manager,
        record_type="account",
        record_id=placed.id,
        territory_code="E",
        cause="Key account handled by the east team",
    )

    # one row closed and one opened, for that account only
    assert Assignment.objects.count() == history + 1
    assert Account.objects.get(pk=neighbour.pk).territory == "W"
    assert Account.objects.get(pk=placed.pk).territory == "E"

    services.override_remove(actor=manager, override_id=override.pk)

    assert Account.objects.get(pk=placed.pk).territory == "W"
    current = Assignment.objects.get(record_id=placed.id, valid_to__isnull=True)
    assert current.cause == "rule"
    with pytest.raises(ApplicationError) as removed_twice:
        services.override_remove(actor=manager, override_id=override.pk)
    assert removed_twice.value.status == 404


@pytest.mark.usefixtures("types")
def test_an_override_of_an_unknown_record_is_refused_and_writes_nothing(manager):
    _activate(manager, _planning(manager, feature("W", WEST)))

    with pytest.raises(ApplicationError) as refused:
        services.override_set(
            actor=manager,
            record_type="account",
            record_id="nosuchaccount000",
            territory_code="W",
            cause="Typo",
        )

    assert refused.value.fields == {"record_id": ["Unknown."]}
    assert not Override.objects.exists()


@pytest.mark.usefixtures("types")
def test_customer_scope_comes_from_sales_memberships_and_covers_the_subtree(manager, make_user):
    model = _planning(
        manager,
        feature("LYON", REGION, type="region"),
        feature("W", WEST, parent="LYON"),
        feature("E", EAST, parent="LYON"),
    )
    _activate(manager, model)
    area_manager, technician = make_user(Role.SALES_REP), make_user(Role.TECHNICIAN)
    for user, code, role in [(area_manager, "LYON", "manager"), (technician, "W", "technician")]:
        services.membership_add(
            actor=manager,
            territory=model.territories.get(code=code),
            user=user,
            role=role,
            valid_from=model.created_at.date(),
        )

    assert {k for k in scope_keys_for(area_manager) if k.startswith("territory:")} == {
        "territory:LYON",
        "territory:W",
        "territory:E",
    }
    assert not {k for k in scope_keys_for(technician) if k.startswith("territory:")}


# ---- preview and activation -------------------------------------------------------------------


@pytest.mark.usefixtures("types")
def test_preview_counts_against_hand_computed_values(manager):
    # three accounts in W, one in E; the new map moves W's east half (lng > 4.825) to E
    for lng in (4.81, 4.82, 4.83):
        _site(AccountFactory.create(), lng, 45.75)
    _site(AccountFactory.create(), 4.86, 45.75)
    _site(AccountFactory.create(), 2.35, 48.85)  # outside both maps
    # (both maps inside a region, which holds no account of its own and is left out of the
    # spread)
    region = feature("LYON", REGION, type="region")
    _activate(
        manager,
        _planning(
            manager, region, feature("W", WEST, parent="LYON"), feature("E", EAST, parent="LYON")
        ),
    )
    plan = _planning(
        manager,
        region,
        feature("W", square(4.80, 45.74, 0.025) | {}, parent="LYON"),
        feature(
            "E",
            {
                "type": "Polygon",
                "coordinates": [
                    [[4.825, 45.74], [4.90, 45.74], [4.90, 45.79], [4.825, 45.79], [4.825, 45.74]]
                ],
            },
            parent="LYON",
        ),
    )
    preview = services.realignment_preview(actor=manager, model_id=plan.pk)

    assert (
        preview["accounts_moved"],
        preview["accounts_added"],
        preview["accounts_unassigned"],
    ) == (1, 0, 0)
    by_code = {t["code"]: t["accounts"] for t in preview["territories"]}
    assert set(by_code) == {"W", "E"}
    assert by_code["W"] == {"before": 3, "after": 2, "delta": -1}
    assert by_code["E"] == {"before": 1, "after": 2, "delta": 1}
    # before: counts 3 and 1, mean 2, population sd 1 -> 0.5; after: 2 and 2 -> 0
    cv = preview["coefficient_of_variation"]["accounts"]
    assert cv == {"before": pytest.approx(0.5), "after": pytest.approx(0.0)}


@pytest.mark.usefixtures("types")
def test_a_failed_activation_leaves_the_old_model_active_and_unchanged(manager, monkeypatch):
    accounts = [AccountFactory.create() for _ in range(3)]
    for account in accounts:
        _site(account, 4.81, 45.75)
    old = _planning(manager, feature("W", WEST))
    _activate(manager, old)
    plan = _planning(manager, feature("E", square(4.80, 45.74)))
    # One account per batch, and the second batch fails: the first has been written by then.
    calls = {"n": 0}
    real = crm_accounts._set_territories

    def failing(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(crm_accounts, "TERRITORY_BATCH", 1)
    monkeypatch.setattr(crm_accounts, "_set_territories", failing)
    with pytest.raises(RuntimeError):
        _activate(manager, plan)

    old.refresh_from_db()
    plan.refresh_from_db()
    assert (old.state, plan.state) == (ModelState.ACTIVE, ModelState.PLANNING)
    assert {a.territory for a in Account.objects.all()} == {"W"}
    assert not Assignment.objects.filter(territory_model=plan).exists()
    assert calls["n"] == 2


# ---- scope -------------------------------------------------------------------------------


@pytest.mark.usefixtures("types")
def test_activation_moves_accounts_between_reps_devices(manager, rep, other_rep, device_for):
    account = AccountFactory.create(owner=None)
    site = _site(account, 4.81, 45.75)
    first = _planning(manager, feature("W", WEST), feature("E", EAST))
    services.membership_add(
        actor=manager,
        territory=first.territories.get(code="W"),
        user=rep,
        role="rep",
        valid_from=first.created_at.date(),
    )
    services.membership_add(
        actor=manager,
        territory=first.territories.get(code="E"),
        user=other_rep,
        role="rep",
        valid_from=first.created_at.date(),
    )
    _activate(manager, first)
    west_tablet, east_tablet = (
        device_for(rep, device_id="west"),
        device_for(other_rep, device_id="east"),
    )
    west_tablet.sync()
    east_tablet.sync()
    assert west_tablet.get("accounts", account.id) is not None
    assert west_tablet.get("sites", site.id) is not None
    assert east_tablet.get("accounts", account.id) is None

    # the new map gives the account's area to the east territory
    plan = services.territory_model_clone(actor=manager, source=first, name="2027")
    services.territories_import(
        actor=manager,
        model_id=plan.pk,
        collection=collection(
            feature("W", square(4.70, 45.74, 0.05)), feature("E", square(4.80, 45.74, 0.10))
        ),
    )
    _activate(manager, plan)
    west_tablet.sync()
    east_tablet.sync()

    assert west_tablet.get("accounts", account.id) is None
    assert west_tablet.get("sites", site.id) is None
    assert east_tablet.get("accounts", account.id) is not None
    assert east_tablet.get("sites", site.id) is not None
