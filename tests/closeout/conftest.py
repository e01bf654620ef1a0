import pytest


@pytest.fixture
def books(api):
    """cash (asset) and customer (liability) in USD, eur_cash / eur_customer in EUR."""
    for body in (
        {"code": "cash", "name": "Cash", "currency": "USD", "normal_side": "debit", "kind": "asset"},
        {"code": "customer", "name": "Customer", "currency": "USD", "normal_side": "credit", "kind": "liability"},
        {"code": "revenue", "name": "Revenue", "currency": "USD", "normal_side": "credit", "kind": "revenue"},
        {"code": "eur_cash", "name": "EUR cash", "currency": "EUR", "normal_side": "debit", "kind": "asset"},
        {"code": "eur_customer", "name": "EUR customer", "currency": "EUR", "normal_side": "credit",
         "kind": "liability"},
    ):
        assert api.post("/v1/accounts", body, format="json").status_code == 201, body
    return api


def post_entry(api, key, amount, effective_at=None, debit="cash", credit="customer", currency="USD", **extra):
    body = {"debit": debit, "credit": credit, "amount_minor": amount, "currency": currency, "idempotency_key": key,
            **extra}
    if effective_at:
        body["effective_at"] = effective_at
    return api.post("/v1/ledger-entries", body, format="json")
