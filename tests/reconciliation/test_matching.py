"""A generated statement with drift of every kind planted: a real worker
finds every plant and nothing else."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection

from core.actors import Actor
from audit.models import AuditEvent
from reconciliation.models import ReconciliationItem, ReconciliationRun
from events.models import Event

from .conftest import T0, all_items, csv_text, upload, wait_done

pytestmark = pytest.mark.worker
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def plant(books):
    """Ledger entries and statement rows with known drift. Returns the
    statement rows and what each kind must contain."""
    rnd = random.Random(8)
    rows, expect = [], {k: set() for k in ("matched", "missing_in_ledger", "missing_at_provider", "amount_drift",
                                             "currency_drift", "duplicate_in_statement")}
    entries = []
    for i in range(120):
        amount = rnd.randint(100, 500_000) * rnd.choice([1, 1, 1, -1])
        at = T0 + i * 90 * dt.timedelta(minutes=1)
        entries.append((f"ch_{i:04d}", amount, at, books.post(amount=amount, reference=f"ch_{i:04d}", at=at)))
    skip = {5, 77, 101}  # the provider never reported these
    for i, (ref, amount, at, entry_id) in enumerate(entries):
        booked = at + rnd.randint(0, 6 * 60) * dt.timedelta(minutes=1)
        if i in skip:
            expect["missing_at_provider"].add(("entry", entry_id))
        elif i == 10:
            rows.append((ref, amount + 7, "USD", booked, "drift up"))
            expect["amount_drift"].add(("ref", ref, 7))
        elif i == 99:
            rows.append((ref, amount - 1300, "USD", booked, "drift down"))
            expect["amount_drift"].add(("ref", ref, -1300))
        elif i == 33:
            rows.append((ref, amount, "EUR", booked, "wrong currency"))
            expect["currency_drift"].add(("ref", ref, None))
        else:
            rows.append((ref, amount, "USD", booked, f"order {i}"))
            expect["matched"].add(("ref", ref, "reference"))
    # Duplicates: the provider listed two transactions twice.
    for i in (50, 51):
        ref, amount, at, _ = entries[i]
        rows.append((ref, amount, "USD", at + 2 * H, "listed twice"))
        expect["duplicate_in_statement"].add(("ref", ref, None))
    # Money the ledger never saw.
    for ref, amount in (("ch_x1", 4321), ("ch_x2", -999)):
        rows.append((ref, amount, "USD", T0 + 3 * D, "unknown"))
        expect["missing_in_ledger"].add(("ref", ref, None))
    # The reference exists in the ledger, but not on the reconciled account.
    books.post(amount=2500, reference="ch_elsewhere", at=T0 + D, account=books.customers, counter=books.suspense)
    rows.append(("ch_elsewhere", 2500, "USD", T0 + D, "other account"))
    expect["missing_in_ledger"].add(("ref", "ch_elsewhere", None))
    # No references: amount + currency inside the 3-day window.
    for k, (amount, shift) in enumerate([(61_001, 2 * D), (61_002, -2 * D), (61_003, 0 * H), (-61_004, 71 * H)]):
        entry_id = books.post(amount=amount, at=T0 + 2 * D + k * H)
        rows.append(("", amount, "USD", T0 + 2 * D + k * H + shift, "no reference"))
        expect["matched"].add(("entry", entry_id, "amount_window"))
    # The ledger entry has no reference, the line has one: amount and date still pair them.
    books.post(amount=61_010, at=T0 + 3 * D)
    rows.append(("ch_bare", 61_010, "USD", T0 + 3 * D + H, "reference only at the provider"))
    expect["matched"].add(("ref", "ch_bare", "amount_window"))
    # Both carry a reference and they differ: same amount and day, yet two transactions.
    other_ref = books.post(amount=61_020, reference="pi_other", at=T0 + 3 * D)
    rows.append(("ch_mine", 61_020, "USD", T0 + 3 * D, "different reference"))
    expect["missing_in_ledger"].add(("ref", "ch_mine", None))
    expect["missing_at_provider"].add(("entry", other_ref))
    # Same amount twice in the ledger, once on the statement: the nearest wins.
    far = books.post(amount=5000, at=T0 + 1 * D)
    near = books.post(amount=5000, at=T0 + 4 * D)
    rows.append(("", 5000, "USD", T0 + 4 * D + H, "nearest"))
    expect["matched"].add(("entry", near, "amount_window"))
    expect["missing_at_provider"].add(("entry", far))
    # Right amount, outside the window: both sides stay unmatched.
    outside = books.post(amount=777_777, at=T0 + 2 * D)
    rows.append(("", 777_777, "USD", T0 + 2 * D + 5 * D, "too late"))
    expect["missing_in_ledger"].add(("amount", 777_777))
    expect["missing_at_provider"].add(("entry", outside))
    # Before the statement's period and not on it: not the provider's business.
    books.post(amount=31_337, reference="old_1", at=T0 - 20 * D)
    rnd.shuffle(rows)
    return rows, expect


def classify(items):
    got = {k: set() for k in ("matched", "missing_in_ledger", "missing_at_provider", "amount_drift",
                              "currency_drift", "duplicate_in_statement")}
    for it in items:
        st, lg = it["statement"], it["ledger"]
        if it["kind"] == "matched":
            key = (("ref", st["reference"], it["match_rule"]) if st["reference"]
                   else ("entry", lg["entry_id"], it["match_rule"]))
        elif it["kind"] == "missing_at_provider":
            key = ("entry", lg["entry_id"])
        elif it["kind"] == "amount_drift":
            key = ("ref", st["reference"], it["difference_minor"])
        elif st["reference"]:
            key = ("ref", st["reference"], None)
        else:
            key = ("amount", st["amount_minor"])
        got[it["kind"]].add(key)
    return got


def test_every_planted_drift_is_found_and_nothing_else(books, api_client, celery_worker_proc):
    client = api_client(books.tenant.api_key.plaintext)
    rows, expect = plant(books)
    r = upload(client, csv_text(rows), date_window_days=3)
    assert r.status_code == 202, r.content
    created = r.json()
    assert created["status"] == "pending" and created["lines_total"] == len(rows) and r["Location"].endswith(
        f"/{created['id']}")
    body = wait_done(client, created["id"])
    assert body["status"] == "completed", body
    assert body["lines_processed"] == body["lines_total"] == len(rows)

    items = all_items(client, body["id"])
    got = classify(items)
    for kind in expect:
        assert got[kind] == expect[kind], kind
    assert body["counts"] == {k: len(v) for k, v in expect.items()}
    # One line, one entry: no entry appears on two items.
    entry_ids = [it["ledger"]["entry_id"] for it in items if it["ledger"]]
    assert len(entry_ids) == len(set(entry_ids))
    assert sum(1 for it in items if it["statement"]) == len(rows)

    # Totals per currency: statement vs ledger (entries matched or inside the period).
    usd = [t for t in body["totals"] if t["currency"] == "USD"][0]
    eur = [t for t in body["totals"] if t["currency"] == "EUR"][0]
    assert usd["statement_total_minor"] == sum(r[1] for r in rows if r[2] == "USD")
    ledger_total = sum(it["ledger"]["amount_minor"] for it in items if it["ledger"])
    assert usd["ledger_total_minor"] == ledger_total
    assert usd["difference_minor"] == usd["statement_total_minor"] - usd["ledger_total_minor"]
    assert eur == {"currency": "EUR", "statement_total_minor": sum(r[1] for r in rows if r[2] == "EUR"),
                   "ledger_total_minor": 0, "difference_minor": sum(r[1] for r in rows if r[2] == "EUR")}

    # Filters and cursor pages.
    drift = all_items(client, body["id"], kind="amount_drift")
    assert {it["statement"]["reference"] for it in drift} == {"ch_0010", "ch_0099"}
    page = client.get(f"/v1/reconciliations/{body['id']}/items", {"limit": 10}).json()
    assert len(page["results"]) == 10 and page["next"]
    from tenants.services.limits import tenant_limits_set

    tenant_limits_set(actor=Actor.system("tests"), tenant=books.tenant.tenant, max_page_size=3)  # the tenant's own cap wins over 500
    assert len(client.get(f"/v1/reconciliations/{body['id']}/items", {"limit": 10}).json()["results"]) == 3
    tenant_limits_set(actor=Actor.system("tests"), tenant=books.tenant.tenant, max_page_size=None)
    assert client.get(f"/v1/reconciliations/{body['id']}/items", {"kind": "nope"}).status_code == 400
    assert client.get(f"/v1/reconciliations/{body['id']}/items", {"sort": "x"}).json()["code"] == "unknown_filter"

    # The completion event and the audit trail, in the tenant's schema.
    connection.set_tenant(books.tenant.tenant)
    [event] = Event.objects.filter(type="reconciliation.completed")
    assert event.payload["id"] == body["id"] and event.payload["counts"] == body["counts"]
    assert event.payload["totals"] == body["totals"]
    actions = set(AuditEvent.objects.filter(target_type="reconciliation_run", target_id=str(body["id"]))
                  .values_list("action", flat=True))
    assert actions == {"reconciliation.imported", "reconciliation.matched"}


def test_a_redelivered_task_changes_nothing(books, api_client, celery_worker_proc):
    """acks_late means a task can run twice: a copy that arrives while the
    run is being matched leaves at once, one that arrives later finds it
    completed. Neither writes anything."""

    from core.actors import Actor
    from reconciliation.services.matching import reconciliation_run_match

    client = api_client(books.tenant.api_key.plaintext)
    books.post(amount=100, reference="a", at=T0)
    r = upload(client, csv_text([("a", 100, "USD", T0, ""), ("b", 5, "USD", T0, "")]))
    run_id = r.json()["id"]
    assert wait_done(client, run_id)["status"] == "completed"
    connection.set_tenant(books.tenant.tenant)
    again = reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
    assert again.status == "completed"
    assert ReconciliationItem.objects.filter(run_id=run_id).count() == 2
    assert Event.objects.filter(type="reconciliation.completed").count() == 1
    assert ReconciliationRun.objects.get(pk=run_id).attempts == 1



def test_a_copy_arriving_while_the_run_is_matched_leaves_at_once(books, api_client, monkeypatch):
    import psycopg

    from core.actors import Actor
    from reconciliation.services import imports
    from reconciliation.services.matching import reconciliation_run_match

    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)  # this test is the worker
    client = api_client(books.tenant.api_key.plaintext)
    run_id = upload(client, csv_text([("c", 1, "USD", T0, "")])).json()["id"]
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: params[k] for k in ("dbname", "user", "host", "port")}, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"recon-run:{books.tenant.tenant.schema_name}:{run_id}"])
        connection.set_tenant(books.tenant.tenant)
        left = reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
        assert left.status == "pending" and left.attempts == 0
        assert ReconciliationItem.objects.filter(run_id=run_id).count() == 0
    finally:
        other.close()
    done = reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
    assert (done.status, done.attempts, done.lines_processed) == ("completed", 1, 1)


def test_an_overflowing_comparison_fails_the_run_cleanly(books, api_client, monkeypatch):
    from core.actors import Actor
    from reconciliation.services import imports
    from reconciliation.services.matching import reconciliation_run_match

    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)
    top = 2**63 - 1
    books.post(amount=top, reference="huge", at=T0)
    client = api_client(books.tenant.api_key.plaintext)
    run_id = upload(client, csv_text([("huge", -top, "USD", T0, ""), ("ok", 5, "USD", T0, "")])).json()["id"]
    connection.set_tenant(books.tenant.tenant)
    run = reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
    assert run.status == "failed" and run.error["code"] == "statement_amount_invalid"
    assert ReconciliationItem.objects.filter(run_id=run_id).count() == 0
    assert AuditEvent.objects.filter(action="reconciliation.failed", target_id=str(run_id)).exists()
