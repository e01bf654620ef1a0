"""Ledger data written with tenant A's key is invisible to tenant B's key."""
from tests.ledger.test_entry_post import SEED_CALL


def test_other_tenant_sees_nothing(seed_accounts, tenant_b, api_client):
    entry = seed_accounts.post("/v1/ledger-entries", SEED_CALL, format="json").json()
    b = api_client(tenant_b.api_key.plaintext)
    assert b.get("/v1/ledger-entries").json()["results"] == []
    assert b.get("/v1/accounts").json()["results"] == []
    for path in (f"/v1/ledger-entries/{entry['id']}", f"/v1/ledger-entries/{entry['posting_id']}",
                 "/v1/accounts/customer_balance", "/v1/accounts/customer_balance/statement",
                 "/v1/accounts/customer_balance/balance"):
        r = b.get(path)
        assert r.status_code == 404, path
    # B reusing A's key value is B's own, separate posting boundary: no replay of A's entry.
    r = b.post("/v1/ledger-entries", SEED_CALL, format="json")
    assert r.status_code == 400 and r.json()["code"] == "account_not_found"
