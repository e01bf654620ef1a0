"""The posting path's late lock (ledger.posting.statements.late_lock_cte): the
claim reads the accounts no policy decision rests on, the entry's write
locks them. Here another session acts on those accounts in between, the
way a busy account sees it all day."""
import threading

import pytest
from django.db import connection

from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine
from ledger.posting import rules
from tests.ledger import factories as f


def _between_read_and_write(monkeypatch, tenant, action):
    """Run `action` once, on another connection (a thread), after the claim
    read the accounts and before the entry's write locks them."""
    real = rules.policies_evaluate
    fired = []

    def evaluate(**kwargs):
        if not fired:
            fired.append(True)

            def run():
                try:
                    connection.set_tenant(tenant.tenant)
                    action()
                finally:
                    connection.close()

            t = threading.Thread(target=run)
            t.start()
            t.join(30)
            assert not t.is_alive(), "the other session blocked: the claim locked what it should only read"
        return real(**kwargs)

    monkeypatch.setattr(rules, "policies_evaluate", evaluate)
    return fired


def test_balances_moved_since_the_read_are_in_the_answer(tenant_a, monkeypatch):
    connection.set_tenant(tenant_a.tenant)
    src, dst = f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")
    f.post(debit=src, credit=dst, amount=5, key="first")
    fired = _between_read_and_write(monkeypatch, tenant_a, lambda: f.post(debit=src, credit=dst, amount=100,
                                                                          key="meanwhile"))
    out = f.post(debit=src, credit=dst, amount=7, key="late")
    assert fired and out.status == 201
    # What the line trigger stamped from the locked rows, and what the answer says.
    stored = dict(LedgerLine.objects.filter(entry_id=out.entry_id).values_list("account__code", "balance_after"))
    assert stored == {"src": 112, "dst": 112}
    assert {ln["account"]: ln["balance_after"] for ln in out.body["lines"]} == stored
    assert {b["account"]: (b["posted"], b["pending"], b["available"]) for b in out.body["balances"]} == {
        "src": (112, 0, 112), "dst": (112, 0, 112)}
    assert Account.objects.get(code="src").posted_balance == 112
    # The event and the remembered body carry the same numbers as the answer.
    from events.models import Event

    event = Event.objects.get(public_id=out.body["event_id"])
    assert event.payload["lines"] == out.body["lines"] and event.payload["balances"] == out.body["balances"]
    record = IdempotencyRecord.objects.get(key="late")
    assert record.response_body == out.body
    replay = f.post(debit=src, credit=dst, amount=7, key="late")
    assert replay.replayed and replay.body == out.body
    connection.set_schema_to_public()


def test_a_hold_placed_since_the_read_is_in_the_answer(tenant_a, monkeypatch):
    """Pending moves too: a hold placed on the account between the read and
    the write shows in the answer's pending and available."""
    from ledger.services.holds import hold_create

    connection.set_tenant(tenant_a.tenant)
    src, dst = f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")
    f.post(debit=src, credit=dst, amount=50, key="fund")

    def hold():
        out = hold_create(actor=f.TEST_ACTOR, tenant="t", idempotency_key="h1", req_hash="h1", account="dst",
                          amount_minor=20, currency="USD")
        assert out.status == 201, out.body

    fired = _between_read_and_write(monkeypatch, tenant_a, hold)
    out = f.post(debit=src, credit=dst, amount=5, key="after-hold")
    assert fired and out.status == 201
    assert {b["account"]: (b["posted"], b["pending"], b["available"]) for b in out.body["balances"]} == {
        "src": (55, 0, 55), "dst": (55, 20, 35)}
    assert Account.objects.get(code="dst").pending_balance == 20
    assert IdempotencyRecord.objects.get(key="after-hold").response_body == out.body
    connection.set_schema_to_public()


def test_an_account_frozen_since_the_read_is_decided_again(tenant_a, monkeypatch):
    """The write refuses to post on a decision whose ground moved (status,
    currency, normal side): the transaction is retried whole and the retry
    decides on the locked rows -- here, a remembered account_not_open."""
    from ledger.services.accounts import account_freeze

    connection.set_tenant(tenant_a.tenant)
    src, dst = f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")
    fired = _between_read_and_write(
        monkeypatch, tenant_a, lambda: account_freeze(actor=f.TEST_ACTOR, account=Account.objects.get(code="dst")))
    out = f.post(debit=src, credit=dst, amount=7, key="frozen")
    assert fired
    assert out.status == 422 and out.body["code"] == "account_not_open"
    assert not LedgerEntry.objects.filter(idempotency_key="frozen").exists()
    assert IdempotencyRecord.objects.get(key="frozen").outcome == "rejected"
    assert Account.objects.get(code="dst").posted_balance == 0
    connection.set_schema_to_public()


def test_payload_rebase_moves_only_the_named_accounts():
    """zentra_payload_rebase on its own: moves per account id, added to
    lines and balances both; other accounts and keys untouched."""
    import json

    payload = {"id": 1, "lines": [{"account_id": 1, "balance_after": 10}, {"account_id": 2, "balance_after": -3}],
               "balances": [{"account_id": 1, "posted": 10, "pending": 4, "available": 6},
                            {"account_id": 2, "posted": -3, "pending": 0, "available": -3}]}
    with connection.cursor() as cur:
        cur.execute("SELECT public.zentra_payload_rebase(%s::jsonb, %s::jsonb)::text",
                    [json.dumps(payload), json.dumps({"1": [100, 7]})])
        out = json.loads(cur.fetchone()[0])
    assert out["id"] == 1
    assert out["lines"] == [{"account_id": 1, "balance_after": 110}, {"account_id": 2, "balance_after": -3}]
    assert out["balances"] == [{"account_id": 1, "posted": 110, "pending": 11, "available": 99},
                               {"account_id": 2, "posted": -3, "pending": 0, "available": -3}]


@pytest.mark.parametrize("guarded", [True, False])
def test_a_refusal_is_made_on_locked_rows(tenant_a, monkeypatch, guarded):
    """An overdraft refusal rests on a balance: the claim locks the guarded
    account, so the other session's deposit waits for this transaction
    (it cannot slip in between and make the remembered refusal wrong)."""
    from ledger.services.policies import policy_create

    connection.set_tenant(tenant_a.tenant)
    policy_create(actor=f.TEST_ACTOR, name="no_od", kind="no_negative_available", params={})
    wallet = f.account(code="wallet", policies=["no_od"] if guarded else None)
    shop = f.account(code="shop")
    blocked = []

    def deposit():
        # NOWAIT: succeeds only if the claim left the wallet unlocked.
        from django.db import transaction
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT id FROM ledger_account WHERE code = 'wallet' FOR UPDATE NOWAIT")
        except Exception:  # noqa: BLE001
            blocked.append(True)

    _between_read_and_write(monkeypatch, tenant_a, deposit)
    out = f.post(debit=wallet, credit=shop, amount=50, key="spend")
    assert bool(blocked) == guarded
    if guarded:
        assert out.status == 422 and out.body["code"] == "policy_rejected", out.body
        assert (out.body["rule"], out.body["numbers"]["available"], out.body["numbers"]["requested"]) == (
            "no_negative_available", 0, 50)
    else:
        assert out.status == 201
    connection.set_schema_to_public()


def test_inside_a_callers_transaction_everything_is_locked_first(tenant_a, monkeypatch):
    """A late lock may ask for its transaction to be re-run (40001); inside
    a caller's transaction nothing can re-run it, so the claim locks every
    account as before."""
    from django.db import transaction

    connection.set_tenant(tenant_a.tenant)
    src, dst = f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")
    seen = []

    def probe():
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT id FROM ledger_account WHERE code IN ('src', 'dst') FOR UPDATE NOWAIT")
            seen.append("free")
        except Exception:  # noqa: BLE001 - lock_not_available
            seen.append("locked")

    _between_read_and_write(monkeypatch, tenant_a, probe)
    with transaction.atomic():
        assert f.post(debit=src, credit=dst, amount=3, key="nested").status == 201
    assert seen == ["locked"]
    seen.clear()
    _between_read_and_write(monkeypatch, tenant_a, probe)
    assert f.post(debit=src, credit=dst, amount=3, key="outermost").status == 201
    assert seen == ["free"]
    connection.set_schema_to_public()
