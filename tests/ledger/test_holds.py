"""Holds through the real API and PostgreSQL: reserve, capture, release,
expiry, idempotency, bad input, races, and the database's own guards."""
import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from ledger.checks import ledger_check
from ledger.models import Account, Hold, HoldMovement, IdempotencyRecord, LedgerEntry, LedgerLine
from events.models import Event


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


def test_policies_see_holds(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/policies", {"name": "no_overdraft", "kind": "no_negative_available"}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["no_overdraft"]}, format="json")
    assert hold(api, "p-1", amount=700_000).status_code == 201
    before = counts(tenant_a)
    r = hold(api, "p-2", amount=300_001)
    assert r.status_code == 422 and r.json()["code"] == "policy_rejected", r.content
    assert "300001 requested" in r.json()["detail"] and "300000 USD available" in r.json()["detail"]
    # Remembered: the retry gets the same answer even after money is freed.
    assert counts(tenant_a)[0] == before[0]
    assert api.post(f"/v1/holds/{Hold_id(tenant_a, 'p-1')}/release", {"idempotency_key": "p-rel"},
                    format="json").status_code == 200
    retry = hold(api, "p-2", amount=300_001)
    assert retry.status_code == 422 and retry["Idempotent-Replayed"] == "true" and retry.json() == r.json()
    # A posting sees the pending amount of a hold too.
    assert hold(api, "p-3", amount=900_000).status_code == 201
    entry = api.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                            "amount_minor": 100_001, "currency": "USD", "idempotency_key": "p-e"},
                     format="json")
    assert entry.status_code == 422 and entry.json()["code"] == "policy_rejected"
    in_schema(tenant_a)
    assert IdempotencyRecord.objects.get(key="p-2").outcome == "rejected"
    assert AuditEvent.objects.filter(action="hold.create.rejected", target_id="p-2").count() == 1
    connection.set_schema_to_public()
    check_ok(tenant_a)


def Hold_id(tenant, key):
    in_schema(tenant)
    try:
        return Hold.objects.get(idempotency_key=key).id
    finally:
        connection.set_schema_to_public()


def test_overdraft_limit_lets_a_hold_go_below_zero(seed_accounts, tenant_a):
    api = seed_accounts
    api.post("/v1/policies", {"name": "od", "kind": "no_negative_available",
                              "params": {"overdraft_limit_minor": 50_000}}, format="json")
    api.put("/v1/accounts/customer_balance/policies", {"policies": ["od"]}, format="json")
    assert hold(api, "od-1", amount=1_050_000).status_code == 201
    assert bal(api, "customer_balance")["available"] == -50_000
    assert hold(api, "od-2", amount=1).json()["code"] == "policy_rejected"
    check_ok(tenant_a)


@pytest.mark.parametrize("body,status,code", [
    ({"amount_minor": 1.5}, 400, "invalid_amount"),
    ({"amount_minor": "100"}, 400, "invalid_amount"),
    ({"amount_minor": 0}, 400, "invalid_amount"),
    ({"amount_minor": -5}, 400, "invalid_amount"),
    ({"amount_minor": 2**63}, 400, "invalid_amount"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, 400, "invalid_expiry"),
    ({"expires_at": "2999-01-01T00:00:00Z"}, 400, "invalid_expiry"),
    ({"destination": "customer_balance"}, 400, "invalid_destination"),
    ({"destination": "eur_cash"}, 400, "invalid_destination"),
    ({"currency": "EUR"}, 400, "currency_mismatch"),
    ({"currency": "XXX"}, 400, "unknown_currency"),
    ({"account": "nope"}, 400, "account_not_found"),
    ({"surprise": 1}, 400, "unknown_field"),
    ({"idempotency_key": None}, 400, "idempotency_key_missing"),
])
def test_bad_hold_requests_write_nothing(seed_accounts, tenant_a, body, status, code):
    api = seed_accounts
    before = counts(tenant_a)
    payload = {"account": "customer_balance", "destination": "reserved_balance", "amount_minor": 100,
               "currency": "USD", "idempotency_key": "bad-1"} | body
    payload = {k: v for k, v in payload.items() if v is not None}
    r = api.post("/v1/holds", payload, format="json")
    assert r.status_code == status, r.content
    assert r.json()["code"] == code and r["Content-Type"] == "application/problem+json"
    assert counts(tenant_a) == before
    # Not remembered: the fixed request with the same key goes through.
    assert hold(api, "bad-1", amount=100).status_code == 201


def test_bad_capture_and_release_requests(seed_accounts, tenant_a):
    api = seed_accounts
    no_dest = api.post("/v1/holds", {"account": "customer_balance", "amount_minor": 100, "currency": "USD",
                                     "idempotency_key": "nd"}, format="json").json()
    before = counts(tenant_a)
    cases = [
        (f"/v1/holds/{no_dest['id']}/capture", {"idempotency_key": "c1"}, 400, "destination_required"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "customer_balance", "idempotency_key": "c2"}, 400,
         "invalid_destination"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "eur_cash", "idempotency_key": "c3"}, 400,
         "currency_mismatch"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "nope", "idempotency_key": "c4"}, 400,
         "account_not_found"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "cash", "amount_minor": 101, "idempotency_key": "c5"},
         422, "capture_exceeds_hold"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "cash", "amount_minor": 1.0, "idempotency_key": "c6"},
         400, "invalid_amount"),
        (f"/v1/holds/{no_dest['id']}/capture", {"destination": "cash"}, 400, "idempotency_key_missing"),
        ("/v1/holds/999999/capture", {"destination": "cash", "idempotency_key": "c7"}, 404, "hold_not_found"),
        ("/v1/holds/hld_nope/release", {"idempotency_key": "c8"}, 404, "hold_not_found"),
        (f"/v1/holds/{no_dest['id']}/release", {"idempotency_key": "c9", "extra": 1}, 400, "unknown_field"),
    ]
    for url, body, status, code in cases:
        r = api.post(url, body, format="json")
        assert (r.status_code, r.json()["code"]) == (status, code), (url, body, r.content)
    assert counts(tenant_a) == before
    ok = api.post(f"/v1/holds/{no_dest['id']}/capture", {"destination": "cash", "idempotency_key": "c1"}, format="json")
    assert ok.status_code == 201, ok.content


def test_expired_hold_cannot_be_captured_and_the_sweep_frees_it(seed_accounts, tenant_a):
    from ledger.services.holds import hold_expire_due

    api = seed_accounts
    soon = timezone.now() + dt.timedelta(seconds=1)
    h = hold(api, "exp-1", amount=5000, expires_at=soon.isoformat()).json()
    keep = hold(api, "exp-2", amount=7000, expires_at=(soon + dt.timedelta(hours=1)).isoformat()).json()
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.1)
    cap = api.post(f"/v1/holds/{h['id']}/capture", {"idempotency_key": "exp-cap"}, format="json")
    assert cap.status_code == 409 and cap.json()["code"] == "hold_expired"
    rel = api.post(f"/v1/holds/{h['id']}/release", {"idempotency_key": "exp-rel"}, format="json")
    assert rel.status_code == 409 and rel.json()["code"] == "hold_expired"
    # The create replays unchanged after expires_at has passed.
    assert hold(api, "exp-1", amount=5000, expires_at=soon.isoformat()).json() == h
    assert bal(api, "customer_balance")["pending"] == 12_000
    in_schema(tenant_a)
    assert hold_expire_due() == 1
    assert hold_expire_due() == 0
    expired = Hold.objects.get(id=h["id"])
    assert expired.status == "expired" and expired.released_minor == 5000 and expired.closed_at is not None
    assert Event.objects.filter(type="ledger.hold.expired").count() == 1
    assert AuditEvent.objects.get(action="hold.expired").actor_ref == "system:hold_expiry"
    connection.set_schema_to_public()
    assert bal(api, "customer_balance") == {"posted": 1_000_000, "pending": 7000, "available": 993_000}
    assert api.get(f"/v1/holds/{keep['id']}").json()["status"] == "active"
    again = api.post(f"/v1/holds/{h['id']}/capture", {"idempotency_key": "exp-cap2"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "hold_not_active"
    assert again.json()["hold_status"] == "expired"
    check_ok(tenant_a)


@pytest.mark.worker
def test_expiry_job_runs_on_a_real_worker(celery_worker_proc, seed_accounts, tenant_a, tenant_b):
    from ledger.tasks import expire_due_holds

    api = seed_accounts
    soon = timezone.now() + dt.timedelta(seconds=1)
    h = hold(api, "w-1", amount=4000, expires_at=soon.isoformat()).json()
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.1)
    result = expire_due_holds.delay().get(timeout=60)
    assert result.get(tenant_a.tenant.slug) == 1, result
    assert api.get(f"/v1/holds/{h['id']}").json()["status"] == "expired"
    assert bal(api, "customer_balance")["pending"] == 0
    check_ok(tenant_a)


def _run_concurrently(n, fn):
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(worker, range(n)))


@pytest.mark.slow
def test_capture_release_and_expiry_race_one_wins(seed_accounts, tenant_a):
    from ledger.services.holds import hold_expire_due

    key = tenant_a.api_key.plaintext
    api = seed_accounts
    later = timezone.now() + dt.timedelta(hours=1)
    winners = []
    for round_ in range(8):
        h = hold(api, f"race-{round_}", amount=10_000, expires_at=later.isoformat()).json()

        def contender(i, h=h, round_=round_):
            if i == 2:
                connection.set_tenant(tenant_a.tenant)
                return ("expire", hold_expire_due(now=later + dt.timedelta(seconds=1)))
            c = APIClient()
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            op = "capture" if i == 0 else "release"
            r = c.post(f"/v1/holds/{h['id']}/{op}", {"idempotency_key": f"race-{round_}-{op}"}, format="json")
            return (op, r.status_code, r.json().get("code"))

        results = _run_concurrently(3, contender)
        won = [r for r in results if (r[0] == "expire" and r[1] == 1) or r[1] in (200, 201)]
        assert len(won) == 1, results
        for r in results:
            if r not in won and r[0] != "expire":
                assert r[1:] == (409, "hold_not_active"), results
        status = api.get(f"/v1/holds/{h['id']}").json()["status"]
        assert status == {"capture": "captured", "release": "released", "expire": "expired"}[won[0][0]]
        winners.append(won[0][0])
    captured = winners.count("capture") * 10_000
    assert bal(api, "customer_balance") == {"posted": 1_000_000 - captured, "pending": 0,
                                            "available": 1_000_000 - captured}
    assert bal(api, "reserved_balance")["posted"] == captured
    check_ok(tenant_a)


def test_database_refuses_hold_tampering(seed_accounts, tenant_a):
    api = seed_accounts
    h = hold(api, "t-1", amount=1000).json()
    part = hold(api, "t-2", amount=1000).json()
    assert api.post(f"/v1/holds/{part['id']}/capture", {"amount_minor": 10, "idempotency_key": "t-2c"},
                    format="json").status_code == 201
    in_schema(tenant_a)
    acc = Account.objects.get(code="customer_balance")

    def refused(sql, params=()):
        with pytest.raises(DatabaseError) as exc:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql, list(params))
        return str(exc.value)

    try:
        assert "balances change only" in refused("UPDATE ledger_account SET pending_balance = 0 WHERE id = %s", [acc.id])
        assert "capture entry" in refused(
            "UPDATE ledger_hold SET captured_minor = 1000, status = 'captured', closed_at = now() WHERE id = %s",
            [h["id"]])
        assert "are fixed" in refused("UPDATE ledger_hold SET amount_minor = 1 WHERE id = %s", [h["id"]])
        assert "hold_parts_nonnegative" in refused("UPDATE ledger_hold SET released_minor = -1 WHERE id = %s", [h["id"]])
        assert "only grow" in refused("UPDATE ledger_hold SET captured_minor = 5 WHERE id = %s", [part["id"]])
        capture_entry = Hold.objects.get(id=part["id"]).last_entry_id
        assert "capture entry" in refused(  # the same entry cannot back a second capture
            "UPDATE ledger_hold SET captured_minor = 20 WHERE id = %s", [part["id"]])
        assert "hold_capture entry" in refused(  # nor an entry of another kind or amount
            "UPDATE ledger_hold SET captured_minor = 20, last_entry_id = (SELECT min(id) FROM ledger_ledgerentry) "
            "WHERE id = %s", [part["id"]])
        assert capture_entry is not None
        assert "hold_status_consistent" in refused(
            "UPDATE ledger_hold SET released_minor = 10 WHERE id = %s", [h["id"]])
        assert "append-only" in refused("DELETE FROM ledger_hold WHERE id = %s", [h["id"]])
        assert "hold trigger only" in refused(
            "INSERT INTO ledger_holdmovement (hold_id, account_id, kind, amount_minor, pending_delta, pending_after, at) "
            "VALUES (%s, %s, 'released', 1000, -1000, 0, now())", [h["id"], acc.id])
        assert "append-only" in refused("UPDATE ledger_holdmovement SET pending_after = 0")
        assert "starts active" in refused(
            "INSERT INTO ledger_hold (hold_id, account_id, amount_minor, currency, captured_minor, released_minor, "
            "status, idempotency_key, external_reference, description, metadata, actor_kind, actor_ref, "
            "correlation_id, policy_decisions, created_at, updated_at, closed_at) VALUES ('hld_x', %s, 10, 'USD', 0, "
            "10, 'released', 'raw', '', '', '{}', 'system', 'sql', 'c', '[]', now(), now(), now())", [acc.id])
        # A release straight in SQL is still a consistent release: the trigger moves pending with it.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("UPDATE ledger_hold SET released_minor = 1000, status = 'released', closed_at = now() "
                        "WHERE id = %s", [h["id"]])
        assert Account.objects.get(id=acc.id).pending_balance == 990
        assert ledger_check() == []
        assert "never changes" in refused("UPDATE ledger_hold SET status = 'expired' WHERE id = %s", [h["id"]])
    finally:
        connection.set_schema_to_public()


def test_ledger_check_names_pending_drift(seed_accounts, tenant_a):
    hold(seed_accounts, "d-1", amount=1000)
    in_schema(tenant_a)
    try:
        with transaction.atomic(), connection.cursor() as cur:
            if settings.CITUS:  # the guard runs on the tenant's worker: the SET must travel there
                cur.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute("UPDATE ledger_account SET pending_balance = 1 WHERE code = 'customer_balance'")
        names = {v.check for v in ledger_check()}
        assert "pending_equals_open_holds" in names
    finally:
        connection.set_schema_to_public()
