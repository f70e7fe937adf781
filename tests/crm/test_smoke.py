from tests.factories import AccountFactory, SiteFactory


def test_rep_lists_own_accounts(client_for, rep, other_rep):
    mine = AccountFactory(owner=rep)
    SiteFactory(account=mine, is_primary=True)
    AccountFactory(owner=other_rep)
    response = client_for(rep).get("/api/v1/accounts/")
    assert response.status_code == 200, response.content
    assert [a["id"] for a in response.json()["results"]] == [mine.id]
