"""One meaning per idempotency key: 1-255 printable ASCII, no leading or
trailing whitespace, on every path that takes one (body or header). HTTP
trims a header's surrounding whitespace, so a body key with it would be a
different key from the same literal sent as a header."""
from __future__ import annotations

import pytest

from ledger.models import Hold, IdempotencyRecord, LedgerEntry
from tests.ledger.test_entry_post import SEED_CALL
from tests.ledger.test_holds import in_schema

BAD = [" ", "idem_a ", " idem_a", "idem_a\t", "\tidem_a", "  ", "x" * 256, "é"]


def _counts(tenant):
    in_schema(tenant)
    return (LedgerEntry.objects.count(), Hold.objects.count(), IdempotencyRecord.objects.count())


@pytest.fixture
def hold_and_entry(seed_accounts):
    h = seed_accounts.post("/v1/holds", {"account": "customer_balance", "amount_minor": 100, "currency": "USD",
                                         "idempotency_key": "grammar-hold"}, format="json").json()
    e = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"idempotency_key": "grammar-entry"},
                           format="json").json()
    return h["id"], e["id"]


def _calls(hold_id, entry_id):
    return {
        "entry": ("/v1/ledger-entries", SEED_CALL),
        "hold": ("/v1/holds", {"account": "customer_balance", "amount_minor": 5, "currency": "USD"}),
        "capture": (f"/v1/holds/{hold_id}/capture", {}),
        "release": (f"/v1/holds/{hold_id}/release", {}),
        "reverse": (f"/v1/ledger-entries/{entry_id}/reverse", {}),
    }


@pytest.mark.parametrize("op", ["entry", "hold", "capture", "release", "reverse", "batch"])
@pytest.mark.parametrize("key", BAD)
def test_keys_outside_the_grammar_are_400_in_the_body(seed_accounts, tenant_a, hold_and_entry, op, key):
    before = _counts(tenant_a)
    if op == "batch":
        r = seed_accounts.post("/v1/ledger-entries/batch",
                               {"mode": "per_item", "entries": [SEED_CALL | {"idempotency_key": key}]}, format="json")
        assert r.status_code in (400, 207, 200), r.content
        body = r.json()
        problem = body if "code" in body else body["results"][0]["body"]
        assert problem["code"] == "idempotency_key_invalid", body
    else:
        path, body = _calls(*hold_and_entry)[op]
        r = seed_accounts.post(path, {k: v for k, v in body.items() if k != "idempotency_key"}
                               | {"idempotency_key": key}, format="json")
        assert r.status_code == 400, r.content
        assert r.json()["code"] == "idempotency_key_invalid"
    assert _counts(tenant_a) == before


@pytest.mark.parametrize("op", ["entry", "hold", "capture", "release", "reverse"])
@pytest.mark.parametrize("key", [" ", "idem_a ", "\tidem_a"])
def test_keys_outside_the_grammar_are_400_in_the_header(seed_accounts, tenant_a, hold_and_entry, op, key):
    before = _counts(tenant_a)
    path, body = _calls(*hold_and_entry)[op]
    r = seed_accounts.post(path, {k: v for k, v in body.items() if k != "idempotency_key"}, format="json",
                           HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "idempotency_key_invalid"
    assert _counts(tenant_a) == before


def test_one_literal_key_sent_each_way_posts_once(seed_accounts, tenant_a):
    body = {k: v for k, v in SEED_CALL.items() if k != "idempotency_key"}
    # What a client sends as `Idempotency-Key: idem_a ` arrives trimmed.
    first = seed_accounts.post("/v1/ledger-entries", body, format="json", HTTP_IDEMPOTENCY_KEY="idem_a")
    assert first.status_code == 201
    before = _counts(tenant_a)
    second = seed_accounts.post("/v1/ledger-entries", body | {"idempotency_key": "idem_a "}, format="json")
    assert second.status_code == 400 and second.json()["code"] == "idempotency_key_invalid"
    assert _counts(tenant_a) == before


@pytest.mark.parametrize("key", ["a", "a b", "~" * 255, "order 42 / try 1"])
def test_keys_inside_the_grammar_are_accepted(seed_accounts, key):
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"idempotency_key": key}, format="json")
    assert r.status_code == 201, r.content


def test_the_grammar_is_in_the_openapi_schema(api):
    import yaml

    schema = yaml.safe_load(api.get("/v1/schema").content)
    field = schema["components"]["schemas"]["EntryInRequest"]["properties"]["idempotency_key"]
    # allow_blank adds a `maxLength: 0` alternative: "" is idempotency_key_missing, not another key.
    (pattern,) = [alt["pattern"] for alt in field.get("oneOf", [field]) if "pattern" in alt]
    assert pattern == r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
    header = next(p for p in schema["paths"]["/v1/ledger-entries"]["post"]["parameters"]
                  if p["name"] == "Idempotency-Key")
    assert header["schema"]["pattern"] == pattern
