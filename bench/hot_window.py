#!/usr/bin/env python
"""Where a one-statement posting spends its time, phase by phase, and how
long it holds its accounts' row locks.

  python bench/hot_window.py [--workers 1,2] [--seconds 5] [--uniform]

Runs on the scratch database bench/postings.py leaves behind (run that
first). Each worker posts in a loop on the hot account (every entry debits
`hot`), or on random pairs with --uniform. The statement is the service's
own (ledger.posting.statements.one_statement_posting) with clock_timestamp() stamps added at its first
CTE, at the account lock and at the boundary record, so each posting gives:

  send->start     the client sends; bind, the generic plan's locks, executor start-up
  start->locked   the key lock, the entry and audit rows, then the account lock (and any wait for it)
  locked->rec     under the lock: the lines, the answer, the event, the record
  rec->return     the deferred checks, the commit and its WAL flush, the answer back to Python
  rec->next lock  from one posting's record to the next posting's account lock (any worker):
                  on the hot account, the commit plus the hand-off of the lock

Medians in milliseconds. A profiling aid, not a figure of the product: the
stamps themselves cost a little.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

from _common import bench_database_url, django_setup, pair_poster

STAMPS = (
    ("ak AS MATERIALIZED (SELECT ", "ak AS MATERIALIZED (SELECT clock_timestamp() AS t0, "),
    ("lk AS MATERIALIZED (SELECT id,", "lk AS MATERIALIZED (SELECT clock_timestamp() AS tl, id,"),
    ("ON CONFLICT (key) DO NOTHING RETURNING 1)", "ON CONFLICT (key) DO NOTHING RETURNING clock_timestamp() AS tr)"),
    ("SELECT (SELECT fresh FROM ex),", "SELECT extract(epoch FROM (SELECT t0 FROM ak)), extract(epoch FROM (SELECT max(tl) FROM lk)), "
                                       "extract(epoch FROM (SELECT max(tr) FROM rec)), (SELECT fresh FROM ex),"),
)


def _worker(url, hot, seconds, start, ready, out):
    django_setup(url)
    from django.db import connection

    from ledger.posting import post, statements
    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug="bench"))
    one = pair_poster(slug="bench", codes=[f"acc{i:05d}" for i in range(300)], hot=hot)
    real_sql, real_execute = statements.one_statement_posting, post.hot_execute
    rows: list[tuple[float, ...]] = []

    def stamped_sql(audit_sql, event_sql):
        sql = real_sql(audit_sql, event_sql)
        for old, new in STAMPS:
            if sql.count(old) != 1:
                raise SystemExit(f"hot_window: the statement changed; cannot place a stamp at {old!r}")
            sql = sql.replace(old, new)
        return sql

    class Timed:
        """hot_execute, noting when the statement was sent and answered, and
        taking the three stamps off its result row."""

        def __init__(self, sql, params=None):
            self.sent = time.time()
            self.cm = real_execute(sql, params)
            self.back = time.time()

        def __enter__(self):
            cur = self.cm.__enter__()
            timed = self

            class Cursor:
                def fetchone(self):
                    row = cur.fetchone()
                    if len(row) == 8:  # the stamped posting statement
                        rows.append((timed.sent, float(row[0]), float(row[1]), float(row[2]), timed.back))
                        return row[3:]
                    return row

            return Cursor()

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    statements.one_statement_posting, post.hot_execute = stamped_sql, Timed

    for _ in range(50):
        one()
    rows.clear()
    with ready.get_lock():
        ready.value += 1
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        one()
    out.put(rows)


def run(url: str, *, workers: int, seconds: int, hot: str | None) -> str:
    ctx = mp.get_context("spawn")
    start, ready, out = ctx.Event(), ctx.Value("l", 0), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, hot, seconds, start, ready, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    while ready.value < workers:
        if not all(p.is_alive() for p in procs):
            raise SystemExit("hot_window: a worker failed to start (run bench/postings.py first)")
        time.sleep(0.05)
    start.set()
    rows = sorted((r for _ in procs for r in out.get()), key=lambda r: r[2])
    for p in procs:
        p.join()
    if not rows:
        return f"{workers} worker(s): no one-statement postings measured"

    def med(values) -> float:
        return statistics.median(values) * 1e3

    handoff = [b[2] - a[3] for a, b in zip(rows, rows[1:]) if b[2] > a[3]]
    return (f"{workers} worker(s), {'hot account' if hot else 'uniform'}: {len(rows) / seconds:.0f}/s   "
            f"send->start {med(r[1] - r[0] for r in rows):.2f}   start->locked {med(r[2] - r[1] for r in rows):.2f}   "
            f"locked->rec {med(r[3] - r[2] for r in rows):.2f}   rec->return {med(r[4] - r[3] for r in rows):.2f}   "
            f"rec->next lock {med(handoff) if handoff else float('nan'):.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--uniform", action="store_true", help="random account pairs instead of the hot account")
    args = ap.parse_args()
    url = bench_database_url("zentra_bench")
    for w in (int(x) for x in args.workers.split(",")):
        print(run(url, workers=w, seconds=args.seconds, hot=None if args.uniform else "hot"), flush=True)


if __name__ == "__main__":
    main()
