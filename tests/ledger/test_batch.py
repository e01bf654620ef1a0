"""Batch posting: atomic (all or nothing, zero rows on failure) and per-item
(each its own boundary result), item keys with replay semantics."""
import pytest
from django.db import connection

from audit.models import AuditEvent
from ledger.checks import ledger_check
from ledger.models import IdempotencyRecord, LedgerEntry, LedgerLine
from events.models import Event


def item(key, amount=100, debit="customer_balance", credit="reserved_balance", **extra):
    return {"debit": debit, "credit": credit, "amount_minor": amount, "currency": "USD", "idempotency_key": key} | extra


def batch(api, entries, mode="atomic"):
    return api.post("/v1/ledger-entries/batch", {"mode": mode, "entries": entries}, format="json")


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


def posted(api, code):
    return api.get(f"/v1/accounts/{code}").json()["balances"]["posted"]


def test_atomic_batch_posts_all_with_running_balances(seed_accounts, tenant_a):
    api = seed_accounts
    entries = [item(f"a-{i}", amount=i + 1) for i in range(50)]
    entries[7] = {"idempotency_key": "a-7", "external_reference": "ref-7", "lines": [
        {"account": "customer_balance", "side": "debit", "amount_minor": 8, "currency": "USD"},
        {"account": "cash", "side": "credit", "amount_minor": 8, "currency": "USD"}]}
    before = rows(tenant_a)
    r = batch(api, entries)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["mode"], body["count"], body["posted"], body["replayed"], body["failed"]) == ("atomic", 50, 50, 0, 0)
    assert body["batch_id"].startswith("bat_")
    results = body["results"]
    assert [x["index"] for x in results] == list(range(50)) and all(x["status"] == 201 for x in results)
    running = 1_000_000
    for i, x in enumerate(results):
        running -= i + 1
        cust = [ln for ln in x["body"]["lines"] if ln["account"] == "customer_balance"][0]
        assert cust["balance_after"] == running
        assert {b["account"]: b["posted"] for b in x["body"]["balances"]}["customer_balance"] == running
        assert x["body"]["event"] == "ledger.entry.created"
    assert posted(api, "customer_balance") == 1_000_000 - sum(range(1, 51))
    assert rows(tenant_a) == tuple(b + n for b, n in zip(before, (50, 100, 50, 50, 50)))
    # A batch item and a single post with the same key and body are the same request.
    single = api.post("/v1/ledger-entries", item("a-3", amount=4), format="json")
    assert single["Idempotent-Replayed"] == "true" and single.json() == results[3]["body"]
    got = api.get(f"/v1/ledger-entries/{results[7]['body']['id']}").json()
    assert got["external_reference"] == "ref-7" and got["lines"] == results[7]["body"]["lines"]
    connection.set_tenant(tenant_a.tenant)
    assert AuditEvent.objects.filter(action="ledger_entry.posted", metadata__batch_id=body["batch_id"]).count() == 50
    connection.set_schema_to_public()
    check_ok(tenant_a)


def test_atomic_batch_replays_whole_and_mixes_new_items(seed_accounts, tenant_a):
    api = seed_accounts
    first = batch(api, [item("x-1"), item("x-2")]).json()
    before = rows(tenant_a)
    again = batch(api, [item("x-1"), item("x-2")])
    assert again.status_code == 201 and again.json()["replayed"] == 2 and again.json()["posted"] == 0
    assert [x["body"] for x in again.json()["results"]] == [x["body"] for x in first["results"]]
    assert rows(tenant_a) == before
    mixed = batch(api, [item("x-1"), item("x-3")]).json()
    assert [x["replayed"] for x in mixed["results"]] == [True, False]
    connection.set_tenant(tenant_a.tenant)
    assert IdempotencyRecord.objects.get(key="x-1").replay_count == 2
    connection.set_schema_to_public()
    check_ok(tenant_a)


@pytest.mark.parametrize("bad,status,code", [
    (item("f-3", amount=1.5), 400, "invalid_amount"),
    (item("f-3", debit="nope"), 400, "account_not_found"),
    (item("f-3", currency="EUR"), 400, "currency_mismatch"),
    ({"idempotency_key": "f-3", "lines": [
        {"account": "cash", "side": "debit", "amount_minor": 5, "currency": "USD"},
        {"account": "customer_balance", "side": "credit", "amount_minor": 4, "currency": "USD"}]}, 400,
     "unbalanced_entry"),
    ({k: v for k, v in item("f-3").items() if k != "idempotency_key"}, 400, "idempotency_key_missing"),
    (item("f-3", amount=5_000_000), 422, "policy_rejected"),
    (item("f-3", color="red"), 400, "unknown_field"),
    ("not an object", 400, "validation_error"),
])
def test_atomic_batch_fails_whole_naming_the_item(seed_accounts, tenant_a, bad, status, code):
    api = seed_accounts
    api.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    before = rows(tenant_a)
    r = batch(api, [item("f-0"), item("f-1"), item("f-2"), bad, item("f-4")])
    assert r.status_code == status, r.content
    problem = r.json()
    assert problem["code"] == code and problem["item_index"] == 3, problem
    assert "Entry 3 of the batch" in problem["detail"]
    assert rows(tenant_a) == before  # zero rows: not even the keys
    # Nothing remembered: the corrected batch reuses every key.
    ok = batch(api, [item("f-0"), item("f-1"), item("f-2"), item("f-3"), item("f-4")])
    assert ok.status_code == 201 and ok.json()["posted"] == 5


def test_atomic_batch_policies_see_earlier_items(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    r = batch(api, [item(f"s-{i}", amount=300_000) for i in range(4)])
    assert r.status_code == 422 and r.json()["item_index"] == 3
    assert "100000 USD available" in r.json()["detail"]
    assert posted(api, "customer_balance") == 1_000_000


def test_atomic_batch_with_a_reused_or_rejected_key(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/ledger-entries", item("k-used", amount=7), format="json")
    r = batch(api, [item("k-new"), item("k-used", amount=8)])
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused" and r.json()["item_index"] == 1
    api.post("/v1/policies", {"name": "cap", "kind": "max_amount", "params": {"max_amount_minor": 1000}},
             format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["cap"]}, format="json")
    rejected = api.post("/v1/ledger-entries", item("k-rej", amount=5000), format="json")
    assert rejected.status_code == 422
    r2 = batch(api, [item("k-new"), item("k-rej", amount=5000)])
    assert r2.status_code == 422 and r2.json()["code"] == "policy_rejected" and r2.json()["item_index"] == 1
    connection.set_tenant(tenant_a.tenant)
    assert not IdempotencyRecord.objects.filter(key="k-new").exists()
    connection.set_schema_to_public()


def test_per_item_batch_answers_each_item(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    api.post("/v1/ledger-entries", item("pi-old", amount=5), format="json")
    entries = [item("pi-0"), item("pi-1", amount=2_000_000), item("pi-2", amount=1.5), item("pi-old", amount=5),
               item("pi-old2", debit="nope"), item("pi-5")]
    r = batch(api, entries, mode="per_item")
    assert r.status_code == 200, r.content
    body = r.json()
    got = [(x["status"], x["replayed"], x["body"].get("code")) for x in body["results"]]
    assert got == [(201, False, None), (422, False, "policy_rejected"), (400, False, "invalid_amount"),
                   (201, True, None), (400, False, "account_not_found"), (201, False, None)]
    assert (body["posted"], body["replayed"], body["failed"]) == (2, 1, 3)
    # The rejection is remembered like any single post's; the 400s are not.
    again = api.post("/v1/ledger-entries", item("pi-1", amount=2_000_000), format="json")
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert api.post("/v1/ledger-entries", item("pi-old2"), format="json").status_code == 201
    check_ok(tenant_a)


@pytest.mark.parametrize("mode", ["atomic", "per_item"])
def test_batch_shape_errors(seed_accounts, tenant_a, mode):
    api = seed_accounts
    before = rows(tenant_a)
    r = batch(api, [item(f"big-{i}") for i in range(1001)], mode=mode)
    assert r.status_code == 400 and r.json()["code"] == "batch_too_large"
    dup = batch(api, [item("d-1"), item("d-2"), item("d-1"), item("d-2", amount=5)], mode=mode)
    assert dup.status_code == 400 and dup.json()["code"] == "batch_duplicate_keys"
    assert dup.json()["duplicates"] == [{"idempotency_key": "d-1", "items": [0, 2]},
                                        {"idempotency_key": "d-2", "items": [1, 3]}]
    assert batch(api, [], mode=mode).json()["code"] == "validation_error"
    assert api.post("/v1/ledger-entries/batch", {"mode": mode, "entries": [item("z")], "x": 1},
                    format="json").json()["code"] == "unknown_field"
    assert rows(tenant_a) == before


def test_batch_mode_is_required(seed_accounts):
    r = seed_accounts.post("/v1/ledger-entries/batch", {"entries": [item("m-1")]}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    r = seed_accounts.post("/v1/ledger-entries/batch", {"mode": "sometimes", "entries": [item("m-1")]}, format="json")
    assert r.status_code == 400


def test_full_size_atomic_batch(seed_accounts, tenant_a):
    api = seed_accounts
    r = batch(api, [item(f"full-{i}", amount=1, debit="cash" if i % 2 else "customer_balance",
                         credit="reserved_balance") for i in range(1000)])
    assert r.status_code == 201 and r.json()["posted"] == 1000
    assert posted(api, "reserved_balance") == 1000
    check_ok(tenant_a)


def test_batch_events_fan_out_to_webhook_deliveries(seed_accounts, tenant_a):
    """Batch posting writes its events in one statement; they must still get
    a delivery per subscribed endpoint, in the same transaction."""
    from webhooks.models import Delivery

    r = seed_accounts.post("/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook",
                                                     "event_types": ["ledger.entry.created"]}, format="json")
    assert r.status_code == 201, r.content
    assert batch(seed_accounts, [item("wh-1"), item("wh-2"), item("wh-3")]).status_code == 201
    connection.set_tenant(tenant_a.tenant)
    try:
        created = Event.objects.filter(type="ledger.entry.created", payload__idempotency_key__startswith="wh-")
        assert created.count() == 3
        assert Delivery.objects.filter(event__in=created).count() == 3
    finally:
        connection.set_schema_to_public()


def test_atomic_batch_keeps_every_field_exactly(seed_accounts):
    api = seed_accounts
    r = batch(api, [item("fx-1", effective_at="2026-11-01T10:00:00.123456Z", source_event="evt_1",
                         description="d", metadata={"k": [1, "two", None]}, external_reference="r")])
    assert r.status_code == 201, r.content
    posted_body = r.json()["results"][0]["body"]
    got = api.get(f"/v1/ledger-entries/{posted_body['id']}").json()
    for field in ("effective_at", "created_at", "source_event", "description", "metadata", "external_reference",
                  "policy_decisions", "lines", "posting_id", "idempotency_key", "actor", "correlation_id"):
        assert got[field] == posted_body[field], field
    assert posted_body["effective_at"] == "2026-11-01T10:00:00.123456Z"


@pytest.mark.slow
def test_concurrent_batches_and_single_posts_share_accounts_and_keys(seed_accounts, tenant_a):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from rest_framework.test import APIClient

    key = tenant_a.api_key.plaintext
    barrier = threading.Barrier(6)
    accounts = ["customer_balance", "reserved_balance", "cash"]

    def call(i):
        try:
            c = APIClient()
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            barrier.wait(timeout=30)
            if i < 4:
                # Batches walk the accounts in different orders; item "shared-k" is in all of them.
                entries = [item(f"cb-{i}-{n}", amount=1, debit=accounts[(i + n) % 3], credit=accounts[(i + n + 1) % 3])
                           for n in range(100)] + [item("shared-k", amount=5)]
                r = c.post("/v1/ledger-entries/batch", {"mode": "atomic", "entries": entries}, format="json")
                return r.status_code, r.json()["results"][-1]["body"]["id"] if r.status_code == 201 else r.json()
            r = c.post("/v1/ledger-entries", item("shared-k", amount=5), format="json")
            return r.status_code, r.json().get("id")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(call, range(6)))
    assert [s for s, _ in results] == [201] * 6, results
    assert len({entry_id for _, entry_id in results}) == 1  # one posting for the shared key, everyone replays it
    connection.set_tenant(tenant_a.tenant)
    assert LedgerEntry.objects.filter(idempotency_key__startswith="cb-").count() == 400
    assert LedgerEntry.objects.filter(idempotency_key="shared-k").count() == 1
    connection.set_schema_to_public()
    check_ok(tenant_a)
