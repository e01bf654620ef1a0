"""Zentra's invariants on a Citus cluster, where each tenant schema is a
distributed schema on one worker and the app talks to the coordinator."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import DatabaseError, connection, connections, transaction

from ledger.checks import ledger_check
from ledger.models import LedgerEntry
from tests.citus.conftest import tenant_node, workers
from tests.ledger import factories as f


@pytest.fixture
def books(tenant_factory):
    t = tenant_factory()
    connection.set_tenant(t.tenant)
    a = f.account(code="a", normal_side="debit", kind="asset")
    b = f.account(code="b")
    yield {"tenant": t.tenant, "a": a, "b": b, "schema": t.tenant.schema_name}
    connection.set_schema_to_public()


def test_a_new_tenant_is_distributed_to_a_worker(books):
    host, port = tenant_node(books["schema"])
    assert (host, port) in workers()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM citus_schemas WHERE schema_name::text = %s", [books["schema"]])
        assert cur.fetchone()[0] == 1
        # the template stays a plain schema on the coordinator
        cur.execute("SELECT count(*) FROM citus_schemas WHERE schema_name::text = 'zentra_template'")
        assert cur.fetchone()[0] == 0


def test_deferred_refusal_keeps_its_sqlstate(books):
    """The balanced-entry check runs at commit on the worker; the client must
    get check_violation (unbalanced_entry), not XX000."""
    with pytest.raises(DatabaseError) as exc:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference, "
                "source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, "
                "policy_decisions, line_count) VALUES ('pst_x', 'standard', 'raw-1', 'h', '', '', '', now(), now(), "
                "'{}', 'system', 'sql', 'c', '[]', 2) RETURNING id")
            entry = cur.fetchone()[0]
            for acc, side, amount in ((books["a"], "debit", 100), (books["b"], "credit", 99)):
                cur.execute("INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency)"
                            " VALUES (%s, %s, %s, %s, 'USD')", [entry, acc.id, side, amount])
    assert getattr(exc.value.__cause__, "sqlstate", None) == "23514", repr(exc.value)
    assert "unbalanced" in str(exc.value)


def test_policy_creation_works_on_a_distributed_tenant(books):
    """The epoch trigger draws from the database-wide sequence on the worker."""
    from ledger.models import PolicyEpoch
    from ledger.services.policies import policy_create

    before = PolicyEpoch.objects.get().epoch
    policy_create(actor=f.TEST_ACTOR, name="cap", kind="max_amount", params={"max_amount_minor": 10**9})
    assert PolicyEpoch.objects.get().epoch != before
    assert f.post(debit=books["a"], credit=books["b"], amount=5).status == 201


def test_same_key_in_two_tenants_does_not_wait(tenant_factory):
    """A key's lock is per tenant: tenant A holding key K open must not hold
    up tenant B posting with K (on the same worker or not)."""
    ta, tb = tenant_factory(), tenant_factory()
    for t in (ta, tb):
        connection.set_tenant(t.tenant)
        f.account(code="a", normal_side="debit", kind="asset")
        f.account(code="b")
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_key_in_a():
        try:
            connection.set_tenant(ta.tenant)
            with transaction.atomic():
                from ledger.models import Account

                f.post(debit=Account.objects.get(code="a"), credit=Account.objects.get(code="b"), amount=1,
                       key="shared-key")
                holding.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    th = threading.Thread(target=hold_key_in_a)
    th.start()
    try:
        assert holding.wait(30)
        connection.set_tenant(tb.tenant)
        from ledger.models import Account

        started = time.monotonic()
        out = f.post(debit=Account.objects.get(code="a"), credit=Account.objects.get(code="b"), amount=1,
                     key="shared-key")
        waited = time.monotonic() - started
    finally:
        release.set()
        th.join(30)
        connection.set_schema_to_public()
    assert not errors, errors
    assert out.status == 201
    assert waited < 1.0, f"tenant B waited {waited:.2f}s for tenant A's key"


def test_tenant_moves_between_workers_while_postings_run(books):
    """citus_schema_move to the other worker with postings running: every
    posting that was answered is stored once, none twice, and ledger_check
    is clean (ids drawn on the new node may be lower than old ones)."""
    tenant, schema = books["tenant"], books["schema"]
    for i in range(5):
        assert f.post(debit=books["a"], credit=books["b"], amount=1).status == 201
    source = tenant_node(schema)
    target = next(w for w in workers() if w != source)
    stop = threading.Event()
    answered: list[str] = []
    errors: list[BaseException] = []

    def poster(n: int):
        try:
            connection.set_tenant(tenant)
            from ledger.models import Account

            a, b = Account.objects.get(code="a"), Account.objects.get(code="b")
            i = 0
            while not stop.is_set():
                key = f"mv-{n}-{i}"
                out = f.post(debit=a, credit=b, amount=1, key=key)
                if out.status == 201:
                    answered.append(key)
                i += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(1.0)
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute("SELECT citus_schema_move(%s::regnamespace, %s, %s, shard_transfer_mode => 'force_logical')",
                        [schema, target[0], target[1]])
        time.sleep(1.0)
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    assert not errors, errors
    assert tenant_node(schema) == target
    assert len(answered) > 0
    connection.set_tenant(tenant)
    keys = list(LedgerEntry.objects.filter(idempotency_key__startswith="mv-").values_list("idempotency_key", flat=True))
    assert sorted(keys) == sorted(answered)
    # after the move: more postings, then the whole ledger checks clean
    for i in range(3):
        assert f.post(debit=books["a"], credit=books["b"], amount=1, key=f"after-{uuid.uuid4().hex}").status == 201
    assert ledger_check() == []
