"""Trial balance at scale: 10,000 accounts, 1,000,000 ledger lines.

    .venv/bin/python bench/trial_balance.py [--accounts 10000] [--lines 1000000] [--check]

Loads the history with INSERT ... SELECT in chunks *with every trigger on*
(the line trigger moves balances and stamps balance_after, the deferred
balance checks run at each chunk's commit, and the closed-period trigger
runs for every entry), so the figures include what a real ledger stores.
Then times, on a scratch database:
  - the trial balance of one month computed from the stored balances
    (basis current_balance: reads the lines dated from that month on);
  - the trial balance of the whole year (every one of the lines);
  - closing January (snapshot of every account; the chain is off in this
    process, the seal of the snapshot is timed on its own) and February
    (opening from January's snapshot: reads February's lines only);
  - reading a closed period (its sealed rows) and "why did this balance
    change" for one account over the year (two index probes + one page);
and reports the process's peak RSS after each step plus PostgreSQL's side
of the year query (EXPLAIN ANALYZE: hash-aggregate memory, temp blocks).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import resource
import sys
import time

os.environ["ZENTRA_CHAIN_ENABLED"] = "false"  # 500k history entries would be sealed by the close otherwise
sys.path.insert(0, os.path.dirname(__file__))
from _common import bench_database_url, django_setup, fresh_database, migrate  # noqa: E402

UTC = dt.timezone.utc
YEAR_SECONDS = 365 * 24 * 3600


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_accounts(n: int) -> tuple[list[int], list[int]]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("""
            INSERT INTO ledger_account (code, name, currency, normal_side, kind, status, metadata, posted_balance,
                pending_balance, debits_total, credits_total, lines_count, created_at)
            SELECT 'acc' || lpad(g::text, 5, '0'), 'Account ' || g, CASE WHEN g %% 10 = 0 THEN 'EUR' ELSE 'USD' END,
                   CASE WHEN g %% 2 = 0 THEN 'debit' ELSE 'credit' END,
                   CASE WHEN g %% 2 = 0 THEN 'asset' ELSE 'liability' END, 'open', '{}', 0, 0, 0, 0, 0,
                   timestamptz '2024-12-01'
            FROM generate_series(1, %s) g""", [n])
        # Index -> account per currency, for the loader's pseudo-random pairs.
        cur.execute("""
            CREATE UNLOGGED TABLE IF NOT EXISTS public.bench_pool AS
            SELECT currency AS cur, (row_number() OVER (PARTITION BY currency ORDER BY id) - 1)::bigint AS idx,
                   id AS account_id FROM ledger_account""")
        cur.execute("CREATE UNIQUE INDEX ON public.bench_pool (cur, idx)")
        cur.execute("CREATE UNLOGGED TABLE public.bench_pool_size AS SELECT cur, count(*) AS n FROM public.bench_pool "
                    "GROUP BY cur")
        cur.execute("ANALYZE public.bench_pool; ANALYZE public.bench_pool_size")
        cur.execute("SELECT id FROM ledger_account WHERE currency = 'USD' ORDER BY id")
        usd = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT id FROM ledger_account WHERE currency = 'EUR' ORDER BY id")
        eur = [r[0] for r in cur.fetchall()]
    return usd, eur


def load_chunk(base: int, count: int, usd: list[int], eur: list[int]) -> None:
    """`count` two-line entries with ids base+1 .. base+count, dated
    pseudo-randomly across 2025, each between two distinct accounts of one
    currency (one in ten in EUR)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"""
            INSERT INTO ledger_ledgerentry (id, posting_id, kind, idempotency_key, request_hash, external_reference,
                source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id,
                policy_decisions, line_count)
            SELECT {base} + g, 'pst_tb_' || ({base} + g), 'standard', 'tb-' || ({base} + g), 'h', '',
                   'bench.load', '', timestamptz '2025-01-01' + ((({base} + g)::bigint * 48271) %% {YEAR_SECONDS})
                   * interval '1 second', now(), '{{}}', 'system', 'system:bench', 'bench', '[]', 2
            FROM generate_series(1, %s) g""", [count])
        cur.execute(f"""
            INSERT INTO ledger_idempotencyrecord (key, operation, request_hash, response_status, response_body, outcome,
                entry_id, actor_ref, correlation_id, created_at, completed_at, replay_count, replays)
            SELECT 'tb-' || ({base} + g), 'bench', 'h', 201, '{{}}', 'posted', {base} + g, 'system:bench', 'bench',
                   now(), now(), 0, '[]' FROM generate_series(1, %s) g""", [count])
        cur.execute(f"""
            WITH g AS (SELECT {base} + s AS id, ({base} + s)::bigint AS k FROM generate_series(1, %(count)s) s),
            pick AS (
                SELECT id, CASE WHEN k %% 10 = 0 THEN 'EUR' ELSE 'USD' END AS cur,
                       1 + (k * 2654435761) %% 100000 AS amount, k FROM g),
            pair AS (
                SELECT p.id, p.cur, p.amount, n.n, (p.k * 7919) %% n.n AS d, 1 + (p.k * 104729) %% (n.n - 1) AS off
                FROM pick p JOIN public.bench_pool_size n ON n.cur = p.cur)
            INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency)
            SELECT x.id, b.account_id, x.side, x.amount, x.cur FROM (
                SELECT id, cur, d AS idx, 'debit' AS side, amount FROM pair
                UNION ALL
                SELECT id, cur, (d + off) %% n, 'credit', amount FROM pair) x
            JOIN public.bench_pool b ON b.cur = x.cur AND b.idx = x.idx
            ORDER BY x.id, x.side DESC""", {"count": count})
        cur.execute("SELECT setval(pg_get_serial_sequence('ledger_ledgerentry', 'id'), %s)", [base + count])


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t
    print(f"{label:<62} {secs:8.2f} s   peak RSS {rss_mb():7.1f} MB", flush=True)
    return out, secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000, help="entries per load transaction")
    ap.add_argument("--check", action="store_true", help="run ledger_check at the end (minutes at 1M lines)")
    args = ap.parse_args()

    url = bench_database_url("zentra_bench_closeout")
    fresh_database(url)
    django_setup(url)
    migrate()
    from django.db import connection

    from core.actors import Actor
    from audit.chain import record_content_hash, sealable
    from closeout.models import PeriodSnapshot
    from closeout.selectors import balance_change, balance_change_line, trial_balance, trial_balance_compute
    from closeout.services.periods import period_close
    from ledger.models import Account
    from tenants.services.tenants import tenant_create

    t = tenant_create(actor=Actor.system("bench"), slug="tbbench", domain="tbbench.localhost")
    connection.set_tenant(t.tenant)
    entries = args.lines // 2
    print(f"# trial balance bench: {os.cpu_count()} cores, {args.accounts} accounts, {entries * 2} lines "
          f"({entries} entries) dated across 2025, triggers on", flush=True)
    (usd, eur), _ = timed(f"load {args.accounts} accounts", lambda: load_accounts(args.accounts))

    def load_all():
        done = 0
        while done < entries:
            n = min(args.chunk, entries - done)
            load_chunk(done, n, usd, eur)
            done += n
        with connection.cursor() as cur:
            cur.execute("ANALYZE ledger_ledgerentry; ANALYZE ledger_ledgerline; ANALYZE ledger_account")

    loaded_from = dt.datetime.now(UTC)
    _, load_s = timed(f"load {entries * 2} lines (INSERT ... SELECT, triggers on)", load_all)
    print(f"{'  = lines/s':<62} {entries * 2 / load_s:8.0f}")

    jun = (dt.datetime(2025, 6, 1, tzinfo=UTC), dt.datetime(2025, 7, 1, tzinfo=UTC))
    year = (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC))
    (basis, rows), _ = timed("trial balance 2025-06 (computed, reads lines dated >= June)",
                             lambda: trial_balance_compute(start_at=jun[0], end_at=jun[1]))
    timed("trial balance 2025-06 again (warm)", lambda: trial_balance_compute(start_at=jun[0], end_at=jun[1]))
    (basis, rows), _ = timed("trial balance of the year (every line)",
                             lambda: trial_balance_compute(start_at=year[0], end_at=year[1]))
    from closeout.selectors import tb_totals

    totals = tb_totals(rows)
    print(f"  rows {len(rows)}, lines counted {sum(r[8] for r in rows)}, ties out "
          f"{all(v['ties_out'] for v in totals.values())}: "
          + ", ".join(f"{c} debits {v['debits_minor']} = credits {v['credits_minor']}" for c, v in totals.items()))

    with connection.cursor() as cur:
        from closeout.selectors import TB_FROM_CURRENT

        from closeout.selectors import TB_WORK_MEM

        cur.execute("SHOW work_mem")
        work_mem = f"{cur.fetchone()[0]} (server), {TB_WORK_MEM} (SET LOCAL by the selector)"
        cur.execute(f"SET work_mem = '{TB_WORK_MEM}'")
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + TB_FROM_CURRENT,
                    {"start": year[0], "end": year[1], "prev": None})
        plan = "\n".join(r[0] for r in cur.fetchall())
    mem = re.findall(r"(?:Peak )?Memory(?: Usage)?: (\d+)kB", plan)
    temp = re.findall(r"temp read=(\d+) written=(\d+)", plan)
    batches = re.findall(r"Batches: (\d+)", plan)
    exec_ms = re.search(r"Execution Time: ([\d.]+) ms", plan)
    print(f"PostgreSQL, year query: work_mem {work_mem}, largest node memory {max(map(int, mem), default=0)} kB, "
          f"hash batches {max(map(int, batches), default=1)}, temp blocks read/written "
          f"{max((int(a) for a, _ in temp), default=0)}/{max((int(b) for _, b in temp), default=0)} (8 kB each), "
          f"execution {float(exec_ms.group(1)) / 1000 if exec_ms else 0:.2f} s")
    with connection.cursor() as cur:
        cur.execute("RESET work_mem")
    if os.environ.get("BENCH_PLAN"):
        print(plan)

    actor = Actor.system("bench")
    timed("close 2025-01 (snapshot from current balances, all lines >= Jan)",
          lambda: period_close(actor=actor, ref="2025-01"))
    timed("close 2025-02 (opening from Jan's snapshot: Feb lines only)",
          lambda: period_close(actor=actor, ref="2025-02"))
    snap = PeriodSnapshot.objects.order_by("-id").first()
    s = sealable("period_snapshot")
    obj = s.records().get(pk=snap.id)
    timed(f"seal cost of one snapshot ({snap.account_count} balances: canonical + sha256)",
          lambda: record_content_hash(s, obj))
    timed("trial balance 2025-03 (opening from Feb's snapshot)", lambda: trial_balance("2025-03"))
    tb, _ = timed("read closed 2025-02 (sealed snapshot rows)", lambda: trial_balance("2025-02"))
    print(f"  ties out {tb.ties_out}, {len(tb.rows)} rows")

    acc = Account.objects.order_by("-lines_count").first()

    def why():
        ch = balance_change(account=acc, start=loaded_from, end=dt.datetime.now(UTC))
        page = [balance_change_line(ln, acc) for ln in ch["lines"].order_by("id")[:50]]
        return ch, page

    (ch, page), _ = timed(f"why did {acc.code} change since the load began ({acc.lines_count} lines): balances + page 1",
                          why)
    print(f"  opening {ch['opening']['posted']}, closing {ch['closing']['posted']}, page of {len(page)}")
    if args.check:
        from ledger.checks import ledger_check

        violations, _ = timed("ledger_check (every invariant, snapshot checks included)", ledger_check)
        print(f"  ledger_check: {'ok' if not violations else violations[:5]}")
    connection.close()


if __name__ == "__main__":
    main()
