"""Resolving exceptions: adjusting entries through the posting boundary,
explanations, retries, policy rejections, re-runs."""
from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from core.actors import Actor
from audit.models import AuditEvent
from ledger.checks import ledger_check
from ledger.models import Account, EntryKind, IdempotencyRecord, LedgerEntry
from reconciliation.models import ReconciliationItem

from .conftest import T0, all_items, csv_text, upload, wait_done

H = dt.timedelta(hours=1)


def _run_in_process(books, client, rows, monkeypatch, **fields):
    """Import through the API, match in this process (the worker path has its own tests)."""
    from reconciliation.services import imports
    from reconciliation.services.matching import reconciliation_run_match

    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)
    r = upload(client, csv_text(rows), **fields)
    assert r.status_code == 202, r.content
    connection.set_tenant(books.tenant.tenant)
    run = reconciliation_run_match(run_id=r.json()["id"], actor=Actor.system("tests"))
    assert run.status == "completed", run.error
    return run.pk


def _by_kind(client, run_id):
    out = {}
    for it in all_items(client, run_id):
        out.setdefault(it["kind"], []).append(it)
    return out


def _resolve(client, run_id, item_id, **body):
    headers = {}
    if "key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("key")
    return client.post(f"/v1/reconciliations/{run_id}/items/{item_id}/resolve", body, format="json", **headers)


def plant_one_of_each(books):
    books.post(amount=2000, reference="ok1", at=T0)
    books.post(amount=1000, reference="d1", at=T0 + H)
    provider_never = books.post(amount=800, reference="p1", at=T0 + 2 * H)
    books.post(amount=300, reference="u1", at=T0 + 3 * H)
    books.post(amount=400, reference="c1", at=T0 + 4 * H)
    rows = [("ok1", 2000, "USD", T0, ""), ("d1", 1010, "USD", T0 + H, "fee drift"),
            ("m1", 1500, "USD", T0 + 5 * H, "not in ledger"), ("u1", 300, "USD", T0 + 3 * H, ""),
            ("u1", 300, "USD", T0 + 3 * H, "twice"), ("c1", 400, "EUR", T0 + 4 * H, "")]
    return rows, provider_never


@pytest.mark.worker
def test_adjust_every_kind_keeps_the_ledger_checked_and_a_rerun_comes_back_clean(books, api_client,
                                                                                  celery_worker_proc):
    client = api_client(books.tenant.api_key.plaintext)
    rows, provider_never = plant_one_of_each(books)
    first = upload(client, csv_text(rows)).json()["id"]
    assert wait_done(client, first)["counts"] == {
        "matched": 2, "missing_in_ledger": 1, "missing_at_provider": 1, "amount_drift": 1, "currency_drift": 1,
        "duplicate_in_statement": 1}
    kinds = _by_kind(client, first)
    connection.set_tenant(books.tenant.tenant)
    before = Account.objects.get(pk=books.settlement.pk).posted_balance

    for kind in ("missing_in_ledger", "amount_drift", "missing_at_provider", "duplicate_in_statement"):
        [item] = kinds[kind]
        r = _resolve(client, first, item["id"], action="adjust", counter_account=books.suspense.code,
                     note=f"fix {kind}")
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["status"] == "resolved" and body["resolution"]["adjusting_entry_id"]
        connection.set_tenant(books.tenant.tenant)
        entry = LedgerEntry.objects.get(pk=body["resolution"]["adjusting_entry_id"])
        assert entry.kind == EntryKind.ADJUSTMENT
        assert entry.metadata["reconciliation_item"] == item["id"]
        assert entry.metadata["reconciliation_run"] == first
        assert entry.idempotency_key == f"recon:{first}:{item['id']}:1"
        assert AuditEvent.objects.filter(action="reconciliation_item.adjusted", target_id=str(item["id"])).exists()
    [cur] = kinds["currency_drift"]
    r = _resolve(client, first, cur["id"], action="adjust", counter_account=books.suspense.code)
    assert (r.status_code, r.json()["code"]) == (422, "adjustment_not_possible")
    r = _resolve(client, first, cur["id"], action="explain", note="EUR payout booked in USD by design")
    assert r.status_code == 200 and r.json()["status"] == "explained"

    connection.set_tenant(books.tenant.tenant)
    assert ledger_check() == []
    after = Account.objects.get(pk=books.settlement.pk).posted_balance
    assert after - before == 1500 + 10 - 800 + 300  # missing line, drift, provider never, duplicate

    r = client.post(f"/v1/reconciliations/{first}/rerun", {}, format="json")
    assert r.status_code == 202, r.content
    second = wait_done(client, r.json()["id"])
    assert second["rerun_of"] == first
    assert second["counts"] == {"matched": 5, "missing_in_ledger": 0, "missing_at_provider": 0, "amount_drift": 0,
                                "currency_drift": 1, "duplicate_in_statement": 0}
    open_items = all_items(client, second["id"], status="open")
    assert open_items == []
    [carried] = all_items(client, second["id"], status="explained")
    assert carried["resolution"]["carried_from_item"] == cur["id"]
    # USD ties out but for the explained currency drift: its USD entry has no USD line.
    assert [t["difference_minor"] for t in second["totals"]] == [400, -400]
    # The entry the provider never reported is reversed on the account, so it is not expected any more.
    assert provider_never not in {it["ledger"]["entry_id"] for it in all_items(client, second["id"])
                                  if it["ledger"] and it["kind"] != "matched"}


def test_a_retried_resolution_never_posts_twice(books, api_client, monkeypatch):
    client = api_client(books.tenant.api_key.plaintext)
    run_id = _run_in_process(books, client, [("m1", 1500, "USD", T0, ""), ("m2", 700, "USD", T0, "")], monkeypatch)
    m1, m2 = [it["id"] for it in all_items(client, run_id, kind="missing_in_ledger")]

    r1 = _resolve(client, run_id, m1, action="adjust", counter_account=books.suspense.code, note="late capture")
    r2 = _resolve(client, run_id, m1, action="adjust", counter_account=books.suspense.code, note="late capture")
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert r1.get("Idempotent-Replayed") is None and r2["Idempotent-Replayed"] == "true"
    assert r1.json() == r2.json()
    r3 = _resolve(client, run_id, m1, action="adjust", counter_account=books.customers.code)
    assert (r3.status_code, r3.json()["code"]) == (409, "reconciliation_item_not_open")
    r4 = _resolve(client, run_id, m1, action="explain", note="changed my mind")
    assert r4.status_code == 409

    # Many at once: one posting, every caller sees the same resolved item.
    key = books.tenant.api_key.plaintext
    barrier = threading.Barrier(6)

    def call(i):
        try:
            c = APIClient()
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            barrier.wait(timeout=30)
            return _resolve(c, run_id, m2, action="adjust", counter_account=books.suspense.code)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(call, range(6)))
    assert [r.status_code for r in results] == [200] * 6
    assert sum(1 for r in results if r.get("Idempotent-Replayed") is None) == 1
    assert len({r.json()["resolution"]["adjusting_entry_id"] for r in results}) == 1

    connection.set_tenant(books.tenant.tenant)
    adjustments = LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT)
    assert sorted(e.metadata["reconciliation_item"] for e in adjustments) == [m1, m2]
    assert ledger_check() == []


def test_a_policy_rejection_leaves_the_item_open_and_the_next_attempt_gets_a_new_key(books, api_client,
                                                                                      monkeypatch):
    from ledger.services.accounts import account_policies_set
    from ledger.services.policies import policy_create, policy_revise

    client = api_client(books.tenant.api_key.plaintext)
    actor = Actor.system("tests")
    connection.set_tenant(books.tenant.tenant)
    policy_create(actor=actor, name="small_adjustments", kind="max_amount", params={"max_amount_minor": 1000})
    account_policies_set(actor=actor, account=books.suspense, policies=["small_adjustments"])
    run_id = _run_in_process(books, client, [("m1", 1500, "USD", T0, "")], monkeypatch)
    [item] = all_items(client, run_id, kind="missing_in_ledger")

    for attempt in (1, 2):
        r = _resolve(client, run_id, item["id"], action="adjust", counter_account=books.suspense.code)
        assert r.status_code == 422 and r["Content-Type"] == "application/problem+json"
        assert r.json()["code"] == "policy_rejected" and r.json()["item"] == item["id"]
        connection.set_tenant(books.tenant.tenant)
        rec = IdempotencyRecord.objects.get(key=f"recon:{run_id}:{item['id']}:{attempt}")
        assert rec.outcome == "rejected"
    state = all_items(client, run_id, kind="missing_in_ledger")[0]
    assert state["status"] == "open" and state["resolution"]["rejected_attempts"] == 2

    connection.set_tenant(books.tenant.tenant)
    policy_revise(actor=actor, name="small_adjustments", params={"max_amount_minor": 5000})
    r = _resolve(client, run_id, item["id"], action="adjust", counter_account=books.suspense.code)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    connection.set_tenant(books.tenant.tenant)
    assert LedgerEntry.objects.get(pk=r.json()["resolution"]["adjusting_entry_id"]).idempotency_key == (
        f"recon:{run_id}:{item['id']}:3")
    assert AuditEvent.objects.filter(action="reconciliation_item.adjust_rejected").count() == 2


def test_caller_key_bad_requests_and_explanations(books, api_client, monkeypatch):
    client = api_client(books.tenant.api_key.plaintext)
    books.post(amount=100, reference="ok", at=T0)
    books.post(amount=400, reference="c1", at=T0)
    run_id = _run_in_process(books, client, [("ok", 100, "USD", T0, ""), ("m1", 1500, "USD", T0, ""),
                                             ("m2", 9, "EUR", T0, ""), ("c1", 400, "EUR", T0, "")], monkeypatch)
    items = _by_kind(client, run_id)
    matched = items["matched"][0]["id"]
    m1, m2 = [it["id"] for it in items["missing_in_ledger"]]

    def code(r):
        return r.status_code, r.json()["code"]

    assert code(_resolve(client, run_id, matched, action="explain", note="x")) == (409, "reconciliation_item_not_open")
    assert code(_resolve(client, run_id, m1, action="explain")) == (400, "validation_error")
    assert code(_resolve(client, run_id, m1, action="adjust")) == (400, "validation_error")
    assert code(_resolve(client, run_id, m1, action="refund", note="x")) == (400, "validation_error")
    assert code(_resolve(client, run_id, m1, action="adjust", counter_account="nope")) == (400, "account_not_found")
    assert code(_resolve(client, run_id, m1, action="adjust", counter_account=books.settlement.code)) == (
        400, "validation_error")
    assert code(_resolve(client, run_id, m1, action="explain", note="x", extra=1)) == (400, "unknown_field")
    assert code(_resolve(client, run_id, 999999, action="explain", note="x")) == (404, "reconciliation_item_not_found")
    assert code(_resolve(client, 999999, m1, action="explain", note="x")) == (404, "reconciliation_not_found")
    assert code(_resolve(client, run_id, m2, action="adjust", counter_account=books.suspense.code)) == (
        422, "adjustment_not_possible")  # a EUR line on a USD account
    assert code(_resolve(client, run_id, m1, action="adjust", counter_account=books.suspense.code, key="")) == (
        400, "idempotency_key_missing")

    r = _resolve(client, run_id, m1, action="adjust", counter_account=books.suspense.code, key="console-approval-77")
    assert r.status_code == 200
    connection.set_tenant(books.tenant.tenant)
    entry = LedgerEntry.objects.get(pk=r.json()["resolution"]["adjusting_entry_id"])
    assert entry.idempotency_key == "console-approval-77" and entry.external_reference == "m1"
    assert entry.effective_at == T0 and "note" not in entry.metadata  # the line's date; no note given

    r = _resolve(client, run_id, m2, action="explain", note="  EUR test payment, written off  ")
    assert r.status_code == 200
    assert r.json()["resolution"]["note"] == "EUR test payment, written off"
    assert r.json()["resolution"]["resolved_by"].startswith("api_key:")
    connection.set_tenant(books.tenant.tenant)
    ev = AuditEvent.objects.get(action="reconciliation_item.explained", target_id=str(m2))
    assert ev.before == {"status": "open"} and ev.after["status"] == "explained"
    assert ReconciliationItem.objects.filter(run_id=run_id, status="open").count() == 1  # the currency drift
