"""Reversals: the mirror entry, linked both ways; full at most once; partial
reversals exact and never above the original, also under concurrency and
against raw SQL."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connection, connections, transaction
from rest_framework.test import APIClient

from audit.models import AuditEvent
from ledger.checks import ledger_check
from ledger.models import IdempotencyRecord, LedgerEntry, LedgerLine
from events.models import Event


def post(api, key, amount=10_000, debit="customer_balance", credit="reserved_balance"):
    r = api.post("/v1/ledger-entries", {"debit": debit, "credit": credit, "amount_minor": amount, "currency": "USD",
                                        "idempotency_key": key}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def reverse(api, entry_ref, key, **extra):
    return api.post(f"/v1/ledger-entries/{entry_ref}/reverse", {"idempotency_key": key} | extra, format="json")


def posted(api, code):
    return api.get(f"/v1/accounts/{code}").json()["balances"]["posted"]


def rows(tenant):
    connection.set_tenant(tenant.tenant)
    try:
        return (LedgerEntry.objects.count(), LedgerLine.objects.count(), IdempotencyRecord.objects.count(),
                Event.objects.count(), AuditEvent.objects.count())
    finally:
        connection.set_schema_to_public()


def check_ok(tenant):
    connection.set_tenant(tenant.tenant)
    try:
        assert ledger_check() == []
    finally:
        connection.set_schema_to_public()


def test_full_reversal_mirrors_and_links_both_ways(seed_accounts, tenant_a):
    api = seed_accounts
    e = post(api, "r-orig")
    r = reverse(api, e["posting_id"], "r-rev", description="customer refund")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "reversal" and body["reversal_of"] == e["id"] and body["event"] == "ledger.entry.reversed"
    assert [(ln["account"], ln["side"], ln["amount_minor"]) for ln in body["lines"]] == [
        ("customer_balance", "credit", 10_000), ("reserved_balance", "debit", 10_000)]
    assert body["reversal"] == {"original_id": e["id"], "original_posting_id": e["posting_id"], "amount_minor": 10_000,
                                "original_total_minor": 10_000, "reversed_total_minor": 10_000, "remaining_minor": 0,
                                "fully_reversed": True}
    assert posted(api, "customer_balance") == 1_000_000 and posted(api, "reserved_balance") == 0
    original = api.get(f"/v1/ledger-entries/{e['id']}").json()
    assert [x["id"] for x in original["reversals"]] == [body["id"]]
    assert original["reversed_minor"] == 10_000 and original["fully_reversed"] is True
    assert api.get(f"/v1/ledger-entries/{body['id']}").json()["reversal_of"] == e["id"]

    before = rows(tenant_a)
    replay = reverse(api, e["id"], "r-rev", description="customer refund")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true" and replay.json() == body
    twice = reverse(api, e["id"], "r-rev-2")
    assert twice.status_code == 409 and twice.json()["code"] == "entry_already_reversed"
    reused = reverse(api, e["id"], "r-rev", amount_minor=5)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    of_reversal = reverse(api, body["id"], "r-rev-3")
    assert of_reversal.status_code == 422 and of_reversal.json()["code"] == "cannot_reverse_reversal"
    assert rows(tenant_a) == before
    connection.set_tenant(tenant_a.tenant)
    event = Event.objects.get(type="ledger.entry.reversed")
    assert event.payload["reversal_of"] == e["id"] and event.payload["reversal"]["fully_reversed"] is True
    assert AuditEvent.objects.filter(action="ledger_entry.reversed", target_id=str(body["id"])).count() == 1
    assert IdempotencyRecord.objects.get(key="r-rev").operation == "ledger_entry.reverse"
    connection.set_schema_to_public()
    check_ok(tenant_a)


def test_partial_reversals_add_up_and_never_exceed(seed_accounts, tenant_a):
    api = seed_accounts
    e = post(api, "p-orig", amount=1000)
    r1 = reverse(api, e["id"], "p-1", amount_minor=300)
    assert r1.status_code == 201 and r1.json()["reversal"]["remaining_minor"] == 700
    r2 = reverse(api, e["id"], "p-2", amount_minor=200)
    assert r2.status_code == 201 and r2.json()["reversal"]["reversed_total_minor"] == 500
    over = reverse(api, e["id"], "p-3", amount_minor=501)
    assert over.status_code == 422 and over.json()["code"] == "reversal_exceeds_original"
    assert over.json()["remaining_minor"] == 500
    rest = reverse(api, e["id"], "p-4")  # no amount: whatever is left
    assert rest.status_code == 201 and rest.json()["reversal"]["amount_minor"] == 500
    assert rest.json()["reversal"]["fully_reversed"] is True
    assert reverse(api, e["id"], "p-5", amount_minor=1).json()["code"] == "entry_already_reversed"
    assert posted(api, "reserved_balance") == 0
    detail = api.get(f"/v1/ledger-entries/{e['id']}").json()
    assert [x["amount_minor"] for x in detail["reversals"]] == [300, 200, 500] and detail["fully_reversed"]
    check_ok(tenant_a)


def test_partial_reversal_of_a_multi_line_entry_scales_exactly_or_refuses(seed_accounts, tenant_a):
    api = seed_accounts
    r = api.post("/v1/ledger-entries", {"idempotency_key": "m-orig", "lines": [
        {"account": "customer_balance", "side": "debit", "amount_minor": 1000, "currency": "USD"},
        {"account": "reserved_balance", "side": "credit", "amount_minor": 700, "currency": "USD"},
        {"account": "cash", "side": "credit", "amount_minor": 300, "currency": "USD"},
    ]}, format="json")
    e = r.json()
    inexact = reverse(api, e["id"], "m-1", amount_minor=15)  # 700*15/1000 = 10.5
    assert inexact.status_code == 422 and inexact.json()["code"] == "partial_reversal_inexact"
    ok = reverse(api, e["id"], "m-2", amount_minor=100)
    assert ok.status_code == 201, ok.content
    assert sorted((ln["account"], ln["side"], ln["amount_minor"]) for ln in ok.json()["lines"]) == [
        ("cash", "debit", 30), ("customer_balance", "credit", 100), ("reserved_balance", "debit", 70)]
    rest = reverse(api, e["id"], "m-3")
    assert sorted(ln["amount_minor"] for ln in rest.json()["lines"]) == [270, 630, 900]
    check_ok(tenant_a)


def test_multi_currency_entries_reverse_only_in_full(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/accounts", {"code": "eur_liab", "name": "EUR", "currency": "EUR", "normal_side": "credit",
                              "kind": "liability"}, format="json")
    e = api.post("/v1/ledger-entries", {"idempotency_key": "fx", "lines": [
        {"account": "cash", "side": "debit", "amount_minor": 100, "currency": "USD"},
        {"account": "customer_balance", "side": "credit", "amount_minor": 100, "currency": "USD"},
        {"account": "eur_cash", "side": "debit", "amount_minor": 90, "currency": "EUR"},
        {"account": "eur_liab", "side": "credit", "amount_minor": 90, "currency": "EUR"},
    ]}, format="json").json()
    part = reverse(api, e["id"], "fx-1", amount_minor=50)
    assert part.status_code == 422 and part.json()["code"] == "partial_reversal_unsupported"
    full = reverse(api, e["id"], "fx-2")
    assert full.status_code == 201 and len(full.json()["lines"]) == 4
    check_ok(tenant_a)


def test_reversal_goes_through_policies_and_is_remembered(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    funding = api.get("/v1/ledger-entries?idempotency_key=fund-1").json()["results"][0]
    post(api, "spend", amount=600_000)
    r = reverse(api, funding["id"], "undo-funding")
    assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
    again = reverse(api, funding["id"], "undo-funding")
    assert again["Idempotent-Replayed"] == "true" and again.json() == r.json()
    check_ok(tenant_a)


@pytest.mark.parametrize("ref,body,status,code", [
    ("999999", {"idempotency_key": "x"}, 404, "entry_not_found"),
    ("pst_nope", {"idempotency_key": "x"}, 404, "entry_not_found"),
    ("{id}", {"idempotency_key": "x", "amount_minor": 1.5}, 400, "invalid_amount"),
    ("{id}", {"idempotency_key": "x", "amount_minor": "5"}, 400, "invalid_amount"),
    ("{id}", {"idempotency_key": "x", "amount_minor": 0}, 400, "invalid_amount"),
    ("{id}", {"idempotency_key": "x", "amount_minor": 10_001}, 422, "reversal_exceeds_original"),
    ("{id}", {}, 400, "idempotency_key_missing"),
    ("{id}", {"idempotency_key": "x", "lines": []}, 400, "unknown_field"),
])
def test_bad_reversal_requests_write_nothing(seed_accounts, tenant_a, ref, body, status, code):
    api = seed_accounts
    e = post(api, "bad-orig")
    before = rows(tenant_a)
    r = api.post(f"/v1/ledger-entries/{ref.format(id=e['id'])}/reverse", body, format="json")
    assert (r.status_code, r.json()["code"]) == (status, code), r.content
    assert rows(tenant_a) == before


@pytest.mark.slow
def test_concurrent_partial_reversals_never_exceed_the_original(seed_accounts, tenant_a):
    key = tenant_a.api_key.plaintext
    e = post(seed_accounts, "c-orig", amount=1000)
    barrier = threading.Barrier(12)

    def call(i):
        try:
            c = APIClient()
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            barrier.wait(timeout=30)
            return c.post(f"/v1/ledger-entries/{e['id']}/reverse", {"idempotency_key": f"c-{i}", "amount_minor": 300},
                          format="json").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(call, range(12)))
    assert sorted(statuses) == [201] * 3 + [422] * 9
    detail = seed_accounts.get(f"/v1/ledger-entries/{e['id']}").json()
    assert detail["reversed_minor"] == 900
    check_ok(tenant_a)


def test_database_refuses_over_reversal_without_the_service(seed_accounts, tenant_a):
    api = seed_accounts
    e = post(api, "db-orig", amount=100)
    assert reverse(api, e["id"], "db-rev", amount_minor=60).status_code == 201
    connection.set_tenant(tenant_a.tenant)
    ids = dict(LedgerLine.objects.filter(entry_id=e["id"]).values_list("side", "account_id"))

    def raw_reversal(key, amount, kind="reversal", reversal_of=e["id"]):
        with pytest.raises(DatabaseError) as exc:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference,"
                    " source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref,"
                    " correlation_id, policy_decisions, line_count, reversal_of_id) VALUES (%s, %s, %s, 'h', '', '', '',"
                    " now(), now(), '{}', 'system', 'sql', 'c', '[]', 2, %s) RETURNING id",
                    [f"pst_{key}", kind, key, reversal_of])
                new = cur.fetchone()[0]
                cur.execute("INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
                            "(%s, %s, 'credit', %s, 'USD'), (%s, %s, 'debit', %s, 'USD')",
                            [new, ids["debit"], amount, new, ids["credit"], amount])
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        return str(exc.value)

    try:
        assert "reversals of entry" in raw_reversal("raw-1", 41)
        assert "ledgerentry_reversal_link" in raw_reversal("raw-2", 10, kind="standard")
        assert ledger_check() == []
    finally:
        connection.set_schema_to_public()
