"""The database holds the closed-period rule by itself: raw SQL that skips
every service is refused, and a posting racing a period close can neither
slip into the closing period nor be lost from its snapshot."""
import contextlib
import threading
import time

import pytest
from django.db import DatabaseError, connection, connections, transaction

from core.actors import Actor
from closeout.models import AccountingPeriod, PeriodBalance
from closeout.services.periods import period_begin_closing, period_close
from ledger.checks import ledger_check
from tests.ledger import factories as f

ACTOR = Actor.system("tests")


def raw_entry_sql(schema_prefix: str, key: str, effective_at: str, a: int, b: int) -> str:
    t = f"{schema_prefix}ledger_ledgerentry"
    seq = f"currval(pg_get_serial_sequence('{t}','id'))"
    return (
        f"INSERT INTO {t} (posting_id, kind, idempotency_key, request_hash, external_reference, source_event, "
        "description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, policy_decisions, "
        f"line_count) VALUES ('pst_{key}', 'standard', '{key}', 'h', '', '', '', '{effective_at}', now(), '{{}}', "
        "'system', 'sql', 'c', '[]', 2);"
        f"INSERT INTO {schema_prefix}ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
        f"({seq}, {a}, 'debit', 100, 'USD'), ({seq}, {b}, 'credit', 100, 'USD');"
        "SET CONSTRAINTS ALL IMMEDIATE;"
    )


@pytest.fixture
def world(tenant_factory):
    t = tenant_factory()
    connection.set_tenant(t.tenant)
    a = f.account(code="a", normal_side="debit", kind="asset")
    b = f.account(code="b")
    yield {"a": a, "b": b, "schema": t.tenant.schema_name, "tenant": t.tenant}
    connection.set_schema_to_public()


def test_raw_insert_into_closed_period_is_refused(world):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(raw_entry_sql("", "before", "2025-01-10T00:00:00Z", world["a"].id, world["b"].id))
    period_close(actor=ACTOR, ref="2025-01")
    assert PeriodBalance.objects.count() == 2
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE closeout_periodbalance SET closing_minor = closing_minor + 1")
    for prefix in ("", f'"{world["schema"]}".'):  # static (search_path) and dynamic (EXECUTE) trigger paths
        if prefix:
            with connection.cursor() as cur:
                cur.execute("SET search_path = public")
        try:
            with pytest.raises(DatabaseError) as exc, transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute(raw_entry_sql(prefix, f"raw{len(prefix)}", "2025-01-15T00:00:00Z",
                                              world["a"].id, world["b"].id))
            assert exc.value.__cause__.sqlstate == "ZP001"
            assert "closed accounting period" in str(exc.value)
            # Through the API (a posting that raced a close) this is a 422, not a 500.
            from core.problems import exception_handler

            resp = exception_handler(exc.value, {})
            assert resp.status_code == 422 and b'"period_closed"' in resp.content and b'"retryable": true' in resp.content
            # After the closed range the same raw SQL goes through.
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(raw_entry_sql(prefix, f"ok{len(prefix)}", "2025-02-01T00:00:00Z",
                                          world["a"].id, world["b"].id))
        finally:
            connection.set_schema_to_public()
            connection.set_tenant(world["tenant"])


def test_closing_waits_for_an_inflight_posting_and_snapshots_it(world):
    """The posting inserted its entry first: the close waits for its commit,
    and the snapshot includes it."""
    import datetime as dt

    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post

    inserted, release, closed = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def poster():
        try:
            connection.set_tenant(world["tenant"])
            with transaction.atomic():
                entry_post(actor=ACTOR, tenant=connection.tenant.slug, idempotency_key="inflight", req_hash=request_hash(
                    operation="t", payload=1), effective_at=dt.datetime(2025, 3, 5, tzinfo=dt.timezone.utc),
                    lines=[LineSpec(account="a", side="debit", amount_minor=42, currency="USD"),
                           LineSpec(account="b", side="credit", amount_minor=42, currency="USD")])
                inserted.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    def closer():
        try:
            connection.set_tenant(world["tenant"])
            period_close(actor=ACTOR, ref="2025-03")
            closed.set()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    t1 = threading.Thread(target=poster)
    t1.start()
    assert inserted.wait(30)
    t2 = threading.Thread(target=closer)
    t2.start()
    time.sleep(1.0)
    assert not closed.is_set(), "the close must wait for the in-flight posting"
    release.set()
    t1.join(30)
    t2.join(60)
    assert not errors, errors
    period = AccountingPeriod.objects.get(name="2025-03")
    bal = PeriodBalance.objects.get(snapshot_id=period.snapshot_id, account_code="a")
    assert (bal.debits_minor, bal.closing_minor) == (42, 42)
    assert ledger_check() == []


@pytest.mark.parametrize("path", ["full", "one_statement"])
def test_posting_after_closing_began_waits_then_is_refused(world, path):
    """The close flipped the period first (not yet committed): a posting whose
    service check still saw it open blocks in the trigger, then is refused.

    On the full path (inside a caller's transaction) the trigger's refusal
    is the answer (ZP001; the API words it as 422 period_closed). The one
    statement (a process's first posting, its cache just read) gives up on
    the trigger's refusal, and the full path, deciding afresh, finds the
    period closing and refuses with PeriodClosed."""
    import datetime as dt

    from closeout.errors import PeriodClosed
    from ledger import posting_cache
    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post

    posting_cache._CACHE.clear()

    flipped, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def closer():
        try:
            connection.set_tenant(world["tenant"])
            with transaction.atomic():
                period_begin_closing(actor=ACTOR, ref="2025-04")
                flipped.set()
                release.wait(30)
        finally:
            connections.close_all()

    def poster():
        try:
            connection.set_tenant(world["tenant"])
            with transaction.atomic() if path == "full" else contextlib.nullcontext():
                outcome["result"] = entry_post(
                    actor=ACTOR, tenant=connection.tenant.slug, idempotency_key="racer",
                    req_hash=request_hash(operation="t", payload=2),
                    effective_at=dt.datetime(2025, 4, 9, tzinfo=dt.timezone.utc),
                    lines=[LineSpec(account="a", side="debit", amount_minor=7, currency="USD"),
                           LineSpec(account="b", side="credit", amount_minor=7, currency="USD")])
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc
        finally:
            outcome["done"] = True
            connections.close_all()

    t1 = threading.Thread(target=closer)
    t1.start()
    assert flipped.wait(30)
    t2 = threading.Thread(target=poster)
    t2.start()
    time.sleep(1.0)
    assert "done" not in outcome, "the posting must wait for the close to commit"
    release.set()
    t1.join(30)
    t2.join(30)
    err = outcome.get("error")
    if path == "full":
        assert isinstance(err, DatabaseError) and err.__cause__.sqlstate == "ZP001", outcome
    else:
        assert isinstance(err, PeriodClosed), outcome
    from ledger.models import IdempotencyRecord, LedgerEntry

    assert not LedgerEntry.objects.filter(idempotency_key="racer").exists()
    assert not IdempotencyRecord.objects.filter(key="racer").exists()
    assert AccountingPeriod.objects.get(name="2025-04").status == "closing"
