"""Bad input: a clear 4xx with a stable code, nothing written, never a 500."""
import pytest

from tests.ledger.test_entry_post import SEED_CALL, rows
from core.actors import Actor


@pytest.mark.parametrize("amount", [1.5, 1.0, "125000", "12.5", 0, -1, 2**63, True, None, [1], {"v": 1}, 1e3])
def test_bad_amounts(seed_accounts, tenant_a, amount):
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"amount_minor": amount, "idempotency_key": "bad-amt"},
                           format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] in {"invalid_amount", "validation_error"}
    assert rows(tenant_a.tenant) == before


def test_max_amount_is_accepted_when_the_balance_can_hold_it(seed_accounts):
    seed_accounts.post("/v1/accounts", {"code": "big_a", "name": "A", "currency": "USD", "normal_side": "debit",
                                         "kind": "asset"}, format="json")
    seed_accounts.post("/v1/accounts", {"code": "big_b", "name": "B", "currency": "USD", "normal_side": "credit",
                                         "kind": "liability"}, format="json")
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "big_a", "credit": "big_b", "amount_minor": 2**63 - 1,
                                                  "currency": "USD", "idempotency_key": "max-1"}, format="json")
    assert r.status_code == 201
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "big_a", "credit": "big_b", "amount_minor": 1,
                                                  "currency": "USD", "idempotency_key": "max-2"}, format="json")
    assert r.status_code == 422 and r.json()["code"] == "balance_overflow"


def test_unbalanced_lines(seed_accounts, tenant_a):
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", {"idempotency_key": "unb", "lines": [
        {"account": "customer_balance", "side": "debit", "amount_minor": 100, "currency": "USD"},
        {"account": "reserved_balance", "side": "credit", "amount_minor": 99, "currency": "USD"},
    ]}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "unbalanced_entry"
    assert r.json()["imbalance"] == {"USD": 1}
    assert rows(tenant_a.tenant) == before


def test_balanced_per_currency_not_overall(seed_accounts):
    r = seed_accounts.post("/v1/ledger-entries", {"idempotency_key": "xcur", "lines": [
        {"account": "cash", "side": "debit", "amount_minor": 100, "currency": "USD"},
        {"account": "eur_cash", "side": "credit", "amount_minor": 100, "currency": "EUR"},
    ]}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "unbalanced_entry"


@pytest.mark.parametrize("patch,code", [
    ({"debit": "nope"}, "account_not_found"),
    ({"debit": 999999}, "account_not_found"),
    ({"currency": "XXX"}, "unknown_currency"),
    ({"currency": "usd"}, "unknown_currency"),
    ({"currency": "EUR"}, "currency_mismatch"),
    ({"surprise": 1}, "unknown_field"),
    ({"debit": ""}, "validation_error"),
    ({"metadata": "not-an-object"}, "validation_error"),
    ({"effective_at": "yesterday"}, "validation_error"),
])
def test_bad_fields(seed_accounts, tenant_a, patch, code):
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"idempotency_key": "bad"} | patch, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == code
    assert rows(tenant_a.tenant) == before


def test_shorthand_and_lines_together_or_partial(seed_accounts):
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"lines": []}, format="json")
    assert r.status_code == 400
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "cash", "idempotency_key": "p"}, format="json")
    assert r.status_code == 400


@pytest.mark.parametrize("n", [0, 1, 501])
def test_line_counts(seed_accounts, tenant_a, n):
    lines = [{"account": "cash", "side": "debit", "amount_minor": 1, "currency": "USD"} for _ in range(n)]
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", {"idempotency_key": f"n{n}", "lines": lines}, format="json")
    assert r.status_code == 400
    assert r.json()["code"] in {"too_many_lines", "validation_error"}
    assert rows(tenant_a.tenant) == before


def test_500_lines_are_fine(seed_accounts):
    lines = [{"account": "cash", "side": "debit", "amount_minor": 2, "currency": "USD"} for _ in range(250)]
    lines += [{"account": "customer_balance", "side": "credit", "amount_minor": 2, "currency": "USD"} for _ in range(250)]
    r = seed_accounts.post("/v1/ledger-entries", {"idempotency_key": "n500", "lines": lines}, format="json")
    assert r.status_code == 201
    assert r.json()["lines"][-1]["balance_after"] == 1_000_000 + 500


@pytest.mark.parametrize("payload,ctype,status", [
    ("{not json", "application/json", 400),
    ("[]", "application/json", 400),
    ("amount=1", "application/x-www-form-urlencoded", 415),
    ('"a string"', "application/json", 400),
])
def test_malformed_bodies(seed_accounts, payload, ctype, status):
    r = seed_accounts.post("/v1/ledger-entries", payload, content_type=ctype)
    assert r.status_code == status
    assert r["Content-Type"] == "application/problem+json"


def test_closed_account_is_refused_and_remembered(seed_accounts, tenant_a):
    seed_accounts.post("/v1/accounts", {"code": "old", "name": "Old", "currency": "USD", "normal_side": "credit",
                                         "kind": "liability"}, format="json")
    assert seed_accounts.post("/v1/accounts/old/close").status_code == 200
    body = {"debit": "cash", "credit": "old", "amount_minor": 5, "currency": "USD", "idempotency_key": "to-closed"}
    r = seed_accounts.post("/v1/ledger-entries", body, format="json")
    assert r.status_code == 422 and r.json()["code"] == "account_not_open"
    again = seed_accounts.post("/v1/ledger-entries", body, format="json")
    assert again.json() == r.json() and again["Idempotent-Replayed"] == "true"


def test_closing_an_account_with_balance_is_refused(seed_accounts):
    r = seed_accounts.post("/v1/accounts/customer_balance/close")
    assert r.status_code == 409 and r.json()["code"] == "account_has_balance"


def test_read_key_cannot_post(seed_accounts, tenant_a, api_client):
    from tenants.services.api_keys import api_key_create

    ro = api_key_create(actor=Actor.system("tests"), tenant=tenant_a.tenant, name="ro", scopes=["ledger:read"])
    r = api_client(ro.plaintext).post("/v1/ledger-entries", SEED_CALL, format="json")
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
