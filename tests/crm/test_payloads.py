"""The account list is built from ``.values()`` rows; it must match ``AccountOutput`` exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from crm import selectors
from crm.models import Account
from crm.serializers import AccountOutput
from tests.factories import AccountFactory, SiteFactory, TagFactory, TierFactory


@pytest.mark.parametrize("role_fixture", ["finance", "dispatcher"])
def test_list_payload_equals_the_serializer(request, client_for, role_fixture):
    user = request.getfixturevalue(role_fixture)
    # given accounts with and without tier, tags, archived and live sites, secrets, odd values
    tier = TierFactory.create()
    tags = [TagFactory.create(name=name) for name in ("zeta", "alpha")]
    full = AccountFactory.create(
        tier=tier,
        national_id="FR12345678901",
        bank_account="FR7612345",
        notes="ünïcødé ✓",
        archived_at=None,
    )
    full.tags.set(tags)
    SiteFactory.create(account=full, is_primary=True, name="B", latitude=0.0, longitude=0.0)
    SiteFactory.create(account=full, name="A", latitude=None, longitude=None)
    SiteFactory.create(
        account=full, name="gone", archived_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    AccountFactory.create(tier=None, national_id="", bank_account="short")

    # when the list endpoint answers
    response = client_for(user).get("/api/v1/accounts/")

    # then every account equals what AccountOutput renders for it
    expected = AccountOutput(
        [selectors.account_detail(a) for a in Account.objects.order_by("-created_at", "-id")],
        many=True,
        context={"can_view_sensitive": role_fixture == "finance"},
    ).data
    assert response.json()["results"] == [dict(item) for item in expected]
