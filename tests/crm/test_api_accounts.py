"""/api/v1/accounts/: list, create, retrieve, patch and archive."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from crm.models import Account
from server.enums import Role
from sync.models import Change
from tests.crm.assertions import api_datetime, assert_error, result_ids, table_counts
from tests.factories import AccountFactory, SiteFactory, TagFactory, TierFactory

LIST = "/api/v1/accounts/"
BACK_OFFICE = ["dispatcher", "sales_manager", "service_manager", "finance", "admin_user"]


def detail(account_id: str) -> str:
    return f"/api/v1/accounts/{account_id}/"


def at(day: int) -> dt.datetime:
    return dt.datetime(2025, 1, day, 9, 0, tzinfo=dt.UTC)


# ---- visibility ------------------------------------------------------------------------------


def test_rep_lists_only_the_accounts_they_own(client_for, rep, other_rep):
    # given
    older = AccountFactory.create(owner=rep, created_at=at(1))
    newer = AccountFactory.create(owner=rep, created_at=at(2))
    AccountFactory.create(owner=other_rep)
    AccountFactory.create(owner=None)

    # when
    response = client_for(rep).get(LIST)

    # then
    assert result_ids(response) == [newer.id, older.id]


@pytest.mark.parametrize("role", BACK_OFFICE)
def test_back_office_roles_list_every_account(request, client_for, rep, other_rep, role):
    first = AccountFactory.create(owner=rep, created_at=at(1))
    second = AccountFactory.create(owner=other_rep, created_at=at(2))
    unowned = AccountFactory.create(owner=None, created_at=at(3))

    response = client_for(request.getfixturevalue(role)).get(LIST)

    assert result_ids(response) == [unowned.id, second.id, first.id]


def test_technician_sees_no_accounts(client_for, technician, rep):
    account = AccountFactory.create(owner=rep)
    client = client_for(technician)

    assert result_ids(client.get(LIST)) == []
    assert_error(client.get(detail(account.id)), 404, "not_found")


def test_rep_retrieving_another_reps_account_gets_not_found(client_for, rep, other_rep):
    foreign = AccountFactory.create(owner=other_rep)

    response = client_for(rep).get(detail(foreign.id))

    error = assert_error(response, 404, "not_found", fields=[])
    assert error["message"] == f"No account with id {foreign.id!r}."


def test_foreign_and_missing_accounts_read_the_same(client_for, rep, other_rep):
    foreign = AccountFactory.create(owner=other_rep)
    client = client_for(rep)

    foreign_error = assert_error(client.get(detail(foreign.id)), 404, "not_found")
    missing_error = assert_error(client.get(detail("0000000000000000")), 404, "not_found")

    assert foreign_error["message"].replace(foreign.id, "X") == missing_error["message"].replace(
        "0000000000000000", "X"
    )


@pytest.mark.parametrize("bad_id", ["bad%20id!", "a" * 37, "semi;colon", "%C3%A9t%C3%A9"])
def test_invalid_account_id_in_url_is_not_found(client_for, dispatcher, bad_id):
    client = client_for(dispatcher)

    assert_error(client.get(f"/api/v1/accounts/{bad_id}/"), 404, "not_found")
    assert_error(client.patch(f"/api/v1/accounts/{bad_id}/", {}, format="json"), 404, "not_found")
    assert_error(client.post(f"/api/v1/accounts/{bad_id}/archive/"), 404, "not_found")


def test_retrieve_shows_the_account_with_tier_tags_and_live_sites(client_for, finance):
    # given
    tier = TierFactory.create(code="A", name="Key account", rank=1)
    tag = TagFactory.create(name="vip", color="#ff0000")
    account = AccountFactory.create(
        name="Boulangerie Martin",
        kind="company",
        tier=tier,
        lifecycle_stage="active",
        phone="+33 4 78 00 00 00",
        email="contact@martin.example",
        website="https://martin.example",
        notes="Opens at 6.",
        national_id="FR123456789",
        bank_account="FR7630006000011234567890189",
    )
    account.tags.add(tag)
    site = SiteFactory.create(account=account, name="Shop", is_primary=True, city="Lyon")
    SiteFactory.create(account=account, name="Old shop", archived_at=at(5))

    # when
    response = client_for(finance).get(detail(account.id))

    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": account.id,
        "name": "Boulangerie Martin",
        "kind": "company",
        "tier": {"id": tier.id, "code": "A", "name": "Key account", "rank": 1},
        "lifecycle_stage": "active",
        "owner": account.owner_id,
        "tags": [{"id": tag.id, "name": "vip", "color": "#ff0000"}],
        "phone": "+33 4 78 00 00 00",
        "email": "contact@martin.example",
        "website": "https://martin.example",
        "notes": "Opens at 6.",
        "national_id": "FR123456789",
        "bank_account": "FR7630006000011234567890189",
        "territory": "",
        "sites": [
            {
                "id": site.id,
                "account": account.id,
                "name": "Shop",
                "is_primary": True,
                "street": "",
                "city": "Lyon",
                "postal_code": "",
                "region": "",
                "country": "",
                "latitude": 45.76,
                "longitude": 4.84,
                "time_zone": "Europe/Paris",
                "access_notes": "",
                "created_at": api_datetime(site.created_at),
                "updated_at": api_datetime(site.updated_at),
                "archived_at": None,
            }
        ],
        "created_at": api_datetime(account.created_at),
        "updated_at": api_datetime(account.updated_at),
        "archived_at": None,
    }


# ---- create ----------------------------------------------------------------------------------


def test_rep_creates_an_account_they_own(client_for, rep):
    # given
    tier = TierFactory.create()
    tags = [TagFactory.create(name="north"), TagFactory.create(name="vip")]
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.post(
        LIST,
        {
            "name": "Garage Durand",
            "kind": "company",
            "tier": tier.id,
            "lifecycle_stage": "new",
            "tags": [t.id for t in tags],
            "email": "hello@durand.example",
        },
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    account = Account.objects.get()
    assert body["id"] == account.id
    assert body["owner"] == rep.pk
    assert body["tier"]["id"] == tier.id
    assert [t["name"] for t in body["tags"]] == ["north", "vip"]
    assert body["sites"] == []
    assert (account.name, account.owner_id, account.lifecycle_stage) == (
        "Garage Durand",
        rep.pk,
        "new",
    )
    after = table_counts()
    assert after["Account"] == before["Account"] + 1
    assert after["AccountTag"] == before["AccountTag"] + 2
    assert after["Change"] == before["Change"] + 1
    change = Change.objects.get(table="accounts")
    assert (change.record_id, change.operation, change.actor_id) == (account.id, "create", rep.pk)
    assert change.diff["name"] == [None, "Garage Durand"]
    assert change.diff["tags"] == [None, sorted(t.id for t in tags)]
    assert change.scope_after == ["org", f"owner:{rep.pk}"]


def test_back_office_creates_unowned_accounts_by_default(client_for, dispatcher):
    response = client_for(dispatcher).post(LIST, {"name": "Mairie"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["owner"] is None
    assert Account.objects.get().owner_id is None


def test_sales_manager_creates_an_account_for_a_rep(client_for, sales_manager, rep):
    response = client_for(sales_manager).post(
        LIST, {"name": "Mairie", "owner": rep.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    assert Account.objects.get().owner_id == rep.pk


@pytest.mark.parametrize("role", ["technician", "finance"])
def test_roles_without_edit_cannot_create_accounts(request, client_for, role):
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(LIST, {"name": "Garage Durand"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before
    assert Account.objects.count() == 0


def test_rep_cannot_create_an_account_owned_by_someone_else(client_for, rep, other_rep):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, {"name": "Garage Durand", "owner": other_rep.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


def test_rep_cannot_create_an_unowned_account(client_for, rep):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, {"name": "Garage Durand", "owner": None}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before


def test_create_refuses_an_inactive_owner(client_for, dispatcher, make_user):
    gone = make_user(Role.SALES_REP, is_active=False)
    client = client_for(dispatcher)
    before = table_counts()

    response = client.post(LIST, {"name": "Garage Durand", "owner": gone.pk}, format="json")

    assert_error(response, 400, "invalid", fields=["owner"])
    assert table_counts() == before


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"name": "Garage", "colour": "red"}, ["colour"]),
        (
            {"name": "Garage", "id": "abc", "created_at": "2025-01-01T00:00:00Z"},
            ["created_at", "id"],
        ),
        ({"name": "Garage", "sites": []}, ["sites"]),
        ({}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": ["Garage"]}, ["name"]),
        ({"name": "x" * 201}, ["name"]),
        ({"name": "Garage", "kind": "spaceship"}, ["kind"]),
        ({"name": "Garage", "lifecycle_stage": "dead"}, ["lifecycle_stage"]),
        ({"name": "Garage", "tags": "vip"}, ["tags"]),
        ({"name": "Garage", "tags": ["nope"]}, ["tags"]),
        ({"name": "Garage", "tier": "doesnotexist0000"}, ["tier"]),
        ({"name": "Garage", "tier": 12}, ["tier"]),
        ({"name": "Garage", "owner": "me"}, ["owner"]),
        ({"name": "Garage", "owner": 999999}, ["owner"]),
        ({"name": "Garage", "email": "not-an-email"}, ["email"]),
        ({"name": "Garage", "website": "ftp//nope"}, ["website"]),
        ({"name": "Garage", "national_id": "x" * 65}, ["national_id"]),
        (["Garage"], ["non_field_errors"]),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(client_for, rep, payload, fields):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, payload, format="json")

    assert_error(response, 400, "invalid", fields=fields)
    assert table_counts() == before


def test_unknown_field_is_named_in_the_envelope(client_for, rep):
    response = client_for(rep).post(LIST, {"name": "Garage", "colour": "red"}, format="json")

    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {"colour": ["Unknown field."]}


@pytest.mark.parametrize("body", ["{bad", '{"name": "Garage",}', ""])
def test_create_rejects_malformed_json(client_for, rep, body):
    client = client_for(rep)
    before = table_counts()

    response = client.post(LIST, body, content_type="application/json")

    if body:
        assert_error(response, 400, "malformed_request")
    else:  # an empty body is valid JSON-less input: the required name is missing
        assert_error(response, 400, "invalid", fields=["name"])
    assert table_counts() == before


def test_create_rejects_a_body_that_is_not_json(client_for, rep):
    response = client_for(rep).post(
        LIST, "name=Garage", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "unsupported_media_type")
    assert Account.objects.count() == 0


# ---- patch -----------------------------------------------------------------------------------


def test_rep_patch_records_exactly_one_change_with_who_where_and_what(client_for, rep):
    # given
    account = AccountFactory.create(owner=rep, name="Old name")
    old_updated_at = account.updated_at
    client = client_for(rep)
    before = table_counts()

    # when
    response = client.patch(detail(account.id), {"name": "New name"}, format="json")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "New name"
    account.refresh_from_db()
    assert account.name == "New name"
    assert account.updated_at > old_updated_at
    assert table_counts() == {**before, "Change": before["Change"] + 1}
    change = Change.objects.get(table="accounts")
    assert change.record_id == account.id
    assert change.operation == "update"
    assert change.actor_id == rep.pk
    assert change.device_id == str(client.tokens["device"]["id"])
    assert change.request_id != ""
    assert change.request_id == response["X-Request-ID"]
    assert change.diff == {
        "name": ["Old name", "New name"],
        "updated_at": [old_updated_at.isoformat(), account.updated_at.isoformat()],
    }
    assert change.scope_before == change.scope_after == ["org", f"owner:{rep.pk}"]


def test_change_carries_the_callers_request_id(client_for, rep):
    account = AccountFactory.create(owner=rep)

    response = client_for(rep).patch(
        detail(account.id), {"notes": "Call back"}, format="json", HTTP_X_REQUEST_ID="req-0001-abcd"
    )

    assert response["X-Request-ID"] == "req-0001-abcd"
    assert Change.objects.get(table="accounts").request_id == "req-0001-abcd"


def test_patch_replaces_tags_and_records_them(client_for, rep):
    old_tag, new_tag = TagFactory.create(name="old"), TagFactory.create(name="new")
    account = AccountFactory.create(owner=rep)
    account.tags.add(old_tag)

    response = client_for(rep).patch(detail(account.id), {"tags": [new_tag.id]}, format="json")

    assert response.status_code == 200, response.content
    assert [t["id"] for t in response.json()["tags"]] == [new_tag.id]
    assert list(account.tags.values_list("id", flat=True)) == [new_tag.id]
    change = Change.objects.get(table="accounts")
    assert change.diff["tags"] == [[old_tag.id], [new_tag.id]]
    assert sorted(change.diff) == ["tags", "updated_at"]


def test_finance_cannot_patch_an_account(client_for, finance, rep):
    account = AccountFactory.create(owner=rep, name="Unchanged")
    client = client_for(finance)
    before = table_counts()

    response = client.patch(detail(account.id), {"name": "Changed"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before
    stored = Account.objects.get(pk=account.pk)
    assert (stored.name, stored.updated_at) == ("Unchanged", account.updated_at)


def test_technician_cannot_patch_an_account(client_for, technician, rep):
    account = AccountFactory.create(owner=rep, name="Unchanged")
    client = client_for(technician)
    before = table_counts()

    response = client.patch(detail(account.id), {"name": "Changed"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).name == "Unchanged"


def test_rep_patching_another_reps_account_gets_not_found(client_for, rep, other_rep):
    account = AccountFactory.create(owner=other_rep, name="Unchanged")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(account.id), {"name": "Changed"}, format="json")

    assert_error(response, 404, "not_found")
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).name == "Unchanged"


def test_rep_cannot_give_an_account_away(client_for, rep, other_rep):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(account.id), {"owner": other_rep.pk}, format="json")

    assert_error(response, 403, "permission_denied")
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).owner_id == rep.pk


def test_dispatcher_reassigns_an_account_and_the_scope_change_is_recorded(
    client_for, dispatcher, rep, other_rep
):
    account = AccountFactory.create(owner=rep)

    response = client_for(dispatcher).patch(
        detail(account.id), {"owner": other_rep.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    assert Account.objects.get(pk=account.pk).owner_id == other_rep.pk
    change = Change.objects.get(table="accounts")
    assert change.diff["owner"] == [rep.pk, other_rep.pk]
    assert change.scope_before == ["org", f"owner:{rep.pk}"]
    assert change.scope_after == ["org", f"owner:{other_rep.pk}"]
    assert result_ids(client_for(other_rep, device_id="device-2").get(LIST)) == [account.id]
    assert result_ids(client_for(rep, device_id="device-3").get(LIST)) == []


@pytest.mark.parametrize(
    ("payload", "code", "fields"),
    [
        ({"colour": "red"}, "invalid", ["colour"]),
        ({"name": ""}, "invalid", ["name"]),
        ({"name": None}, "invalid", ["name"]),
        ({"tier": "doesnotexist0000"}, "invalid", ["tier"]),
        ({"kind": "spaceship"}, "invalid", ["kind"]),
    ],
)
def test_patch_rejects_bad_input_and_writes_nothing(client_for, rep, payload, code, fields):
    account = AccountFactory.create(owner=rep, name="Unchanged")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(account.id), payload, format="json")

    assert_error(response, 400, code, fields=fields)
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).name == "Unchanged"


def test_patch_rejects_malformed_json(client_for, rep):
    account = AccountFactory.create(owner=rep, name="Unchanged")
    client = client_for(rep)
    before = table_counts()

    response = client.patch(detail(account.id), '{"name": ', content_type="application/json")

    assert_error(response, 400, "malformed_request")
    assert table_counts() == before


# ---- archive ---------------------------------------------------------------------------------


def test_archive_hides_the_account_unless_asked_for(client_for, rep):
    # given
    kept = AccountFactory.create(owner=rep, created_at=at(1))
    archived = AccountFactory.create(owner=rep, created_at=at(2))
    client = client_for(rep)

    # when
    response = client.post(f"/api/v1/accounts/{archived.id}/archive/")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["archived_at"] is not None
    archived.refresh_from_db()
    assert archived.archived_at is not None
    assert result_ids(client.get(LIST)) == [kept.id]
    assert result_ids(client.get(LIST, {"archived": "false"})) == [kept.id]
    assert result_ids(client.get(LIST, {"archived": "true"})) == [archived.id]
    assert result_ids(client.get(LIST, {"archived": "all"})) == [archived.id, kept.id]
    change = Change.objects.get(table="accounts")
    assert change.operation == "update"
    assert sorted(change.diff) == ["archived_at", "updated_at"]
    assert change.diff["archived_at"] == [None, archived.archived_at.isoformat()]
    # an archived account can still be read by id
    assert client.get(detail(archived.id)).json()["id"] == archived.id


def test_archiving_twice_records_one_change(client_for, rep):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)

    first = client.post(f"/api/v1/accounts/{account.id}/archive/")
    second = client.post(f"/api/v1/accounts/{account.id}/archive/")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["archived_at"] == second.json()["archived_at"]
    assert Change.objects.filter(table="accounts").count() == 1


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("finance", 403, "permission_denied"),
        ("technician", 403, "permission_denied"),
        ("other_rep", 404, "not_found"),
    ],
)
def test_archive_denied_writes_nothing(request, client_for, rep, role, status, code):
    account = AccountFactory.create(owner=rep)
    client = client_for(request.getfixturevalue(role))
    before = table_counts()

    response = client.post(f"/api/v1/accounts/{account.id}/archive/")

    assert_error(response, status, code)
    assert table_counts() == before
    assert Account.objects.get(pk=account.pk).archived_at is None


# ---- filters ---------------------------------------------------------------------------------


@pytest.fixture
def filter_world(rep, other_rep):
    """Three live accounts and an archived one that would match every filter."""
    gold, silver = TierFactory.create(code="gold"), TierFactory.create(code="silver")
    vip, north = TagFactory.create(name="vip"), TagFactory.create(name="north")
    martin = AccountFactory.create(
        name="Boulangerie Martin",
        email="contact@martin.example",
        kind="company",
        lifecycle_stage="active",
        tier=gold,
        owner=rep,
        created_at=at(1),
        updated_at=at(10),
    )
    martin.tags.add(vip)
    dupont = AccountFactory.create(
        name="Jean Dupont",
        email="jean@dupont.example",
        kind="person",
        lifecycle_stage="prospect",
        tier=None,
        owner=other_rep,
        created_at=at(2),
        updated_at=at(20),
    )
    dupont.tags.add(north)
    mairie = AccountFactory.create(
        name="Mairie de Lyon",
        email="",
        kind="government",
        lifecycle_stage="active",
        tier=silver,
        owner=rep,
        created_at=at(3),
        updated_at=at(30),
    )
    mairie.tags.add(vip, north)
    ghost = AccountFactory.create(
        name="Martin archived",
        email="old@martin.example",
        kind="company",
        lifecycle_stage="active",
        tier=gold,
        owner=rep,
        created_at=at(4),
        updated_at=at(31),
        archived_at=at(31),
    )
    ghost.tags.add(vip)
    return {
        "martin": martin,
        "dupont": dupont,
        "mairie": mairie,
        "ghost": ghost,
        "gold": gold,
        "silver": silver,
        "rep": rep,
        "other_rep": other_rep,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["mairie", "dupont", "martin"]),
        ({"kind": "company"}, ["martin"]),
        ({"kind": "person"}, ["dupont"]),
        ({"kind": "institution"}, []),
        ({"lifecycle_stage": "active"}, ["mairie", "martin"]),
        ({"lifecycle_stage": "prospect"}, ["dupont"]),
        ({"tag": "vip"}, ["mairie", "martin"]),
        ({"tag": "north"}, ["mairie", "dupont"]),
        ({"tag": "unknown"}, []),
        ({"search": "martin"}, ["martin"]),
        ({"search": "DUPONT.example"}, ["dupont"]),
        ({"search": "lyon"}, ["mairie"]),
        ({"updated_since": "2025-01-20T09:00:00Z"}, ["mairie", "dupont"]),
        ({"updated_since": "2025-01-20T09:00:01Z"}, ["mairie"]),
        ({"kind": "company", "archived": "true"}, ["ghost"]),
        ({"tag": "vip", "archived": "all"}, ["ghost", "mairie", "martin"]),
        ({"lifecycle_stage": "active", "tag": "north"}, ["mairie"]),
    ],
)
def test_account_filters(client_for, dispatcher, filter_world, query, expected):
    response = client_for(dispatcher).get(LIST, query)

    assert result_ids(response) == [filter_world[name].id for name in expected]


def test_account_filters_by_tier_and_owner(client_for, dispatcher, filter_world):
    client = client_for(dispatcher)
    w = filter_world

    assert result_ids(client.get(LIST, {"tier": w["gold"].id})) == [w["martin"].id]
    assert result_ids(client.get(LIST, {"tier": w["silver"].id})) == [w["mairie"].id]
    assert result_ids(client.get(LIST, {"owner": w["rep"].pk})) == [w["mairie"].id, w["martin"].id]
    assert result_ids(client.get(LIST, {"owner": w["other_rep"].pk})) == [w["dupont"].id]


def test_rep_filters_stay_within_their_scope(client_for, filter_world):
    w = filter_world

    response = client_for(w["rep"]).get(LIST, {"owner": w["other_rep"].pk})

    assert result_ids(response) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "spaceship"}, "kind"),
        ({"lifecycle_stage": "zombie"}, "lifecycle_stage"),
        ({"owner": "me"}, "owner"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"archived": "maybe"}, "archived"),
    ],
)
def test_invalid_filter_values_are_refused(client_for, dispatcher, query, field):
    response = client_for(dispatcher).get(LIST, query)

    assert_error(response, 400, "invalid_filter", fields=[field])


# ---- pagination and query counts ---------------------------------------------------------------


def test_following_next_links_returns_every_account_once(client_for, rep):
    # given
    accounts = [AccountFactory.create(owner=rep, created_at=at(day)) for day in range(1, 6)]
    client = client_for(rep)

    # when
    seen: list[str] = []
    page_sizes: list[int] = []
    url: str | None = f"{LIST}?page_size=2"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        page_sizes.append(len(body["results"]))
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]

    # then
    assert page_sizes == [2, 2, 1]
    assert seen == [a.id for a in reversed(accounts)]


def test_pagination_is_stable_when_accounts_share_a_creation_time(client_for, rep):
    accounts = [AccountFactory.create(owner=rep, created_at=at(1)) for _ in range(5)]
    client = client_for(rep)

    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=2"
    while url is not None:
        body = client.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]

    assert seen == sorted((a.id for a in accounts), reverse=True)


@pytest.mark.parametrize("cursor", ["garbage", "bz1ub3RhbnVtYmVy"])
def test_invalid_cursor_is_refused(client_for, rep, cursor):
    AccountFactory.create(owner=rep)

    response = client_for(rep).get(LIST, {"cursor": cursor})

    assert_error(response, 400, "invalid_cursor", fields=[])


def test_cursor_with_a_tampered_position_is_an_invalid_cursor(client_for, rep):
    AccountFactory.create(owner=rep)
    tampered = base64.b64encode(b"p=not-a-date").decode()

    response = client_for(rep).get(LIST, {"cursor": tampered})

    assert_error(response, 400, "invalid_cursor", fields=[])


def test_account_list_runs_a_constant_number_of_queries(client_for, rep, assert_constant_queries):
    def make_accounts(count: int) -> None:
        for _ in range(count):
            account = AccountFactory.create(owner=rep, tier=TierFactory.create())
            SiteFactory.create(account=account, is_primary=True)
            SiteFactory.create(account=account)
            account.tags.add(TagFactory.create(), TagFactory.create())

    make_accounts(3)
    client = client_for(rep)

    queries = assert_constant_queries(client, LIST, lambda: make_accounts(10), sizes=(3, 13))

    assert queries == 5  # device with user and roles, territories, accounts with tiers, sites, tags
    body = client.get(LIST).json()
    assert all(len(row["sites"]) == 2 and len(row["tags"]) == 2 for row in body["results"])


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (LIST, {"owner": "1.5"}),
        (LIST, {"owner": "9223372036854775808"}),
        ("/api/v1/interactions/", {"author": "9223372036854775808"}),
    ],
)
def test_user_id_filters_accept_only_user_ids(client_for, dispatcher, rep, url, query):
    AccountFactory.create(owner=rep)
    field = next(iter(query))

    response = client_for(dispatcher).get(url, query)

    assert_error(response, 400, "invalid_filter", fields=[field])


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (LIST, {"updated_since": "9999-12-31T23:59:59-23:00"}),
        ("/api/v1/sites/", {"updated_since": "9999-12-31T23:59:59-23:00"}),
        ("/api/v1/interactions/", {"occurred_after": "0001-01-01T00:00:00+14:00"}),
    ],
)
def test_datetime_filters_out_of_range_are_invalid_filters(client_for, dispatcher, url, query):
    field = next(iter(query))

    response = client_for(dispatcher).get(url, query)

    assert_error(response, 400, "invalid_filter", fields=[field])
