"""Accounting periods through the API: close, refuse or move back-dated
entries, reopen by maker-checker, and bad input that changes nothing."""
import datetime as dt

import pytest
from django.db import connection

from closeout.models import AccountingPeriod, PeriodReopenRequest, PeriodStatus
from ledger.models import LedgerEntry
from tests.closeout.conftest import post_entry


def test_close_refuses_backdated_entry_and_replays_old_key(books):
    api = books
    assert post_entry(api, "jan-1", 500, "2025-01-10T12:00:00Z").status_code == 201
    r = api.post("/v1/periods/2025-01/close")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "closed" and body["snapshot_id"]
    before = LedgerEntry.objects.count() if False else None  # noqa: F841 - counted below in the tenant
    r = post_entry(api, "jan-2", 700, "2025-01-20T00:00:00Z")
    assert r.status_code == 422, r.content
    p = r.json()
    assert p["code"] == "period_closed" and p["period"] == "2025-01"
    assert p["closed_through"].startswith("2025-02-01")
    # The earlier key replays its original answer; it is not refused.
    r = post_entry(api, "jan-1", 500, "2025-01-10T12:00:00Z")
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    # Nothing was written for the refusal: the key is free for a corrected request.
    assert post_entry(api, "jan-2", 700, "2025-02-03T00:00:00Z").status_code == 201
    # Dated before the first closed period: closed too (the books are closed through 2025-02-01).
    assert post_entry(api, "old", 1, "2024-06-01T00:00:00Z").json()["code"] == "period_closed"


def test_move_to_open_policy_keeps_original_date(books):
    api = books
    assert api.post("/v1/periods/2025-03/close").status_code == 200
    r = api.put("/v1/closeout/settings", {"closed_period_entries": "move_to_open"}, format="json")
    assert r.status_code == 200 and r.json()["closed_through"].startswith("2025-04-01")
    r = post_entry(api, "late-1", 900, "2025-03-15T08:30:00Z")
    assert r.status_code == 201, r.content
    e = r.json()
    assert e["effective_at"].startswith("2025-04-01T00:00:00")
    assert e["metadata"]["closeout"]["original_effective_at"].startswith("2025-03-15T08:30:00")
    assert e["metadata"]["closeout"]["closed_period"] == "2025-03"
    # The evidence shows in "why did this balance change".
    r = api.get("/v1/accounts/customer/balance-changes", {"from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"})
    assert r.status_code == 200, r.content
    assert r.json()["results"][-1]["closeout"]["original_effective_at"].startswith("2025-03-15")


def test_reopen_needs_a_second_person(books, tenant_a):
    from core.actors import Actor
    from closeout.services.periods import period_reopen_decide

    api = books
    assert api.post("/v1/periods/2025-05/close").status_code == 200
    r = api.post("/v1/periods/2025-05/reopen", {"reason": "late invoice"}, format="json")
    assert r.status_code == 202, r.content
    rid = r.json()["id"]
    assert api.post("/v1/periods/2025-05/reopen", {"reason": "again"}, format="json").json()["code"] == "reopen_pending"
    connection.set_tenant(tenant_a.tenant)
    try:
        maker = Actor(kind="user", ref=r.json()["requested_by"], label="maker")
        alice = Actor(kind="user", ref="user:901:alice", label="alice")
        bob = Actor(kind="user", ref="user:902:bob", label="bob")
        from closeout import errors
        from core import errors as core_errors

        # An API key cannot decide; neither can the requester.
        with pytest.raises(core_errors.PermissionDenied):
            period_reopen_decide(actor=Actor(kind="api_key", ref="api_key:x"), public_id=rid, approve=True)
        with pytest.raises(errors.ReopenSelfDecision):
            period_reopen_decide(actor=maker, public_id=rid, approve=True)
        req = period_reopen_decide(actor=alice, public_id=rid, approve=True, note="ok")
        assert req.status == "approved"
        period = AccountingPeriod.objects.get(name="2025-05")
        assert period.status == PeriodStatus.OPEN and period.snapshot_id is None and period.reopen_count == 1
        with pytest.raises(errors.ReopenAlreadyDecided):
            period_reopen_decide(actor=bob, public_id=rid, approve=False)
    finally:
        connection.set_schema_to_public()
    assert post_entry(api, "may-late", 5, "2025-05-20T00:00:00Z").status_code == 201
    # Closing again takes a new snapshot (with the late entry) and seals it.
    r = api.post("/v1/periods/2025-05/close")
    assert r.status_code == 200
    tb = api.get("/v1/periods/2025-05/trial-balance").json()
    assert tb["source"] == "snapshot" and tb["ties_out"]
    row = next(x for x in tb["results"] if x["account_code"] == "customer")
    assert row["credits_minor"] == 5


def test_bad_input_changes_nothing(books, tenant_b, api_client):
    api = books
    assert api.post("/v1/periods", {"name": "bad", "start_at": "2025-07-02T00:00:00Z",
                                    "end_at": "2025-07-01T00:00:00Z"}, format="json").json()["code"] == "invalid_range"
    assert api.post("/v1/periods", {"name": "h1", "start_at": "2025-07-01T00:00:00Z",
                                    "end_at": "2025-08-15T00:00:00Z"}, format="json").status_code == 201
    r = api.post("/v1/periods", {"name": "h2", "start_at": "2025-08-01T00:00:00Z", "end_at": "2025-09-01T00:00:00Z"},
                 format="json")
    assert r.status_code == 409 and r.json()["code"] == "period_overlap" and r.json()["periods"] == ["h1"]
    # A default name overlapping a stored custom period is not usable either.
    assert api.post("/v1/periods/2025-08/close").json()["code"] == "period_overlap"
    assert api.post("/v1/periods/2099-01/close").json()["code"] == "period_not_ended"
    assert api.post("/v1/periods/not-a-period/close").status_code == 404
    assert api.post("/v1/periods/2025-10/reopen", {"reason": "x"}, format="json").status_code == 404
    # Periods close in order: h1 is open and earlier than 2025-11.
    r = api.post("/v1/periods/2025-11/close")
    assert r.status_code == 409 and r.json()["code"] == "period_out_of_order" and r.json()["open_earlier"] == ["h1"]
    # Another tenant's account is not found; its periods are not ours.
    other = api_client(tenant_b.api_key.plaintext)
    assert other.get("/v1/accounts/customer/balance-changes",
                     {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}).status_code == 404
    assert other.get("/v1/periods/h1").status_code == 404
    r = api.get("/v1/accounts/customer/balance-changes", {"from": "2026-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"})
    assert r.json()["code"] == "invalid_range"
    connection.set_tenant(tenant_b.tenant)
    try:
        assert AccountingPeriod.objects.count() == 0
    finally:
        connection.set_schema_to_public()


def test_open_holds_and_pending_approvals_block_closing(books, tenant_a):
    api = books
    assert post_entry(api, "fund", 10_000).status_code == 201
    r = api.post("/v1/holds", {"account": "customer", "amount_minor": 300, "currency": "USD",
                               "idempotency_key": "h-1"}, format="json")
    assert r.status_code == 201, r.content
    hold_id = r.json()["hold_id"]
    now = dt.datetime.now(dt.timezone.utc)
    assert api.post("/v1/periods", {"name": "straddle", "start_at": (now - dt.timedelta(days=1)).isoformat(),
                                    "end_at": now.isoformat()}, format="json").status_code == 201
    r = api.post("/v1/periods/straddle/close")
    assert r.status_code == 409, r.content
    p = r.json()
    assert p["code"] == "period_has_open_items" and p["open_holds"] == [hold_id] and hold_id in p["detail"]
    connection.set_tenant(tenant_a.tenant)
    try:
        assert AccountingPeriod.objects.get(name="straddle").status == PeriodStatus.OPEN
        assert PeriodReopenRequest.objects.count() == 0
    finally:
        connection.set_schema_to_public()
    assert api.post(f"/v1/holds/{hold_id}/release", {"idempotency_key": "rel-1"}, format="json").status_code == 200
    assert api.post("/v1/periods/straddle/close").status_code == 200


def test_pending_approval_blocks_closing_and_is_listed(books, tenant_a):
    from core.actors import Actor
    from ledger.services.approvals import approval_request_create

    api = books
    connection.set_tenant(tenant_a.tenant)
    try:
        sub = approval_request_create(
            actor=Actor(kind="user", ref="user:7:maker", label="maker"), kind="manual_entry",
            idempotency_key="apr-key", req_hash="h", currency="USD", amount_minor=5,
            payload={"lines": [{"account": "cash", "side": "debit", "amount_minor": 5, "currency": "USD"},
                               {"account": "customer", "side": "credit", "amount_minor": 5, "currency": "USD"}]})
    finally:
        connection.set_schema_to_public()
    now = dt.datetime.now(dt.timezone.utc)
    assert api.post("/v1/periods", {"name": "p-now", "start_at": (now - dt.timedelta(days=2)).isoformat(),
                                    "end_at": now.isoformat()}, format="json").status_code == 201
    r = api.post("/v1/periods/p-now/closing")
    assert r.status_code == 409 and r.json()["pending_approvals"] == [sub.approval.public_id], r.content
    assert sub.approval.public_id in r.json()["detail"]
    assert api.get("/v1/periods/p-now").json()["status"] == "open"
