import pytest

from ledger.models import IdempotencyRecord, LedgerEntry, LedgerLine

SEED_CALL = {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 125000,
             "currency": "USD", "idempotency_key": "led_8172"}


def rows(tenant):
    from django.db import connection

    connection.set_tenant(tenant)
    try:
        return LedgerEntry.objects.count(), LedgerLine.objects.count(), IdempotencyRecord.objects.count()
    finally:
        connection.set_schema_to_public()


def test_seed_call_posts_and_answers_the_contract(seed_accounts, tenant_a):
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL, format="json", HTTP_X_CORRELATION_ID="corr-42")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "posted"
    assert body["posting_id"].startswith("pst_")
    assert body["event"] == "ledger.entry.created" and body["event_id"].startswith("evt_")
    assert body["correlation_id"] == "corr-42" and r["X-Correlation-Id"] == "corr-42"
    assert body["idempotency_key"] == "led_8172"
    assert [(ln["account"], ln["side"], ln["amount_minor"]) for ln in body["lines"]] == [
        ("customer_balance", "debit", 125000), ("reserved_balance", "credit", 125000)]
    balances = {b["account"]: b for b in body["balances"]}
    # The seed's ledger flow: Customer -125000, Reserved +125000 (on top of the 1,000,000 funding).
    assert balances["customer_balance"]["posted"] == 1_000_000 - 125000
    assert balances["reserved_balance"]["posted"] == 125000
    assert balances["reserved_balance"]["available"] == 125000
    assert body["actor"].startswith("api_key:")
    assert "Idempotent-Replayed" not in r


def test_lines_form_with_ids_and_codes(seed_accounts):
    cust = seed_accounts.get("/v1/accounts/customer_balance").json()
    r = seed_accounts.post("/v1/ledger-entries", {
        "lines": [
            {"account": cust["id"], "side": "debit", "amount_minor": 300, "currency": "USD"},
            {"account": "reserved_balance", "side": "credit", "amount_minor": 100, "currency": "USD"},
            {"account": "reserved_balance", "side": "credit", "amount_minor": 200, "currency": "USD"},
        ],
        "external_reference": "ch_1", "source_event": "evt_stripe_1", "description": "three lines",
        "effective_at": "2026-11-01T10:00:00Z", "metadata": {"order": "o-1"},
    }, format="json", HTTP_IDEMPOTENCY_KEY="lines-1")
    assert r.status_code == 201, r.content
    body = r.json()
    assert [ln["balance_after"] for ln in body["lines"]] == [1_000_000 - 300, 100, 300]
    assert body["effective_at"] == "2026-11-01T10:00:00Z"
    got = seed_accounts.get(f"/v1/ledger-entries/{body['id']}").json()
    assert got["posting_id"] == body["posting_id"] and got["lines"] == body["lines"]
    assert seed_accounts.get(f"/v1/ledger-entries/{body['posting_id']}").json()["id"] == body["id"]


def test_replay_returns_original_and_writes_nothing(seed_accounts, tenant_a):
    first = seed_accounts.post("/v1/ledger-entries", SEED_CALL, format="json")
    before = rows(tenant_a.tenant)
    again = seed_accounts.post("/v1/ledger-entries", SEED_CALL, format="json", HTTP_X_CORRELATION_ID="retry")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert rows(tenant_a.tenant) == before
    from django.db import connection

    connection.set_tenant(tenant_a.tenant)
    rec = IdempotencyRecord.objects.get(key="led_8172")
    assert rec.replay_count == 1 and rec.last_replayed_at is not None
    assert rec.replays[0]["correlation_id"] == "retry"


def test_key_in_header_equals_key_in_body(seed_accounts):
    body = {k: v for k, v in SEED_CALL.items() if k != "idempotency_key"}
    first = seed_accounts.post("/v1/ledger-entries", body, format="json", HTTP_IDEMPOTENCY_KEY="hdr-1")
    again = seed_accounts.post("/v1/ledger-entries", body | {"idempotency_key": "hdr-1"}, format="json")
    assert first.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_same_key_different_body_is_422_and_writes_nothing(seed_accounts, tenant_a):
    seed_accounts.post("/v1/ledger-entries", SEED_CALL, format="json")
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"amount_minor": 125001}, format="json")
    assert r.status_code == 422
    assert r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "idempotency_key_reused"
    assert rows(tenant_a.tenant) == before


@pytest.mark.parametrize("headers,body_key,code", [
    ({}, None, "idempotency_key_missing"),
    ({}, "", "idempotency_key_missing"),
    ({}, "x" * 256, "idempotency_key_invalid"),
    ({}, "tab\there", "idempotency_key_invalid"),
    ({}, "ключ", "idempotency_key_invalid"),
    ({"HTTP_IDEMPOTENCY_KEY": "a"}, "b", "idempotency_key_invalid"),
])
def test_bad_keys(seed_accounts, tenant_a, headers, body_key, code):
    body = {k: v for k, v in SEED_CALL.items() if k != "idempotency_key"}
    if body_key is not None:
        body["idempotency_key"] = body_key
    before = rows(tenant_a.tenant)
    r = seed_accounts.post("/v1/ledger-entries", body, format="json", **headers)
    assert r.status_code == 400 and r.json()["code"] == code
    assert rows(tenant_a.tenant) == before


def test_key_of_255_printable_chars_is_fine(seed_accounts):
    r = seed_accounts.post("/v1/ledger-entries", SEED_CALL | {"idempotency_key": "~" * 255}, format="json")
    assert r.status_code == 201


@pytest.mark.parametrize("kind", ["posted", "rejected"])
def test_a_replay_answers_the_same_bytes(seed_accounts, tenant_a, kind):
    """The record keeps the body as jsonb, which orders an object's keys its
    own way; the first answer goes out in that order too, so a replay is the
    original body byte for byte, not only the same JSON."""
    call = dict(SEED_CALL, idempotency_key=f"bytes-{kind}")
    if kind == "rejected":
        assert seed_accounts.post("/v1/policies", {"name": "cap", "kind": "max_amount", "applies_to_all": True,
                                                   "params": {"max_amount_minor": 1000}}, format="json").status_code == 201
    for attempt in range(2):  # the second over accounts the process has read: the one-statement path
        call["idempotency_key"] = f"bytes-{kind}-{attempt}"
        first = seed_accounts.post("/v1/ledger-entries", call, format="json")
        again = seed_accounts.post("/v1/ledger-entries", call, format="json")
        assert first.status_code == again.status_code == (201 if kind == "posted" else 422), first.content
        assert again["Idempotent-Replayed"] == "true"
        assert again.content == first.content


def test_posting_event_and_correlation_ids_grow_with_time(seed_accounts):
    """The ids every posting indexes are time-ordered, so their unique
    indexes take inserts at the right edge (see core.ids)."""
    import time

    bodies = []
    for i in range(5):
        r = seed_accounts.post("/v1/ledger-entries", {
            "debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 1 + i,
            "currency": "USD", "idempotency_key": f"ordered-{i}"}, format="json")
        assert r.status_code == 201, r.content
        bodies.append(r.json())
        time.sleep(0.002)
    for field in ("posting_id", "event_id", "correlation_id"):
        values = [b[field] for b in bodies]
        assert values == sorted(values) and len(set(values)) == 5, (field, values)
