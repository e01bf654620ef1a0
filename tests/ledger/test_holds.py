"""Holds through the real API and PostgreSQL: reserve, capture, release,
expiry, idempotency, bad input, races, and the database's own guards."""
import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from ledger.checks import ledger_check
from ledger.models import Account, Hold, HoldMovement, IdempotencyRecord, LedgerEntry, LedgerLine
from webhooks.models import Event


def bal(api, code):
    return api.get(f"/v1/accounts/{code}").json()["balances"]


def in_schema(tenant):
    connection.set_tenant(tenant.tenant)


def hold(api, key, amount=100_000, **extra):
    body = {"account": "customer_balance", "destination": "reserved_balance", "amount_minor": amount,
            "currency": "USD", "idempotency_key": key} | extra
    return api.post("/v1/holds", body, format="json")


def counts(tenant):
    in_schema(tenant)
    try:
        return (Hold.objects.count(), HoldMovement.objects.count(), LedgerEntry.objects.count(),
                LedgerLine.objects.count(), IdempotencyRecord.objects.count(), Event.objects.count(),
                AuditEvent.objects.count())
    finally:
        connection.set_schema_to_public()


def check_ok(tenant):
    in_schema(tenant)
    try:
        assert ledger_check() == []
    finally:
        connection.set_schema_to_public()


def test_hold_reserves_without_posting(seed_accounts, tenant_a):
    api = seed_accounts
    r = hold(api, "h-1", external_reference="pi_1", metadata={"order": "o-1"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["object"] == "hold" and body["status"] == "active" and body["hold_id"].startswith("hld_")
    assert body["remaining_minor"] == 100_000 and body["destination"] == "reserved_balance"
    assert body["event"] == "ledger.hold.created"
    assert body["balances"] == [{"account": "customer_balance", "account_id": body["account_id"], "currency": "USD",
                                 "posted": 1_000_000, "pending": 100_000, "available": 900_000}]
    assert bal(api, "customer_balance") == {"posted": 1_000_000, "pending": 100_000, "available": 900_000}
    assert bal(api, "reserved_balance") == {"posted": 0, "pending": 0, "available": 0}

    before = counts(tenant_a)
    again = hold(api, "h-1", external_reference="pi_1", metadata={"order": "o-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.json() == body
    assert counts(tenant_a) == before
    reused = hold(api, "h-1", amount=5)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert counts(tenant_a) == before

    got = api.get(f"/v1/holds/{body['hold_id']}").json()
    assert got["id"] == body["id"] and [m["kind"] for m in got["movements"]] == ["created"]
    assert got["movements"][0]["pending_after"] == 100_000
    assert api.get(f"/v1/holds/{body['id']}").json()["hold_id"] == body["hold_id"]
    listed = api.get("/v1/holds?account=customer_balance&status=active").json()["results"]
    assert [h["id"] for h in listed] == [body["id"]]
    in_schema(tenant_a)
    assert Event.objects.filter(type="ledger.hold.created").count() == 1
    assert AuditEvent.objects.filter(action="hold.created", target_id=str(body["id"])).count() == 1
    rec = IdempotencyRecord.objects.get(key="h-1")
    assert rec.operation == "hold.create" and rec.outcome == "held" and rec.entry_id is None
    connection.set_schema_to_public()
    check_ok(tenant_a)


def test_full_capture_posts_a_capture_entry(seed_accounts, tenant_a):
    api = seed_accounts
    h = hold(api, "h-cap").json()
    r = api.post(f"/v1/holds/{h['id']}/capture", {"idempotency_key": "cap-1"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["object"] == "hold_capture" and body["captured_minor"] == 100_000 and body["released_minor"] == 0
    assert body["hold"]["status"] == "captured" and body["hold"]["remaining_minor"] == 0
    assert body["event"] == "ledger.hold.captured"
    entry = body["entry"]
    assert entry["kind"] == "hold_capture" and entry["metadata"]["hold_id"] == h["hold_id"]
    assert [(ln["account"], ln["side"], ln["amount_minor"]) for ln in entry["lines"]] == [
        ("customer_balance", "debit", 100_000), ("reserved_balance", "credit", 100_000)]
    # Available moved once, at the hold; the capture turns pending into posted.
    assert bal(api, "customer_balance") == {"posted": 900_000, "pending": 0, "available": 900_000}
    assert bal(api, "reserved_balance") == {"posted": 100_000, "pending": 0, "available": 100_000}
    balances = {b["account"]: b for b in entry["balances"]}
    assert balances["customer_balance"]["pending"] == 0 and balances["customer_balance"]["posted"] == 900_000

    replay = api.post(f"/v1/holds/{h['id']}/capture", {"idempotency_key": "cap-1"}, format="json")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true" and replay.json() == body
    again = api.post(f"/v1/holds/{h['id']}/capture", {"idempotency_key": "cap-2"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "hold_not_active"
    assert again.json()["hold_status"] == "captured"
    release = api.post(f"/v1/holds/{h['id']}/release", {"idempotency_key": "rel-1"}, format="json")
    assert release.status_code == 409 and release.json()["code"] == "hold_not_active"
    detail = api.get(f"/v1/holds/{h['id']}").json()
    assert detail["capture_entry_ids"] == [entry["id"]]
    in_schema(tenant_a)
    assert IdempotencyRecord.objects.get(key="cap-1").entry_id == entry["id"]
    assert not IdempotencyRecord.objects.filter(key__in=["cap-2", "rel-1"]).exists()
    connection.set_schema_to_public()
    check_ok(tenant_a)


def test_partial_captures_then_release(seed_accounts, tenant_a):
    api = seed_accounts
    h = hold(api, "h-part", amount=1000).json()
    r1 = api.post(f"/v1/holds/{h['id']}/capture", {"amount_minor": 300, "idempotency_key": "pc-1"}, format="json")
    assert r1.status_code == 201 and r1.json()["hold"]["status"] == "partially_captured"
    # A capture may name another destination than the hold did.
    r2 = api.post(f"/v1/holds/{h['id']}/capture", {"amount_minor": 200, "destination": "cash",
                                                    "idempotency_key": "pc-2"}, format="json")
    assert r2.status_code == 201, r2.content
    assert r2.json()["hold"]["remaining_minor"] == 500
    assert bal(api, "customer_balance") == {"posted": 1_000_000 - 500, "pending": 500, "available": 1_000_000 - 1000}
    # Money leaves a credit-normal account by a debit, so the destination takes the credit (cash: an asset, down).
    assert bal(api, "cash")["posted"] == 1_000_000 - 200
    too_much = api.post(f"/v1/holds/{h['id']}/capture", {"amount_minor": 501, "idempotency_key": "pc-3"}, format="json")
    assert too_much.status_code == 422 and too_much.json()["code"] == "capture_exceeds_hold"
    assert too_much.json()["remaining_minor"] == 500
    rel = api.post(f"/v1/holds/{h['id']}/release", {"idempotency_key": "pr-1", "reason": "order shipped partly"},
                   format="json")
    assert rel.status_code == 200, rel.content
    assert rel.json()["status"] == "released" and rel.json()["released_now_minor"] == 500
    assert rel.json()["event"] == "ledger.hold.released"
    assert bal(api, "customer_balance") == {"posted": 999_500, "pending": 0, "available": 999_500}
    detail = api.get(f"/v1/holds/{h['id']}").json()
    assert [(m["kind"], m["amount_minor"], m["pending_after"]) for m in detail["movements"]] == [
        ("created", 1000, 1000), ("captured", 300, 700), ("captured", 200, 500), ("released", 500, 0)]
    check_ok(tenant_a)


def test_capture_can_release_the_remainder(seed_accounts, tenant_a):
    api = seed_accounts
    h = hold(api, "h-rr", amount=1000).json()
    r = api.post(f"/v1/holds/{h['id']}/capture", {"amount_minor": 600, "release_remainder": True,
                                                   "idempotency_key": "rr-1"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["hold"]["status"] == "captured" and r.json()["released_minor"] == 400
    assert r.json()["hold"]["captured_minor"] == 600 and r.json()["hold"]["released_minor"] == 400
    assert bal(api, "customer_balance") == {"posted": 999_400, "pending": 0, "available": 999_400}
    check_ok(tenant_a)
