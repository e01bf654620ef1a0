import pytest
from django.db import connection


@pytest.fixture
def in_tenant(tenant_a):
    """Run service-level code inside tenant A's schema."""
    connection.set_tenant(tenant_a.tenant)
    yield tenant_a
    connection.set_schema_to_public()


@pytest.fixture
def seed_accounts(api):
    """customer_balance (liability, credit-normal) funded with 1,000,000 from cash (asset)."""
    for body in (
        {"code": "cash", "name": "Cash", "currency": "USD", "normal_side": "debit", "kind": "asset"},
        {"code": "customer_balance", "name": "Customer", "currency": "USD", "normal_side": "credit", "kind": "liability"},
        {"code": "reserved_balance", "name": "Reserved", "currency": "USD", "normal_side": "credit", "kind": "liability"},
        {"code": "eur_cash", "name": "EUR cash", "currency": "EUR", "normal_side": "debit", "kind": "asset"},
    ):
        assert api.post("/v1/accounts", body, format="json").status_code == 201
    r = api.post("/v1/ledger-entries", {"debit": "cash", "credit": "customer_balance", "amount_minor": 1_000_000,
                                        "currency": "USD", "idempotency_key": "fund-1"}, format="json")
    assert r.status_code == 201, r.content
    return api
