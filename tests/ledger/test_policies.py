import pytest
from django.db import connection

from audit.models import AuditEvent
from ledger.models import LedgerEntry


@pytest.fixture
def guarded(seed_accounts):
    r = seed_accounts.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    assert r.status_code == 201, r.content
    r = seed_accounts.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    assert r.status_code == 200
    return seed_accounts


def test_overdraft_rejected_with_numbers_and_remembered(guarded, tenant_a):
    body = {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 1_000_001,
            "currency": "USD", "idempotency_key": "too-much"}
    r = guarded.post("/v1/ledger-entries", body, format="json")
    assert r.status_code == 422
    p = r.json()
    assert p["code"] == "policy_rejected" and p["policy"] == "no_overdraft" and p["version"] == 1
    assert p["rule"] == "no_negative_available"
    assert p["numbers"]["available"] == 1_000_000 and p["numbers"]["requested"] == 1_000_001
    assert "1000000" in p["detail"] and "1000001" in p["detail"]
    # Money arrives meanwhile; the retry still gets the remembered rejection.
    guarded.post("/v1/ledger-entries", {"debit": "cash", "credit": "customer_balance", "amount_minor": 5,
                                        "currency": "USD", "idempotency_key": "topup"}, format="json")
    again = guarded.post("/v1/ledger-entries", body, format="json")
    assert again.status_code == 422 and again.json() == p and again["Idempotent-Replayed"] == "true"
    connection.set_tenant(tenant_a.tenant)
    assert not LedgerEntry.objects.filter(idempotency_key="too-much").exists()
    assert AuditEvent.objects.filter(action="ledger_entry.create.rejected", target_id="too-much").count() == 1


def test_exact_balance_passes_and_records_decisions(guarded):
    r = guarded.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                            "amount_minor": 1_000_000, "currency": "USD",
                                            "idempotency_key": "all-of-it"}, format="json")
    assert r.status_code == 201
    decisions = {d["policy"]: d for d in r.json()["policy_decisions"]}
    assert decisions["no_overdraft"]["decision"] == "pass" and decisions["no_overdraft"]["available_after"] == 0


def test_overdraft_limit_via_new_version(guarded):
    r = guarded.post("/v1/policies/no_overdraft/versions", {"params": {"overdraft_limit_minor": 500}}, format="json")
    assert r.status_code == 201 and r.json()["version"] == 2
    ok = guarded.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                             "amount_minor": 1_000_500, "currency": "USD",
                                             "idempotency_key": "od-ok"}, format="json")
    assert ok.status_code == 201
    assert {d["policy"]: d["version"] for d in ok.json()["policy_decisions"]}["no_overdraft"] == 2
    no = guarded.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                             "amount_minor": 1, "currency": "USD", "idempotency_key": "od-no"},
                      format="json")
    assert no.status_code == 422
    versions = guarded.get("/v1/policies?name=no_overdraft").json()["results"]
    assert [v["version"] for v in versions] == [2, 1]


def test_incoming_money_never_refused_even_when_negative(guarded):
    guarded.post("/v1/policies/no_overdraft/versions", {"active": False}, format="json")
    guarded.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                        "amount_minor": 2_000_000, "currency": "USD", "idempotency_key": "neg"},
                 format="json")
    guarded.post("/v1/policies/no_overdraft/versions", {"active": True}, format="json")
    r = guarded.post("/v1/ledger-entries", {"debit": "cash", "credit": "customer_balance", "amount_minor": 1,
                                            "currency": "USD", "idempotency_key": "in"}, format="json")
    assert r.status_code == 201


def test_max_amount_and_allowed_currencies(seed_accounts):
    seed_accounts.post("/v1/policies", {"name": "cap", "kind": "max_amount", "applies_to_all": True,
                                        "params": {"max_amount_minor": 1000, "currency": "USD"}}, format="json")
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "cash", "credit": "customer_balance", "amount_minor": 1001,
                                                  "currency": "USD", "idempotency_key": "cap1"}, format="json")
    assert r.status_code == 422 and r.json()["rule"] == "max_amount"
    assert r.json()["numbers"] == {"currency": "USD", "amount_minor": 1001, "max_amount_minor": 1000}
    seed_accounts.post("/v1/policies", {"name": "usd_only", "kind": "allowed_currencies", "applies_to_all": True,
                                        "params": {"currencies": ["USD"]}}, format="json")
    seed_accounts.post("/v1/accounts", {"code": "eur_liab", "name": "E", "currency": "EUR", "normal_side": "credit",
                                         "kind": "liability"}, format="json")
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "eur_cash", "credit": "eur_liab", "amount_minor": 5,
                                                  "currency": "EUR", "idempotency_key": "eur1"}, format="json")
    assert r.status_code == 422 and r.json()["rule"] == "allowed_currencies"


def test_frozen_account_rejected_then_unfrozen(seed_accounts):
    assert seed_accounts.post("/v1/accounts/customer_balance/freeze").json()["status"] == "frozen"
    r = seed_accounts.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                                  "amount_minor": 1, "currency": "USD", "idempotency_key": "fz"},
                           format="json")
    assert r.status_code == 422 and r.json()["code"] == "account_not_open"
    assert seed_accounts.post("/v1/accounts/customer_balance/unfreeze").json()["status"] == "open"


@pytest.mark.parametrize("body", [
    {"name": "x", "kind": "max_amount"},
    {"name": "okname", "kind": "max_amount", "params": {"max_amount_minor": 1.5}},
    {"name": "okname", "kind": "max_amount", "params": {"max_amount_minor": 5, "bogus": 1}},
    {"name": "okname", "kind": "allowed_currencies", "params": {"currencies": ["ZZZ"]}},
    {"name": "okname", "kind": "teleport"},
])
def test_bad_policies(seed_accounts, body):
    r = seed_accounts.post("/v1/policies", body, format="json")
    assert 400 <= r.status_code < 500 and r.json()["code"]
