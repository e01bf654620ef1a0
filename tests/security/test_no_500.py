"""Inputs that used to answer 500: each is now a clear 4xx with a stable code."""
from __future__ import annotations

import base64
import json

import pytest

from tests.console.conftest import console_tenant  # noqa: F401 - fixture
from tests.ledger.conftest import seed_accounts  # noqa: F401 - fixture


def _deep(depth: int) -> dict:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def _deep_text(depth: int) -> str:
    return '{"k": ' * depth + '"leaf"' + "}" * depth


DEEP_BODIES = {
    "/v1/ledger-entries": lambda m: {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 5,
                                     "currency": "USD", "idempotency_key": "deep-entry", "metadata": m},
    "/v1/accounts": lambda m: {"code": "deep_acc", "name": "Deep", "currency": "USD", "normal_side": "debit",
                               "kind": "asset", "metadata": m},
    "/v1/ledger-entries/batch": lambda m: {"entries": [
        {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 5, "currency": "USD",
         "idempotency_key": "deep-batch", "metadata": m}]},
    "/v1/holds": lambda m: {"account": "customer_balance", "amount_minor": 5, "currency": "USD",
                            "idempotency_key": "deep-hold", "metadata": m},
}


@pytest.mark.parametrize("path", sorted(DEEP_BODIES))
@pytest.mark.parametrize("depth", [500, 5000])
def test_deeply_nested_json_is_400_payload_too_deep(seed_accounts, path, depth, caplog):
    body = json.dumps(DEEP_BODIES[path]("__DEEP__")).replace('"__DEEP__"', _deep_text(depth))
    r = seed_accounts.generic("POST", path, body, content_type="application/json")
    assert r.status_code == 400, r.content[:300]
    assert r.json()["code"] == "payload_too_deep"
    assert r["Content-Type"] == "application/problem+json"
    assert all(len(rec.getMessage()) < 2000 for rec in caplog.records)


def test_nesting_within_the_limit_is_accepted(seed_accounts):
    r = seed_accounts.post("/v1/ledger-entries", DEEP_BODIES["/v1/ledger-entries"](_deep(20)), format="json")
    assert r.status_code == 201, r.content


def test_nul_check_is_iterative():
    from core.api import has_nul

    value: object = "x\x00"
    for _ in range(20_000):
        value = [value]
    assert has_nul(value) is True


def test_two_maximal_holds_on_one_account_are_422_balance_overflow(seed_accounts):
    seed_accounts.post("/v1/accounts", {"code": "big_h", "name": "H", "currency": "USD", "normal_side": "credit",
                                         "kind": "liability"}, format="json")
    body = {"account": "big_h", "amount_minor": 2**63 - 1, "currency": "USD"}
    first = seed_accounts.post("/v1/holds", body | {"idempotency_key": "max-hold-1"}, format="json")
    assert first.status_code == 201, first.content
    second = seed_accounts.post("/v1/holds", body | {"idempotency_key": "max-hold-2"}, format="json")
    assert second.status_code == 422, second.content
    assert second.json()["code"] == "balance_overflow"
    assert seed_accounts.get("/v1/accounts/big_h").json()["balances"]["pending"] == 2**63 - 1


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LISTS = ["/v1/accounts", "/v1/ledger-entries", "/v1/holds", "/v1/webhook-endpoints", "/v1/inbound-deliveries",
         "/v1/providers"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", [_cursor("p=1' OR 1=1--"), _cursor("p=99999999999999999999999"),
                                    _cursor("o=x"), _cursor("p=%00"), "not-base64!", _cursor("p=-1&r=2")])
def test_crafted_cursors_are_400_invalid_cursor(seed_accounts, path, cursor):
    r = seed_accounts.get(path, {"cursor": cursor})
    assert r.status_code == 400, (r.status_code, r.content[:300])
    assert r.json()["code"] == "invalid_cursor"


def test_issued_cursors_still_page(seed_accounts):
    first = seed_accounts.get("/v1/accounts?limit=1").json()
    assert first["next"]
    assert seed_accounts.get(first["next"]).status_code == 200


@pytest.mark.parametrize("go", ["../../admin", "2026-01/../x", "a/b", "\x00", "x" * 300])
def test_period_jump_with_a_path_in_it_is_404_not_500(console_tenant, go):
    r = console_tenant.client("viewer1").get("/console/periods/", {"go": go})
    assert r.status_code == 404, r.status_code
    assert b"No such period" in r.content
