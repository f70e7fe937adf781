"""/api/v1/tiers/ and /api/v1/tags/: reference data every signed-in user reads and only
reference managers write."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import CustomerTier, Tag
from sync.models import Change
from tests.crm.assertions import assert_error, result_ids, table_counts
from tests.factories import TagFactory, TierFactory

EVERYONE = ["rep", "technician", "dispatcher", "finance", "sales_manager", "admin_user"]
ARCHIVED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


# ---- tiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", EVERYONE)
def test_everyone_lists_live_tiers_by_rank(request, client_for, role):
    c = TierFactory.create(code="C", name="Ordinary", rank=3)
    a = TierFactory.create(code="A", name="Key", rank=1)
    b = TierFactory.create(code="B", name="Important", rank=2)
    TierFactory.create(code="Z", rank=4, archived_at=ARCHIVED)

    response = client_for(request.getfixturevalue(role)).get("/api/v1/tiers/")

    assert response.status_code == 200, response.content
    assert response.json() == [
        {"id": a.id, "code": "A", "name": "Key", "rank": 1},
        {"id": b.id, "code": "B", "name": "Important", "rank": 2},
        {"id": c.id, "code": "C", "name": "Ordinary", "rank": 3},
    ]


@pytest.mark.parametrize("role", ["sales_manager", "admin_user"])
def test_reference_managers_create_tiers(request, client_for, role):
    user = request.getfixturevalue(role)
    client = client_for(user)
    before = table_counts()

    response = client.post("/api/v1/tiers/", {"code": "A", "name": "Key", "rank": 1}, format="json")

    assert response.status_code == 201, response.content
    tier = CustomerTier.objects.get()
    assert response.json() == {"id": tier.id, "code": "A", "name": "Key", "rank": 1}
    assert table_counts() == {**before, "CustomerTier": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="customer_tiers")
    assert (change.operation, change.record_id, change.actor_id) == ("create", tier.id, user.pk)
    assert change.scope_after == ["ref"]
    assert change.request_id == response["X-Request-ID"]


@pytest.mark.parametrize("role", ["rep", "technician", "dispatcher", "finance", "service_manager"])
def test_other_roles_cannot_create_tiers(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post("/api/v1/tiers/", {"code": "A", "name": "Key", "rank": 1}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"code": "A", "name": "Key"}, ["rank"]),
        ({"code": "A", "name": "Key", "rank": 0}, ["rank"]),
        ({"code": "A", "name": "Key", "rank": 101}, ["rank"]),
        ({"code": "A", "name": "Key", "rank": "first"}, ["rank"]),
        ({"code": "", "name": "Key", "rank": 1}, ["code"]),
        ({"code": "A" * 33, "name": "Key", "rank": 1}, ["code"]),
        ({"code": "A", "name": "Key", "rank": 1, "id": "mine"}, ["id"]),
        ({"code": "TAKEN", "name": "Key", "rank": 1}, ["code"]),
    ],
)
def test_tier_create_rejects_bad_input_and_writes_nothing(
    client_for, sales_manager, payload, fields
):
    TierFactory.create(code="TAKEN")
    client = client_for(sales_manager)
    before = table_counts()

    response = client.post("/api/v1/tiers/", payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


# ---- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", EVERYONE)
def test_everyone_lists_live_tags_by_name(request, client_for, role):
    vip = TagFactory.create(name="vip", color="#00ff00")
    north = TagFactory.create(name="north")
    TagFactory.create(name="old", archived_at=ARCHIVED)

    response = client_for(request.getfixturevalue(role)).get("/api/v1/tags/")

    assert response.status_code == 200, response.content
    assert response.json() == [
        {"id": north.id, "name": "north", "color": ""},
        {"id": vip.id, "name": "vip", "color": "#00ff00"},
    ]


def test_sales_manager_creates_a_tag(client_for, sales_manager):
    client = client_for(sales_manager)
    before = table_counts()

    response = client.post("/api/v1/tags/", {"name": "vip", "color": "#A0b1C2"}, format="json")

    assert response.status_code == 201, response.content
    tag = Tag.objects.get()
    assert response.json() == {"id": tag.id, "name": "vip", "color": "#A0b1C2"}
    assert table_counts() == {**before, "Tag": 1, "Change": before["Change"] + 1}
    change = Change.objects.get(table="tags")
    assert (change.operation, change.actor_id, change.diff["name"]) == (
        "create",
        sales_manager.pk,
        [None, "vip"],
    )


@pytest.mark.parametrize("role", ["rep", "technician", "dispatcher", "finance"])
def test_other_roles_cannot_create_tags(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post("/api/v1/tags/", {"name": "vip"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": "x" * 65}, ["name"]),
        ({"name": "vip", "color": "red"}, ["color"]),
        ({"name": "vip", "color": "#12345"}, ["color"]),
        ({"name": "vip", "color": "#1234567"}, ["color"]),
        ({"name": "vip", "colour": "#123456"}, ["colour"]),
        ({"name": "taken"}, ["name"]),
    ],
)
def test_tag_create_rejects_bad_input_and_writes_nothing(client_for, admin_user, payload, fields):
    TagFactory.create(name="taken")
    client = client_for(admin_user)
    before = table_counts()

    response = client.post("/api/v1/tags/", payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_tag_create_rejects_malformed_json(client_for, admin_user):
    client = client_for(admin_user)
    before = table_counts()

    response = client.post("/api/v1/tags/", '{"name": vip}', content_type="application/json")

    assert_error(response, 400, "malformed_request")
    assert table_counts() == before


# ---- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "factory"), [("/api/v1/tiers/", TierFactory), ("/api/v1/tags/", TagFactory)]
)
def test_reference_lists_run_a_constant_number_of_queries(
    client_for, rep, assert_constant_queries, url, factory
):
    factory.create_batch(3)
    client = client_for(rep)

    queries = assert_constant_queries(client, url, lambda: factory.create_batch(10), sizes=(3, 13))

    assert queries == 2  # device, the list
    assert len(result_ids(client.get(url))) == 13
