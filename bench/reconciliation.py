#!/usr/bin/env python
"""Reconciliation throughput and memory: a statement of --lines lines matched
against --entries ledger entries on one settlement account.

  python bench/reconciliation.py [--lines 100000] [--entries 100000] [--small 10000]

Prints:
  - upload validation (the synchronous streaming pass) and storage, lines/s;
  - matching (COPY into staging + set-based SQL + items), lines matched/s;
  - peak RSS of the process doing the matching, for the big statement and for
    a --small one against the same ledger (flat memory: the two are close);
  - the counts found against the drift planted, and ledger_check.
The ledger history is bulk-loaded with triggers off (as bench/postings.py
does) and verified by ledger_check before anything is measured.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import tempfile
import time
import datetime as dt

from _common import bench_database_url, django_setup, fresh_database, migrate  # first: puts the repo on sys.path

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
SPAN = dt.timedelta(days=28)


def amount_of(g: int) -> int:
    return (g * 7919) % 499_901 + 100


def load_entries(settlement: str, counter: str, n: int) -> None:
    """n entries (debit settlement, credit counter), one every SPAN/n, with
    reference txn_<g> except every 20th (matched by amount and date)."""
    from django.db import connection, transaction

    step_ms = int(SPAN.total_seconds() * 1000 / n)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SELECT id, normal_side FROM ledger_account WHERE code = %s", [settlement])
        a, a_norm = cur.fetchone()
        cur.execute("SELECT id, normal_side FROM ledger_account WHERE code = %s", [counter])
        b, b_norm = cur.fetchone()
        assert (a_norm, b_norm) == ("debit", "credit")
        amount = "((g::bigint * 7919) %% 499901 + 100)"
        cur.execute(f"""
            INSERT INTO ledger_ledgerentry (id, posting_id, kind, idempotency_key, request_hash, external_reference,
                source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id,
                policy_decisions, line_count)
            SELECT g, 'pst_bench_' || g, 'standard', 'bench-' || g, 'h',
                   CASE WHEN g %% 20 = 0 THEN '' ELSE 'txn_' || g END, '', '',
                   %s + (g * %s::double precision) * interval '1 millisecond', now(), '{{}}', 'system', 'system:bench', 'bench', '[]', 2
            FROM generate_series(1, %s) g""", [T0, step_ms, n])
        cur.execute("""
            INSERT INTO ledger_idempotencyrecord (key, operation, request_hash, response_status, response_body, outcome,
                entry_id, actor_ref, correlation_id, created_at, completed_at, replay_count, replays)
            SELECT 'bench-' || g, 'bench', 'h', 201, '{}', 'posted', g, 'system:bench', 'bench', now(), now(), 0, '[]'
            FROM generate_series(1, %s) g""", [n])
        cur.execute("SELECT setval(pg_get_serial_sequence('ledger_ledgerentry', 'id'), %s)", [n])
        cur.execute(f"""
            INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency, balance_after, posted_at)
            SELECT g, acc, side, {amount}, 'USD', sum({amount}) OVER (PARTITION BY acc ORDER BY g), now()
            FROM generate_series(1, %s) g, (VALUES (%s, 'debit'), (%s, 'credit')) AS s(acc, side)
            ORDER BY g, side DESC""", [n, a, b])
        cur.execute("SELECT sum(amount_minor) FROM ledger_ledgerline WHERE account_id = %s", [a])
        total = int(cur.fetchone()[0])
        cur.execute("UPDATE ledger_account SET posted_balance = %s, lines_count = %s, debits_total = %s WHERE id = %s",
                    [total, n, total, a])
        cur.execute("UPDATE ledger_account SET posted_balance = %s, lines_count = %s, credits_total = %s WHERE id = %s",
                    [total, n, total, b])
        cur.execute("ANALYZE ledger_ledgerentry")
        cur.execute("ANALYZE ledger_ledgerline")


def write_statement(path: str, *, lines: int, entries: int, seed: int = 7) -> dict[str, int]:
    """A statement for entries 1..lines (lines <= entries), with drift planted."""
    rnd = random.Random(seed)
    step = SPAN / entries
    planted = {"amount_drift": 0, "missing_at_provider": 0, "missing_in_ledger": 0, "duplicate_in_statement": 0}
    with open(path, "w", encoding="utf-8") as f:
        f.write("reference,amount_minor,currency,booked_at,description\n")
        for g in range(1, lines + 1):
            ref = "" if g % 20 == 0 else f"txn_{g}"
            amount = amount_of(g)
            booked = T0 + g * step + dt.timedelta(minutes=rnd.randint(0, 240))
            roll = g % 1000
            if roll == 1:
                planted["missing_at_provider"] += 1
                continue
            if roll == 2 and ref:
                amount += 13
                planted["amount_drift"] += 1
            f.write(f"{ref},{amount},USD,{booked.isoformat()},order {g}\n")
            if roll == 3 and ref:
                f.write(f"{ref},{amount},USD,{booked.isoformat()},listed twice\n")
                planted["duplicate_in_statement"] += 1
            if roll == 4:
                f.write(f"ext_{g},{rnd.randint(100, 9999)},USD,{booked.isoformat()},unknown to the ledger\n")
                planted["missing_in_ledger"] += 1
    # Entries inside the statement's period the statement does not cover are missing at the provider too.
    return planted


def _match_child(url: str, slug: str, run_id: int, out) -> None:
    django_setup(url)
    from django.db import connection

    from core.actors import Actor
    from reconciliation.services.matching import reconciliation_run_match
    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=slug))
    before = _status_kb("VmRSS")
    try:  # reset the high-water mark so the peak below is the matching's own
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    t = time.perf_counter()
    run = reconciliation_run_match(run_id=run_id, actor=Actor.system("bench"))
    seconds = time.perf_counter() - t
    peak = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put({"seconds": seconds, "rss_before_kb": before, "rss_peak_kb": peak, "status": run.status,
             "counts": run.counts, "error": run.error})


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def match_in_child(url: str, slug: str, run_id: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_match_child, args=(url, slug, run_id, q))
    p.start()
    result = q.get()
    p.join()
    return result


def import_file(path: str, account) -> tuple[int, float]:
    from core.actors import Actor
    from reconciliation.services import imports

    imports._enqueue_on_commit = lambda run_id: None  # this script is the worker
    t = time.perf_counter()
    with open(path, "rb") as fh:
        out = imports.reconciliation_import(actor=Actor.system("bench"), account=account, format="generic_csv",
                                            fileobj=fh, file_name=os.path.basename(path), date_window_days=3)
    return out.run.pk, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000)
    args = ap.parse_args()
    assert args.small <= args.lines <= args.entries

    url = bench_database_url("zentra_bench_rec")
    fresh_database(url)
    django_setup(url)
    migrate()
    from django.db import connection

    from core.actors import Actor
    from ledger.checks import ledger_check
    from tenants.services.tenants import tenant_create
    from tests.ledger import factories as f

    t = tenant_create(actor=Actor.system("bench"), slug="benchrec", domain="benchrec.localhost")
    connection.set_tenant(t.tenant)
    settlement = f.account(code="stripe_usd", normal_side="debit", kind="asset")
    f.account(code="customer_funds", normal_side="credit", kind="liability")

    t0 = time.perf_counter()
    load_entries("stripe_usd", "customer_funds", args.entries)
    load_s = time.perf_counter() - t0
    violations = ledger_check()
    print(f"# zentra reconciliation bench: {os.cpu_count()} cores (shared with other work: figures are indicative)")
    print(f"ledger: {args.entries} entries bulk-loaded in {load_s:.1f} s; ledger_check: "
          f"{'ok' if not violations else violations[:3]}")

    with tempfile.TemporaryDirectory() as tmp:
        big, small = os.path.join(tmp, "big.csv"), os.path.join(tmp, "small.csv")
        planted = write_statement(big, lines=args.lines, entries=args.entries)
        write_statement(small, lines=args.small, entries=args.entries)
        size_mb = os.path.getsize(big) / 1e6
        run_big, import_s = import_file(big, settlement)
        connection.set_tenant(t.tenant)
        from reconciliation.models import ReconciliationRun

        lines_big = ReconciliationRun.objects.get(pk=run_big).lines_total
        run_small, small_import_s = import_file(small, settlement)
        lines_small = ReconciliationRun.objects.get(pk=run_small).lines_total
    connection.close()
    print(f"upload validation + storage: {lines_big} lines ({size_mb:.1f} MB) in {import_s:.2f} s = "
          f"{lines_big / import_s:,.0f} lines/s")

    big_res = match_in_child(url, "benchrec", run_big)
    small_res = match_in_child(url, "benchrec", run_small)
    assert big_res["status"] == "completed", big_res
    mb = lambda kb: kb / 1024  # noqa: E731 - ru_maxrss is in KiB on Linux
    print(f"matching {lines_big} lines vs {args.entries} entries: {big_res['seconds']:.2f} s = "
          f"{lines_big / big_res['seconds']:,.0f} lines/s")
    print(f"matching {lines_small} lines vs the same ledger: {small_res['seconds']:.2f} s = "
          f"{lines_small / small_res['seconds']:,.0f} lines/s")
    print(f"peak RSS of the matching process while matching: {mb(big_res['rss_peak_kb']):.1f} MiB for "
          f"{lines_big} lines, {mb(small_res['rss_peak_kb']):.1f} MiB for {lines_small} lines (RSS before: "
          f"{mb(big_res['rss_before_kb']):.1f} / {mb(small_res['rss_before_kb']):.1f} MiB); growth "
          f"{mb(big_res['rss_peak_kb'] - big_res['rss_before_kb']):.1f} vs "
          f"{mb(small_res['rss_peak_kb'] - small_res['rss_before_kb']):.1f} MiB for {lines_big / lines_small:.0f}x "
          "the lines")
    print(f"found: {big_res['counts']}")
    print(f"planted: {planted} (+ every 20th line matched by amount and date, no reference)")

    django_setup(url)
    connection.set_tenant(t.tenant)
    violations = ledger_check()
    print(f"ledger_check after the runs: {'ok' if not violations else violations[:5]}")


if __name__ == "__main__":
    main()
