"""The one-statement posting (ledger.posting.post.one_statement_post):
a new key over accounts the process has seen before is posted by one
statement in its own transaction, decided on ledger.posting_cache. These
tests change what the cache believes behind its back -- an account frozen,
a policy added or attached, a period closed, a duplicate in flight -- and
check that the answer is always the full path's."""
import dataclasses
import datetime as dt
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from audit.models import AuditEvent
from closeout.errors import PeriodClosed
from ledger import posting_cache
from ledger.checks import ledger_check
from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine
from ledger.posting import post
from ledger.services.accounts import account_freeze, account_policies_set
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.policies import policy_create
from tests.ledger import factories as f
from events.models import Event


@pytest.fixture
def direct(monkeypatch):
    """Which postings the one statement answered (True) or handed to the
    full path (False), in order."""
    seen: list[bool] = []
    real = post.one_statement_post

    def spy(**kwargs):
        out = real(**kwargs)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(post, "one_statement_post", spy)
    return seen


@pytest.fixture(autouse=True)
def cold_cache():
    """Each test starts as a new process does: nothing cached (the schema
    names repeat from test to test; their accounts' ids do not)."""
    posting_cache._CACHE.clear()
    yield
    posting_cache._CACHE.clear()


def _books(tenant):
    connection.set_tenant(tenant.tenant)
    return f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")


def test_the_second_posting_is_one_statement_and_answers_as_the_full_path(tenant_a, direct):
    src, dst = _books(tenant_a)
    with transaction.atomic():  # inside a caller's transaction: the full path
        full = f.post(debit=src, credit=dst, amount=5, key="first")
    one = f.post(debit=src, credit=dst, amount=7, key="second")
    assert direct == [True]
    assert full.status == one.status == 201 and not one.replayed
    # The same document, field for field, with this entry's numbers.
    assert set(one.body) == set(full.body)
    # Both paths list balances in account id order, whatever order the lines name the accounts in.
    for out in (full, one, f.post(debit=src, credit=dst, amount=1, key="third")):
        ids = [b["account_id"] for b in out.body["balances"]]
        assert ids == sorted(ids) == sorted({src.id, dst.id})
    back = f.post(debit=dst, credit=src, amount=1, key="back")  # dst's line first
    assert [b["account_id"] for b in back.body["balances"]] == sorted({src.id, dst.id})
    assert [(ln["account"], ln["side"], ln["amount_minor"], ln["balance_after"]) for ln in one.body["lines"]] == [
        ("src", "debit", 7, 12), ("dst", "credit", 7, 12)]
    assert {b["account"]: (b["posted"], b["pending"], b["available"]) for b in one.body["balances"]} == {
        "src": (12, 0, 12), "dst": (12, 0, 12)}
    assert one.body["policy_decisions"] == [
        {"policy": "system.account_status", "version": 1, "rule": "account_status", "decision": "pass",
         "account": code, "status": "open"} for code in ("src", "dst")]
    entry = LedgerEntry.objects.get(idempotency_key="second")
    assert one.entry_id == entry.id == one.body["id"] and entry.posting_id == one.body["posting_id"]
    assert entry.line_count == 2 and entry.policy_decisions == one.body["policy_decisions"]
    stored = list(LedgerLine.objects.filter(entry=entry).order_by("id").values_list("account__code", "balance_after"))
    assert stored == [("src", 12), ("dst", 12)]
    # Its evidence: the record (complete, written once), the event and the audit row.
    record = IdempotencyRecord.objects.get(key="second")
    assert (record.outcome, record.response_status, record.entry_id) == ("posted", 201, entry.id)
    assert record.completed_at is not None and record.response_body == one.body
    event = Event.objects.get(public_id=one.body["event_id"])
    assert event.type == "ledger.entry.created" and event.payload | {
        "event": event.type, "event_id": event.public_id} == one.body
    audit = AuditEvent.objects.get(action="ledger_entry.posted", target_id=str(entry.id))
    assert audit.policy_context == one.body["policy_decisions"]
    assert audit.metadata["idempotency_key"] == "second" and audit.metadata["accounts"] == ["dst", "src"]
    # A retry replays what was stored.
    again = f.post(debit=src, credit=dst, amount=7, key="second")
    assert again.replayed and again.body == one.body
    assert IdempotencyRecord.objects.get(key="second").replay_count == 1
    assert ledger_check() == []
    connection.set_schema_to_public()


def test_the_first_posting_reads_the_tenants_accounts_and_their_policies_at_once(tenant_a, direct):
    """A process's first posting for a tenant starts the cache from one read
    of the tenant's newest accounts (posting_cache.WARM_ACCOUNTS) with the
    policies attached to them, so it is one statement already, decided on
    those policies."""
    src, dst = _books(tenant_a)
    policy_create(actor=f.TEST_ACTOR, name="dst-cap", kind="max_amount", params={"max_amount_minor": 50})
    account_policies_set(actor=f.TEST_ACTOR, account=dst, policies=["dst-cap"])
    ok = f.post(debit=src, credit=dst, amount=50, key="at-cap")
    over = f.post(debit=src, credit=dst, amount=51, key="over-cap")
    assert direct == [True, False]  # a refusal is the full path's to answer and remember
    assert ok.status == 201 and {"policy": "dst-cap", "version": 1, "rule": "max_amount", "decision": "pass",
                                 "currency": "USD", "amount_minor": 50, "max_amount_minor": 50} in ok.body[
        "policy_decisions"]
    assert over.status == 422 and over.body["policy"] == "dst-cap"
    cache = posting_cache.posting_cache_get(connection.schema_name)
    assert {cache.accounts["src"].id, cache.accounts["dst"].id} == {src.id, dst.id}
    assert [p.name for p in cache.accounts["dst"].attached] == ["dst-cap"] and cache.accounts["src"].attached == ()
    assert ledger_check() == []
    connection.set_schema_to_public()


def test_the_first_read_takes_the_newest_accounts_only(tenant_a, direct, monkeypatch):
    """Past WARM_ACCOUNTS the others are learned one full-path posting at a time."""
    monkeypatch.setattr(posting_cache, "WARM_ACCOUNTS", 1)
    src, dst = _books(tenant_a)  # dst is the newer
    f.post(debit=src, credit=dst, amount=5, key="learns-src")
    f.post(debit=src, credit=dst, amount=5, key="both-known")
    assert direct == [False, True]
    connection.set_schema_to_public()


def test_an_account_frozen_since_it_was_cached_is_refused_and_remembered(tenant_a, direct):
    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")
    account_freeze(actor=f.TEST_ACTOR, account=Account.objects.get(code="dst"))
    out = f.post(debit=src, credit=dst, amount=7, key="after-freeze")
    assert direct == [True, False]  # the statement found the account changed and wrote nothing
    assert out.status == 422 and out.body["code"] == "account_not_open"
    again = f.post(debit=src, credit=dst, amount=7, key="after-freeze")
    assert again.replayed and again.body == out.body
    assert not LedgerEntry.objects.filter(idempotency_key="after-freeze").exists()
    assert Account.objects.get(code="src").posted_balance == 5
    connection.set_schema_to_public()


def test_a_policy_created_since_the_accounts_were_cached_applies(tenant_a, direct):
    """The cache knows no max_amount policy; the epoch the statement checks
    does: the posting is refused, not posted past the new limit."""
    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")
    policy_create(actor=f.TEST_ACTOR, name="cap", kind="max_amount", params={"max_amount_minor": 100},
                  applies_to_all=True)
    out = f.post(debit=src, credit=dst, amount=101, key="over-cap")
    assert direct == [True, False]
    assert out.status == 422 and out.body["policy"] == "cap", out.body
    assert not LedgerEntry.objects.filter(idempotency_key="over-cap").exists()
    # The full path read the new policy set: the next posting is one statement again, with the policy's decision.
    ok = f.post(debit=src, credit=dst, amount=100, key="at-cap")
    assert direct[-1] is True and ok.status == 201
    assert {"policy": "cap", "version": 1, "rule": "max_amount", "decision": "pass", "currency": "USD",
            "amount_minor": 100, "max_amount_minor": 100} in ok.body["policy_decisions"]
    connection.set_schema_to_public()


def test_a_balance_policy_attached_since_cached_is_decided_on_the_locked_row(tenant_a, direct):
    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")  # dst (credit-normal) holds 5
    policy_create(actor=f.TEST_ACTOR, name="no-overdraft", kind="no_negative_available", params={})
    account_policies_set(actor=f.TEST_ACTOR, account=Account.objects.get(code="dst"), policies=["no-overdraft"])
    out = f.post(debit=dst, credit=src, amount=6, key="overdraw")
    assert out.status == 422 and out.body["rule"] == "no_negative_available", out.body
    assert out.body["numbers"]["available"] == 5 and out.body["numbers"]["requested"] == 6
    # Money out of a guarded account never takes the one statement.
    assert f.post(debit=dst, credit=src, amount=5, key="drain").status == 201
    assert direct == [True, False, False]
    assert Account.objects.get(code="dst").available_balance == 0
    connection.set_schema_to_public()


def test_a_period_closed_since_cached_refuses_entries_inside_it(tenant_a, direct):
    from closeout.services.periods import period_close

    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")
    period_close(actor=f.TEST_ACTOR, ref="2025-03")
    lines = [LineSpec(account="src", side="debit", amount_minor=3, currency="USD"),
             LineSpec(account="dst", side="credit", amount_minor=3, currency="USD")]
    with pytest.raises(PeriodClosed):  # 422 period_closed, as from the full path (nothing is remembered)
        entry_post(actor=f.TEST_ACTOR, tenant="t", idempotency_key="in-march", req_hash="h", lines=lines,
                   effective_at=dt.datetime(2025, 3, 15, tzinfo=dt.timezone.utc))
    assert direct == [True, False]  # the entry trigger refused the one statement; the full path said why
    assert not LedgerEntry.objects.filter(idempotency_key="in-march").exists()
    connection.set_schema_to_public()


def test_a_cache_that_names_another_account_is_caught_under_the_lock(tenant_a, direct):
    """As if the schema had been dropped and made again: the cached id now
    belongs to an account with another code. The statement refuses, the
    cache is dropped, the full path posts to the right account."""
    src, dst = _books(tenant_a)
    other = f.account(code="other")
    f.post(debit=src, credit=dst, amount=5, key="warm")
    cache = posting_cache.posting_cache_get(connection.schema_name)
    cache.accounts["dst"] = dataclasses.replace(cache.accounts["dst"], id=other.id)  # "dst" -> other's row
    out = f.post(debit=src, credit=dst, amount=7, key="wrong-cache")
    assert direct == [True, False] and out.status == 201
    assert {ln["account"] for ln in out.body["lines"]} == {"src", "dst"}
    assert Account.objects.get(code="other").posted_balance == 0
    assert Account.objects.get(code="dst").posted_balance == 12
    assert posting_cache.posting_cache_get(connection.schema_name).accounts["dst"].id == dst.id
    connection.set_schema_to_public()


def test_inside_a_callers_transaction_the_full_path_posts(tenant_a, direct):
    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")
    with transaction.atomic():
        assert f.post(debit=src, credit=dst, amount=7, key="inside").status == 201
    assert direct == [True]  # the second not even tried: a failed statement would abort the caller's transaction
    connection.set_schema_to_public()


def test_a_key_already_taken_replays_on_the_full_path(tenant_a, direct):
    src, dst = _books(tenant_a)
    first = f.post(debit=src, credit=dst, amount=5, key="taken")
    again = f.post(debit=src, credit=dst, amount=5, key="taken")
    assert direct == [True, False] and again.replayed and again.body == first.body
    assert LedgerEntry.objects.filter(idempotency_key="taken").count() == 1
    connection.set_schema_to_public()


def test_one_key_from_many_threads_posts_once(tenant_a):
    """Every thread's accounts are cached, so each tries the one statement:
    they queue on the key's lock; the first posts, the others find its
    record (or its entry's key) and replay it."""
    src, dst = _books(tenant_a)
    f.post(debit=src, credit=dst, amount=5, key="warm")
    tenant = tenant_a.tenant
    barrier, results = threading.Barrier(16), []

    def worker():
        try:
            connection.set_tenant(tenant)
            barrier.wait(timeout=30)
            results.append(f.post(debit=src, credit=dst, amount=7, key="same"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 16 and {r.status for r in results} == {201}
    assert sum(not r.replayed for r in results) == 1
    assert len({r.body["posting_id"] for r in results}) == 1
    connection.set_tenant(tenant)
    assert LedgerEntry.objects.filter(idempotency_key="same").count() == 1
    assert Account.objects.get(code="dst").posted_balance == 12
    assert IdempotencyRecord.objects.get(key="same").replay_count == 15
    assert ledger_check() == []
    connection.set_schema_to_public()


def test_the_key_lock_serializes_a_claim_behind_an_open_posting(tenant_a):
    """The key's advisory lock (locks.key_lock_sql) is taken before the
    record is inserted: a second transaction with the same key waits for
    the first even before the first has written its record. Per tenant:
    the same key in another schema is free."""
    from core.locks import key_lock_sql
    from tests.ledger.test_hot_path import _other_connection

    _books(tenant_a)
    other = _other_connection(tenant_a)
    try:
        other.execute("BEGIN")
        other.execute(f"SELECT {key_lock_sql('%s')}", ["held"])
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '200ms'")
            with pytest.raises(OperationalError) as caught:
                cur.execute(f"SELECT {key_lock_sql('%s')}", ["held"])
        assert caught.value.__cause__.sqlstate == "55P03"
        connection.set_schema_to_public()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '200ms'")
            cur.execute(f"SELECT {key_lock_sql('%s')}", ["held"])  # the public schema's "held": another lock
    finally:
        other.execute("ROLLBACK")
        other.close()
    connection.set_schema_to_public()


def test_the_cache_is_per_tenant(tenant_a, tenant_b, direct):
    a_src, a_dst = _books(tenant_a)
    f.post(debit=a_src, credit=a_dst, amount=5, key="k")
    b_src, b_dst = _books(tenant_b)
    out = f.post(debit=b_src, credit=b_dst, amount=9, key="k")
    # Each tenant's first posting reads that tenant's accounts: one
    # tenant's ids, used in another schema, would be refused under the lock.
    assert direct == [True, True] and out.status == 201 and not out.replayed
    assert Account.objects.get(code="dst").posted_balance == 9
    connection.set_tenant(tenant_a.tenant)
    assert Account.objects.get(code="dst").posted_balance == 5
    connection.set_schema_to_public()


def test_the_least_recently_used_tenant_leaves_the_cache_first(tenant_a, tenant_b, direct, monkeypatch):
    monkeypatch.setattr(posting_cache, "MAX_TENANTS", 1)
    a_src, a_dst = _books(tenant_a)
    f.post(debit=a_src, credit=a_dst, amount=5, key="a1")
    a_schema = connection.schema_name
    b_src, b_dst = _books(tenant_b)
    f.post(debit=b_src, credit=b_dst, amount=5, key="b1")
    assert list(posting_cache._CACHE) == [connection.schema_name]  # a's cache made room for b's
    connection.set_tenant(tenant_a.tenant)
    f.post(debit=a_src, credit=a_dst, amount=5, key="a2")  # read again, still one statement
    assert direct == [True, True, True] and list(posting_cache._CACHE) == [a_schema]
    assert Account.objects.get(code="dst").posted_balance == 10
    connection.set_schema_to_public()


def test_a_policy_change_moves_the_epoch_in_the_database(tenant_a):
    """The trigger, not the service: every statement on the policy tables
    gives the tenant an epoch it has never had."""
    from ledger.models import PolicyEpoch

    connection.set_tenant(tenant_a.tenant)
    seen = [PolicyEpoch.objects.get().epoch]
    policy_create(actor=f.TEST_ACTOR, name="cap", kind="max_amount", params={"max_amount_minor": 5})
    seen.append(PolicyEpoch.objects.get().epoch)
    account_policies_set(actor=f.TEST_ACTOR, account=f.account(code="a1"), policies=["cap"])
    seen.append(PolicyEpoch.objects.get().epoch)
    with connection.cursor() as cur:
        cur.execute("UPDATE ledger_policy SET description = 'x' WHERE false")  # touches no row, still a change of state
        cur.execute("DELETE FROM ledger_accountpolicy")
    seen.append(PolicyEpoch.objects.get().epoch)
    assert len(set(seen)) == 4, seen
    connection.set_schema_to_public()


@pytest.mark.parametrize("debit_first", [True, False])
def test_the_full_path_lists_balances_in_account_id_order(tenant_a, monkeypatch, debit_first):
    """As the one statement does: the answer (and what a replay returns)
    does not depend on which path posted it."""
    monkeypatch.setattr(post, "one_statement_post", lambda **kwargs: None)
    src, dst = _books(tenant_a)
    other = f.account(code="other")
    # New row versions of src after dst's: a scan in table order meets dst first.
    f.post(debit=src, credit=dst, amount=1)
    for _ in range(3):
        f.post(debit=src, credit=other, amount=1)
    out = f.post(debit=src, credit=dst, amount=1) if debit_first else f.post(debit=dst, credit=src, amount=1)
    assert [b["account_id"] for b in out.body["balances"]] == [src.id, dst.id]
    connection.set_schema_to_public()
