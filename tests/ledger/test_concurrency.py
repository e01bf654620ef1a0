"""Real concurrency against real PostgreSQL: threads, each with its own
connection, hitting the API at once."""
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections
from rest_framework.test import APIClient

from ledger.checks import ledger_check
from ledger.models import Account, IdempotencyRecord, LedgerEntry


def _run_concurrently(n: int, fn):
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(worker, range(n)))


def test_fifty_concurrent_requests_with_one_key_post_once(seed_accounts, tenant_a):
    key = tenant_a.api_key.plaintext
    body = {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 700,
            "currency": "USD", "idempotency_key": "same-key-50"}

    def call(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        r = client.post("/v1/ledger-entries", body, format="json")
        return r.status_code, r.get("Idempotent-Replayed"), r.json()

    results = _run_concurrently(50, call)
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {201, 409}, statuses
    fresh = [r for r in results if r[0] == 201 and r[1] is None]
    replays = [r for r in results if r[0] == 201 and r[1] == "true"]
    assert len(fresh) == 1
    assert all(r[2]["posting_id"] == fresh[0][2]["posting_id"] for r in replays)
    assert all(r[2]["code"] == "idempotency_key_in_use" for r in results if r[0] == 409)
    connection.set_tenant(tenant_a.tenant)
    assert LedgerEntry.objects.filter(idempotency_key="same-key-50").count() == 1
    rec = IdempotencyRecord.objects.get(key="same-key-50")
    assert rec.replay_count == len(replays)
    assert Account.objects.get(code="reserved_balance").posted_balance == 700
    assert ledger_check() == []


def test_opposing_transfers_never_deadlock_and_sum_exactly(seed_accounts, tenant_a):
    key = tenant_a.api_key.plaintext
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 500_000,
                                       "currency": "USD", "idempotency_key": "prefund"}, format="json")

    def call(i):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        # Half go A->B, half B->A, each with several lines so lock order matters.
        src, dst = ("customer_balance", "reserved_balance") if i % 2 else ("reserved_balance", "customer_balance")
        r = c.post("/v1/ledger-entries", {"idempotency_key": f"opp-{i}", "lines": [
            {"account": src, "side": "debit", "amount_minor": 3, "currency": "USD"},
            {"account": "cash", "side": "debit", "amount_minor": 1, "currency": "USD"},
            {"account": dst, "side": "credit", "amount_minor": 4, "currency": "USD"},
        ]}, format="json")
        return r.status_code

    statuses = _run_concurrently(40, call)
    assert statuses == [201] * 40
    connection.set_tenant(tenant_a.tenant)
    cust = Account.objects.get(code="customer_balance").posted_balance
    res = Account.objects.get(code="reserved_balance").posted_balance
    # 20 x (-3 cust, +4 res) and 20 x (-3 res, +4 cust)
    assert cust == 1_000_000 - 500_000 + 20 * (4 - 3)
    assert res == 500_000 + 20 * (4 - 3)
    assert ledger_check() == []


def test_hot_account_overdraft_race_never_goes_negative(seed_accounts, tenant_a):
    key = tenant_a.api_key.plaintext
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    c.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    c.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")

    def call(i):
        cl = APIClient()
        cl.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return cl.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                              "amount_minor": 300_000, "currency": "USD",
                                              "idempotency_key": f"race-{i}"}, format="json").status_code

    statuses = _run_concurrently(10, call)
    assert sorted(statuses) == [201] * 3 + [422] * 7  # 1,000,000 covers exactly three
    connection.set_tenant(tenant_a.tenant)
    assert Account.objects.get(code="customer_balance").posted_balance == 100_000
    assert ledger_check() == []


def test_busy_account_answers_match_the_stored_lines(seed_accounts, tenant_a):
    """The late lock under real contention: 12 threads post to one account
    that no balance policy guards, so each posting reads it unlocked and
    locks it in its write, usually after others moved it. Every answer's
    running balance must be the one stored on its line, and together they
    must be exactly 1..60 (each posting moves it by 1)."""
    key = tenant_a.api_key.plaintext

    def call(i):
        cl = APIClient()
        cl.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        out = []
        for j in range(5):
            r = cl.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                               "amount_minor": 1, "currency": "USD",
                                               "idempotency_key": f"busy-{i}-{j}"}, format="json")
            assert r.status_code == 201, r.content
            out.append(r.json())
        return out

    bodies = [b for per_thread in _run_concurrently(12, call) for b in per_thread]
    connection.set_tenant(tenant_a.tenant)
    from ledger.models import LedgerLine

    answered = {}
    for b in bodies:
        line = next(ln for ln in b["lines"] if ln["account"] == "reserved_balance")
        bal = next(x for x in b["balances"] if x["account"] == "reserved_balance")
        assert bal["posted"] == line["balance_after"] == bal["available"]
        answered[b["id"]] = line["balance_after"]
    stored = dict(LedgerLine.objects.filter(entry_id__in=answered, account__code="reserved_balance")
                  .values_list("entry_id", "balance_after"))
    assert answered == stored
    assert sorted(answered.values()) == list(range(1, 61))
    assert Account.objects.get(code="reserved_balance").posted_balance == 60
    assert ledger_check() == []
