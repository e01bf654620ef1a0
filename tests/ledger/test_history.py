"""History: balances as of any instant (posted from the lines' stored running
balance, pending from the hold movements' stored pending balance), and
statements with running balances, paged by cursor."""
import time

from django.db import connection
from django.utils import timezone

from ledger.checks import ledger_check


def tick():
    """A clock reading strictly between two postings."""
    time.sleep(0.01)
    t = timezone.now()
    time.sleep(0.01)
    return t


def as_of(api, code, t):
    r = api.get(f"/v1/accounts/{code}/balance", {"as_of": t.isoformat()})
    assert r.status_code == 200, r.content
    b = r.json()
    return b["posted"], b["pending"], b["available"]


def test_balance_as_of_walks_postings_and_holds(seed_accounts, tenant_a):
    api = seed_accounts
    t0 = tick()  # after the 1,000,000 funding
    api.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 100_000,
                                    "currency": "USD", "idempotency_key": "h-e1"}, format="json")
    t1 = tick()
    h = api.post("/v1/holds", {"account": "customer_balance", "destination": "reserved_balance",
                               "amount_minor": 50_000, "currency": "USD", "idempotency_key": "h-h1"},
                 format="json").json()
    t2 = tick()
    api.post(f"/v1/holds/{h['id']}/capture", {"amount_minor": 20_000, "idempotency_key": "h-c1"}, format="json")
    t3 = tick()
    api.post(f"/v1/holds/{h['id']}/release", {"idempotency_key": "h-r1"}, format="json")
    t4 = tick()
    before_everything = timezone.now().replace(year=2000)

    assert as_of(api, "customer_balance", before_everything) == (0, 0, 0)
    assert as_of(api, "customer_balance", t0) == (1_000_000, 0, 1_000_000)
    assert as_of(api, "customer_balance", t1) == (900_000, 0, 900_000)
    assert as_of(api, "customer_balance", t2) == (900_000, 50_000, 850_000)
    assert as_of(api, "customer_balance", t3) == (880_000, 30_000, 850_000)
    assert as_of(api, "customer_balance", t4) == (880_000, 0, 880_000)
    assert as_of(api, "reserved_balance", t3) == (120_000, 0, 120_000)
    now = api.get("/v1/accounts/customer_balance/balance").json()
    assert (now["posted"], now["pending"], now["available"]) == (880_000, 0, 880_000) and now["as_of"] is None
    bad = api.get("/v1/accounts/customer_balance/balance", {"as_of": "yesterday-ish"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert api.get("/v1/accounts/customer_balance/balance", {"at": "x"}).json()["code"] == "unknown_filter"


def test_statement_pages_by_cursor_with_running_balances(seed_accounts, tenant_a):
    api = seed_accounts
    r = api.post("/v1/ledger-entries/batch", {"mode": "atomic", "entries": [
        {"debit": "customer_balance" if i % 3 else "reserved_balance",
         "credit": "reserved_balance" if i % 3 else "customer_balance",
         "amount_minor": i + 1, "currency": "USD", "idempotency_key": f"s-{i}"} for i in range(120)]},
        format="json")
    assert r.status_code == 201
    lines, url = [], "/v1/accounts/customer_balance/statement?limit=50"
    pages = 0
    while url:
        page = api.get(url).json()
        lines += page["results"]
        url = page["next"]
        pages += 1
    assert pages == 3 and len(lines) == 121  # funding + 120
    lines.reverse()  # newest first on the wire
    running = 0
    for ln in lines:
        running += ln["signed_amount_minor"]
        assert ln["balance_after"] == running
    assert running == api.get("/v1/accounts/customer_balance").json()["balances"]["posted"]
    window = api.get("/v1/accounts/customer_balance/statement", {
        "posted_after": lines[10]["posted_at"], "posted_before": lines[20]["posted_at"], "limit": 200}).json()
    assert [x["line_id"] for x in window["results"]] == [x["line_id"] for x in reversed(lines[10:20])]
    connection.set_tenant(tenant_a.tenant)
    assert ledger_check() == []
    connection.set_schema_to_public()


def test_hold_list_pages_by_cursor(seed_accounts):
    api = seed_accounts
    for i in range(7):
        api.post("/v1/holds", {"account": "customer_balance", "amount_minor": 10 + i, "currency": "USD",
                               "idempotency_key": f"hl-{i}"}, format="json")
    seen, url = [], "/v1/holds?limit=3&status=active"
    while url:
        page = api.get(url).json()
        seen += [h["amount_minor"] for h in page["results"]]
        url = page["next"]
    assert seen == [16, 15, 14, 13, 12, 11, 10]
    assert api.get("/v1/holds?status=bogus").json()["code"] == "validation_error"
    assert api.get("/v1/holds?colour=red").json()["code"] == "unknown_filter"
