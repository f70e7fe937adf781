"""Every customer endpoint needs a signed-in caller and writes nothing for anyone else."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.crm.assertions import assert_error, table_counts
from tests.factories import AccountFactory

ENDPOINTS = [
    ("get", "/api/v1/accounts/"),
    ("post", "/api/v1/accounts/"),
    ("get", "/api/v1/accounts/{account}/"),
    ("patch", "/api/v1/accounts/{account}/"),
    ("post", "/api/v1/accounts/{account}/archive/"),
    ("get", "/api/v1/accounts/{account}/preferences/"),
    ("put", "/api/v1/accounts/{account}/preferences/phone/"),
    ("get", "/api/v1/contacts/"),
    ("post", "/api/v1/contacts/"),
    ("get", "/api/v1/contacts/0000000000000000/"),
    ("patch", "/api/v1/contacts/0000000000000000/"),
    ("post", "/api/v1/contacts/0000000000000000/archive/"),
    ("get", "/api/v1/sites/"),
    ("post", "/api/v1/sites/"),
    ("get", "/api/v1/sites/0000000000000000/"),
    ("patch", "/api/v1/sites/0000000000000000/"),
    ("post", "/api/v1/sites/0000000000000000/archive/"),
    ("get", "/api/v1/assets/"),
    ("post", "/api/v1/assets/"),
    ("get", "/api/v1/assets/0000000000000000/"),
    ("patch", "/api/v1/assets/0000000000000000/"),
    ("post", "/api/v1/assets/0000000000000000/archive/"),
    ("get", "/api/v1/interactions/"),
    ("post", "/api/v1/interactions/"),
    ("get", "/api/v1/interactions/0000000000000000/"),
    ("patch", "/api/v1/interactions/0000000000000000/"),
    ("post", "/api/v1/interactions/0000000000000000/archive/"),
    ("post", "/api/v1/interactions/0000000000000000/promises/"),
    ("patch", "/api/v1/promises/0000000000000000/"),
    ("get", "/api/v1/tiers/"),
    ("post", "/api/v1/tiers/"),
    ("get", "/api/v1/tags/"),
    ("post", "/api/v1/tags/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_signed_out_callers_are_refused(db, method, url):
    account = AccountFactory.create(name="Unchanged")
    before = table_counts()

    response = getattr(APIClient(), method)(
        url.format(account=account.id), {"name": "x"}, format="json"
    )

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert table_counts() == before


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Token abc", "Bearer"])
def test_bad_tokens_are_refused(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/accounts/")

    assert_error(response, 401, "token_invalid")


def test_method_not_allowed_uses_the_envelope(client_for, rep):
    account = AccountFactory.create(owner=rep)
    client = client_for(rep)
    before = table_counts()

    response = client.delete(f"/api/v1/accounts/{account.id}/")

    assert_error(response, 405, "method_not_allowed")
    assert table_counts() == before
