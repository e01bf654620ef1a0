"""The posting path's lean cursor (zentra_site/db.py): prepared statements on
one connection serving several tenant schemas, errors mapped like Django's."""
import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine
from tests.ledger import factories as f
from core.db import hot_execute


def _accounts(tenant):
    connection.set_tenant(tenant.tenant)
    return f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")


def test_prepared_statements_follow_the_tenant_schema(tenant_a, tenant_b):
    """Alternate tenants on one connection well past psycopg's prepare
    threshold: every posting lands in its own tenant's schema. (PostgreSQL
    re-parses a prepared statement when search_path changes; if it did not,
    tenant B's postings would go to tenant A's tables.)"""
    accounts = {"a": _accounts(tenant_a), "b": _accounts(tenant_b)}
    tenants = {"a": tenant_a, "b": tenant_b}
    for i in range(8):
        for name in ("a", "b"):
            connection.set_tenant(tenants[name].tenant)
            src, dst = accounts[name]
            amount = 1 if name == "a" else 100
            out = f.post(debit=src, credit=dst, amount=amount, key=f"{name}-{i}")
            assert out.status == 201 and out.body["lines"][0]["balance_after"] == (i + 1) * amount
    with connection.cursor() as cur:  # the statements above were prepared on this connection
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%ledger_ledgerline%%'")
        assert cur.fetchone()[0] >= 1
    for name, amount in (("a", 1), ("b", 100)):
        connection.set_tenant(tenants[name].tenant)
        assert LedgerEntry.objects.count() == 8
        assert sorted(LedgerEntry.objects.values_list("idempotency_key", flat=True)) == sorted(
            f"{name}-{i}" for i in range(8))
        assert set(LedgerLine.objects.values_list("amount_minor", flat=True)) == {amount}
        assert Account.objects.get(code="dst").posted_balance == 8 * amount
        assert IdempotencyRecord.objects.filter(outcome="posted", entry__isnull=False).count() == 8
    connection.set_schema_to_public()


def test_errors_come_out_as_django_exceptions(in_tenant):
    """The retry wrapper and error mapping match on Django's exception types
    (with the psycopg error, and its SQLSTATE, as __cause__)."""
    src, dst = _accounts(in_tenant)
    f.post(debit=src, credit=dst, amount=5, key="dup")
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        hot_execute("INSERT INTO ledger_idempotencyrecord (key, operation, request_hash, actor_ref, correlation_id, "
                    "created_at, replay_count, replays, outcome) VALUES "
                    "('dup', 'x', 'x', 'x', 'x', now(), 0, '[]', '')")
    assert caught.value.__cause__.sqlstate == "23505"
    connection.set_schema_to_public()


def test_entry_row_names_every_entry_column():
    """entry_write stores the entry from _EntryRow as one JSON document
    (jsonb_populate_record): a LedgerEntry column missing here would be
    stored as NULL or its default without anyone noticing."""
    from ledger.posting.presenters import EntryRow as _EntryRow

    assert list(_EntryRow._fields) == [fld.column for fld in LedgerEntry._meta.concrete_fields]


def test_a_taken_key_locks_no_account(tenant_a):
    """The claim and the account reads are one statement: a key that is
    already taken must lock nothing (its request only replays), or a
    replay would queue behind, and block, postings on the same accounts.
    A fresh key with no balance policy locks nothing either: its write
    locks the accounts (the late lock)."""
    from ledger.posting.claim import claim_and_lock_for_posting

    src, dst = _accounts(tenant_a)
    assert f.post(debit=src, credit=dst, amount=5, key="taken").status == 201
    claim = {"key": "taken", "operation": "ledger_entry.create", "req_hash": "x", "actor_ref": "t",
             "correlation_id": "c"}
    other = _other_connection(tenant_a)
    try:
        with transaction.atomic():
            assert claim_and_lock_for_posting(claim=claim, lines=[("src", "debit"), ("dst", "credit")]) is None
            locks = claim_and_lock_for_posting(claim=claim | {"key": "fresh"},
                                               lines=[("src", "debit"), ("dst", "credit")])
            assert locks is not None and {a.code for a in locks.by_ref.values()} == {"src", "dst"}
            assert not any(a.locked for a in locks.by_ref.values())
            # Another session can lock both rows at once: nothing holds them.
            with other.transaction():
                assert len(other.execute("SELECT id FROM ledger_account WHERE code IN ('src', 'dst') "
                                         "FOR UPDATE NOWAIT").fetchall()) == 2
            transaction.set_rollback(True)
    finally:
        other.close()


@pytest.mark.parametrize("guarded, debits, credits, expect_locked", [
    # a is debit-normal, g and z credit-normal; ids ascend a < g < z.
    ("g", ["g"], ["a"], {"a", "g"}),   # g loses under the policy: locked, with every account below it
    ("g", ["a"], ["g"], set()),        # g only gains: no decision rests on its balance
    ("a", ["a"], ["g"], set()),        # a debit-normal account debited gains
    ("a", ["g"], ["a"], {"a"}),        # ... and credited loses
    ("z", ["z"], ["a", "g"], {"a", "g", "z"}),
])
def test_claim_locks_what_a_balance_decision_rests_on(tenant_a, guarded, debits, credits, expect_locked):
    """A no-negative-available decision is made on locked rows: the claim
    locks the accounts such a policy guards and a line can take money from
    (a line on the side opposite the account's normal side), and all
    accounts below them, so the write's late lock still goes in pk order."""
    from ledger.posting.claim import claim_and_lock_for_posting
    from ledger.services.policies import policy_create

    connection.set_tenant(tenant_a.tenant)
    policy_create(actor=f.TEST_ACTOR, name="no_od", kind="no_negative_available", params={})
    codes = ("a", "g", "z")
    for code in codes:
        f.account(code=code, normal_side="debit" if code == "a" else "credit",
                  policies=["no_od"] if code == guarded else None)
    claim = {"key": "k", "operation": "ledger_entry.create", "req_hash": "x", "actor_ref": "t", "correlation_id": "c"}
    other = _other_connection(tenant_a)
    try:
        with transaction.atomic():
            locks = claim_and_lock_for_posting(claim=claim, lines=[(c, "debit") for c in debits]
                                               + [(c, "credit") for c in credits])
            assert {a.code for a in locks.by_ref.values() if a.locked} == expect_locked
            for code in codes:
                with other.transaction():
                    free = other.execute("SELECT id FROM ledger_account WHERE code = %s FOR UPDATE SKIP LOCKED",
                                         [code]).fetchall()
                assert bool(free) == (code not in expect_locked), code
            transaction.set_rollback(True)
    finally:
        other.close()


def _other_connection(tenant):
    import psycopg

    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                           dbname=db["NAME"], autocommit=True)
    conn.execute(f'SET search_path = "{tenant.tenant.schema_name}"')
    return conn


@pytest.mark.parametrize("path", ["one statement", "full"])
def test_hot_statements_run_on_generic_plans(tenant_a, monkeypatch, path):
    """plan_cache_mode=force_generic_plan (settings): without it PostgreSQL
    re-planned the claim-and-lock statement on every posting, because its
    array parameters made the generic plan look dearer than a custom one.
    Both paths: the one-statement posting (accounts already seen) and the
    full path's claim and write."""
    from ledger.posting import post

    if path == "full":
        monkeypatch.setattr(post, "one_statement_post", lambda **kwargs: None)
    src, dst = _accounts(tenant_a)
    for i in range(12):
        assert f.post(debit=src, credit=dst, amount=1, key=f"plan-{i}").status == 201
    with connection.cursor() as cur:
        cur.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%%ledger_idempotencyrecord%%' OR statement LIKE '%%ledger_ledgerentry%%'")
        plans = cur.fetchall()
    # full: claim-and-lock, and the entry write; one statement: itself (the first posting took the full path)
    assert len(plans) >= (2 if path == "full" else 1)
    if path == "one statement":
        assert any("pg_advisory_xact_lock" in s and "jsonb_agg" in s and g >= 1 for s, g, _ in plans), plans
    for statement, generic, custom in plans:
        assert custom == 0 and generic >= 1, (statement[:80], generic, custom)
