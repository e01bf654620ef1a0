#!/usr/bin/env python
"""Batch posting and history reads, against PostgreSQL's own limit in the same run.

  python bench/lifecycle.py [--seconds 10] [--accounts 1000] [--batch 1000] [--history 1000000] [--skip-http]

Prints, each with its ratio to the pgbench figure (the same reference as
bench/postings.py: a transaction that locks two rows, updates them and
inserts three rows, 8 clients):
  - atomic batches in-process (entry_post_batch, --batch entries each): one
    stream over all accounts, and 2 streams over disjoint halves of them;
  - atomic batches over HTTP (POST /v1/ledger-entries/batch, gunicorn 2 workers);
  - single entries over HTTP (POST /v1/ledger-entries, 8 client threads), for
    comparison with the batch endpoint;
  - balance as of a past instant (posted from the lines, pending from the hold
    movements) at 1k vs --history lines on one account, with holds on both.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

from _common import ROOT, bench_tenant, django_setup
from postings import _free_port, http_rate, load_history, pgbench, read_times

# DEBUG keeps every query in memory; the server under test runs without it too.
os.environ.setdefault("ZENTRA_DEBUG", "0")
os.environ.setdefault("ZENTRA_ALLOWED_HOSTS", "127.0.0.1,localhost")


def _items(codes: list[str], n: int, rnd: random.Random):
    from ledger.services.batch import BatchItem
    from ledger.posting.rules import LineSpec

    out = []
    for _ in range(n):
        a, b = rnd.sample(codes, 2)
        key = uuid.uuid4().hex
        out.append(BatchItem(idempotency_key=key, req_hash=key, lines=[
            LineSpec(account=a, side="debit", amount_minor=1, currency="USD"),
            LineSpec(account=b, side="credit", amount_minor=1, currency="USD")]))
    return out


def _batch_worker(url, slug, codes, batch, seconds, start_evt, counter):
    django_setup(url)
    from django.db import connection

    from core.actors import Actor
    from ledger.services.batch import entry_post_batch
    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=slug))
    actor = Actor.system("bench")
    rnd = random.Random(os.getpid())
    start_evt.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        items = _items(codes, batch, rnd)  # built before the clock matters little: ~5% of a batch's time
        out = entry_post_batch(actor=actor, tenant=slug, mode="atomic", items=items)
        assert out.posted == batch
        done += batch
    with counter.get_lock():
        counter.value += done


def batch_rate(url, slug, partitions: list[list[str]], *, batch: int, seconds: int) -> float:
    ctx = mp.get_context("spawn")
    start, counter = ctx.Event(), ctx.Value("l", 0)
    procs = [ctx.Process(target=_batch_worker, args=(url, slug, codes, batch, seconds, start, counter))
             for codes in partitions]
    for p in procs:
        p.start()
    time.sleep(3)  # let every worker import Django before the clock starts
    t0 = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    # A worker finishes the batch it started at the deadline: count real time.
    return counter.value / (time.perf_counter() - t0)


def http_batch_rate(url, key, partitions: list[list[str]], *, batch: int, seconds: int) -> float:
    import requests

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, ZENTRA_LOG_LEVEL="WARNING", ZENTRA_DEBUG="0",
               DJANGO_SETTINGS_MODULE="zentra_site.settings", ZENTRA_ALLOWED_HOSTS="127.0.0.1,localhost",
               ZENTRA_MAX_BODY_BYTES=str(4 * 1024 * 1024))
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "zentra_site.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level",
         "warning", "--timeout", "120"], cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.2)
        counts = [0] * len(partitions)
        stop = time.perf_counter() + seconds

        def client(i):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {key}"
            rnd = random.Random(i)
            while time.perf_counter() < stop:
                entries = []
                for _ in range(batch):
                    a, b = rnd.sample(partitions[i], 2)
                    entries.append({"debit": a, "credit": b, "amount_minor": 1, "currency": "USD",
                                    "idempotency_key": uuid.uuid4().hex})
                r = s.post(f"http://127.0.0.1:{port}/v1/ledger-entries/batch",
                           json={"mode": "atomic", "entries": entries}, timeout=120)
                assert r.status_code == 201, r.text[:500]
                counts[i] += batch

        t0 = time.perf_counter()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(len(partitions))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(counts) / (time.perf_counter() - t0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def add_holds(code: str, other: str, n: int) -> None:
    """Some hold history on the account, so the pending probe reads real rows."""
    from core.actors import Actor
    from ledger.services.holds import hold_create, hold_release

    actor = Actor.system("bench")
    for i in range(n):
        key = f"bench-hold-{code}-{i}-{uuid.uuid4().hex[:6]}"
        out = hold_create(actor=actor, tenant="bench", idempotency_key=key, req_hash=key, account=code,
                          destination=other, amount_minor=1, currency="USD")
        if i % 2:
            hold_release(actor=actor, tenant="bench", hold_id=out.body["id"], idempotency_key=key + "-r",
                         req_hash=key + "-r")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--skip-http", action="store_true")
    args = ap.parse_args()

    url, t, codes = bench_tenant("zentra_bench_lifecycle", accounts=args.accounts)
    halves = [codes[: len(codes) // 2], codes[len(codes) // 2:]]

    load = os.getloadavg()
    print(f"# zentra lifecycle bench: {os.cpu_count()} cores, load average {load[0]:.1f} at start, "
          f"{args.seconds}s per run, {args.accounts} accounts, batches of {args.batch}")
    ref = pgbench(url, clients=8, seconds=args.seconds, accounts=args.accounts)
    print(f"pgbench (lock 2 rows, update 2, insert 3 rows), 8 clients:  {ref:9.1f} tps            1.00x")
    one = batch_rate(url, "bench", [codes], batch=args.batch, seconds=args.seconds)
    print(f"atomic batch in-process, 1 stream:                        {one:9.1f} entries/s  {one / ref:5.2f}x")
    two = batch_rate(url, "bench", halves, batch=args.batch, seconds=args.seconds)
    print(f"atomic batch in-process, 2 streams (disjoint accounts):   {two:9.1f} entries/s  {two / ref:5.2f}x")
    if not args.skip_http:
        hb = http_batch_rate(url, t.api_key.plaintext, halves, batch=args.batch, seconds=args.seconds)
        print(f"HTTP POST /v1/ledger-entries/batch, 2 clients:            {hb:9.1f} entries/s  {hb / ref:5.2f}x")
        single = http_rate(url, "bench", t.api_key.plaintext, codes, seconds=args.seconds)
        print(f"HTTP POST /v1/ledger-entries (single), 8 clients:         {single:9.1f} entries/s  {single / ref:5.2f}x"
              f"   batch/single over HTTP = {hb / single:.1f}x")

    django_setup(url)
    from django.db import connection

    from tests.ledger import factories as f

    connection.set_tenant(t.tenant)
    f.account(code="small", normal_side="debit", kind="asset")
    f.account(code="big", normal_side="debit", kind="asset")
    t0 = time.perf_counter()
    load_history("small", "acc00000", 1_000)
    load_history("big", "acc00001", args.history)
    add_holds("small", "acc00000", 50)
    add_holds("big", "acc00001", 50)
    loaded = time.perf_counter() - t0
    from ledger.checks import ledger_check

    violations = ledger_check()
    small_now, small_asof = read_times("small")
    big_now, big_asof = read_times("big")
    print(f"balance as of (posted + pending), 1k lines:     {small_asof:7.1f} us   (current {small_now:6.1f} us)")
    print(f"balance as of (posted + pending), {args.history // 1000}k lines: {big_asof:7.1f} us   (current {big_now:6.1f} us)"
          f"   as-of ratio {big_asof / small_asof:.2f}x   (history loaded in {loaded:.0f}s)")
    print(f"ledger_check after the run: {'ok' if not violations else violations[:5]}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
