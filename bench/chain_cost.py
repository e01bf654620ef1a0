#!/usr/bin/env python
"""Cost of the tamper-evident chain on posting throughput, in one run.

  python bench/chain_cost.py [--seconds 10] [--workers 4]

Postings never touch the chain (records are sealed after commit by the
sealer), so the chain's cost is the sealer running beside the postings. This
measures entry_post throughput with no sealer (chain off) and with a sealer
process sealing continuously (chain on: a tighter loop than the 5 s beat),
and prints the ratio (target >= 0.8x). Finally it verifies the chain.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from _common import bench_database_url, django_setup, fresh_database, migrate
from postings import service_rate
from core.actors import Actor


def _sealer(url: str, slug: str, stop) -> None:
    django_setup(url)
    from django.db import connection

    from audit.services.chain import chain_seal
    from tenants.models import Tenant

    connection.set_tenant(Tenant.objects.get(slug=slug))
    while not stop.is_set():
        chain_seal()
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--accounts", type=int, default=200)
    args = ap.parse_args()

    url = bench_database_url("zentra_bench_chain")
    fresh_database(url)
    django_setup(url)
    migrate()
    from django.db import connection

    from tenants.services.tenants import tenant_create
    from tests.ledger import factories as f

    t = tenant_create(actor=Actor.system("bench"), slug="chainbench", domain="chainbench.localhost")
    connection.set_tenant(t.tenant)
    codes = [f.account(code=f"acc{i:04d}", normal_side="debit" if i % 2 else "credit",
                       kind="asset" if i % 2 else "liability").code for i in range(args.accounts)]
    connection.close()

    off = service_rate(url, "chainbench", codes, workers=args.workers, seconds=args.seconds)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    sealer = ctx.Process(target=_sealer, args=(url, "chainbench", stop))
    sealer.start()
    time.sleep(3)
    on = service_rate(url, "chainbench", codes, workers=args.workers, seconds=args.seconds)
    stop.set()
    sealer.join()
    django_setup(url)
    connection.set_tenant(t.tenant)
    from audit.services.chain import chain_verify

    report = chain_verify()
    print(f"# chain cost: {args.workers} posting workers, {args.seconds}s per run")
    print(f"entry_post, chain off (no sealer):         {off:8.1f} /s")
    print(f"entry_post, chain on (sealer every 0.2 s): {on:8.1f} /s   on/off = {on / off:.2f}x")
    print(f"verify after the run: ok={report.ok} links={report.links_checked} unsealed={sum(report.unsealed.values())}")


if __name__ == "__main__":
    main()
