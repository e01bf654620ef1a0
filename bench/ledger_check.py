#!/usr/bin/env python
"""How long `ledger_check` takes on one tenant of a given size.

  python bench/ledger_check.py [--lines 100000] [--accounts 200]

Builds a scratch database (`<name>_ledgercheck`) with one tenant: accounts
(half of them under a no-negative policy), a webhook endpoint subscribed to
ledger.* (so every posting has an event and a delivery to judge), holds, and
--lines ledger lines posted through the batch service; seals the chain; then
runs every check and prints the total and the time of each, slowest first.
"""
from __future__ import annotations

import argparse
import random
import time

from _common import bench_database_url, django_setup, fresh_database, migrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--reuse", action="store_true", help="Time the checks on the tenant a previous run seeded")
    args = ap.parse_args()
    import os
    from urllib.parse import urlparse

    base = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")).path.lstrip("/")
    url = bench_database_url(f"{base}_ledgercheck")
    if not args.reuse:
        fresh_database(url)
    django_setup(url)
    if not args.reuse:
        migrate()
    from django.conf import settings
    from django.db import connection, transaction

    settings.WEBHOOKS_KICK_ON_COMMIT = False  # no worker: deliveries stay pending, as after an outage
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    from core.actors import Actor
    from audit.services.chain import chain_seal
    from ledger.services.accounts import account_create
    from ledger.services.batch import BatchItem, entry_post_batch
    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.services.holds import hold_create
    from ledger.services.policies import policy_create
    from tenants.services.tenants import tenant_create
    from webhooks.services.endpoints import endpoint_create

    actor = Actor.system("bench")
    if args.reuse:
        from tenants.models import Tenant

        connection.set_tenant(Tenant.objects.get(slug="bench-check"))
        _time_checks(connection.tenant)
        return
    t = tenant_create(actor=actor, slug="bench-check", domain="bench-check.localhost")
    connection.set_tenant(t.tenant)
    policy_create(actor=actor, name="no_overdraft", kind="no_negative_available", params={})
    endpoint_create(url="http://127.0.0.1:9/hook", event_types=["ledger.*"], actor=actor)
    cash = account_create(actor=actor, code="cash", name="cash", currency="USD", normal_side="debit", kind="asset")
    wallets = [account_create(actor=actor, code=f"w{i}", name=f"w{i}", currency="USD", normal_side="credit",
                              kind="liability", policies=["no_overdraft"] if i % 2 else None)
               for i in range(args.accounts)]
    rnd = random.Random(7)
    balance = {w.code: 0 for w in wallets}
    started, n_entries = time.monotonic(), args.lines // 2
    for b in range(0, n_entries, args.batch):
        items = []
        for i in range(b, min(b + args.batch, n_entries)):
            w = wallets[rnd.randrange(len(wallets))]
            amount = rnd.randint(1, 50)
            # Mostly funding; a withdrawal (policy-checked) only of what is there,
            # so an atomic batch never fails.
            if rnd.random() < 0.2 and balance[w.code] >= amount:
                debit, credit, balance[w.code] = w, cash, balance[w.code] - amount
            else:
                debit, credit, balance[w.code] = cash, w, balance[w.code] + amount
            key = f"b{i}"
            items.append(BatchItem(idempotency_key=key, req_hash=request_hash(operation="bench", payload=[key]),
                                   lines=[LineSpec(account=debit.code, side="debit", amount_minor=amount, currency="USD"),
                                          LineSpec(account=credit.code, side="credit", amount_minor=amount,
                                                   currency="USD")]))
        entry_post_batch(actor=actor, tenant=t.tenant.slug, mode="atomic", items=items)
    for i, w in enumerate(wallets[:50]):
        hold_create(actor=actor, tenant=t.tenant.slug, idempotency_key=f"h{i}", account=w.code, amount_minor=1,
                    currency="USD", req_hash=request_hash(operation="bench", payload=[f"h{i}"]))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger_ledgerline")
        lines = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM webhooks_delivery")
        deliveries = cur.fetchone()[0]
    print(f"seeded {lines} lines, {deliveries} deliveries in {time.monotonic() - started:.1f} s; sealing the chain")
    chain_seal()
    _time_checks(t.tenant)


def _time_checks(tenant) -> None:
    from django.db import connection

    from ledger.checks import CHECKS, EXTRA_CHECKS, GRACE, PROCEDURES, ledger_check

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM ledger_ledgerline")
        lines = cur.fetchone()[0]
    params = {"tenant_id": tenant.pk, "tenant_slug": tenant.slug, "grace": GRACE}
    times = []
    with connection.cursor() as cur:
        for name, _, sql in CHECKS + EXTRA_CHECKS:
            s = time.monotonic()
            cur.execute(f"{sql} LIMIT 20", params)
            cur.fetchall()
            times.append((time.monotonic() - s, name))
            print(f"  {times[-1][0]:7.3f} s  {name}", flush=True)
    for name, fn in PROCEDURES:
        s = time.monotonic()
        fn(limit=20, seal=False)
        times.append((time.monotonic() - s, name))
        print(f"  {times[-1][0]:7.3f} s  {name}", flush=True)
    s = time.monotonic()
    found = ledger_check(seal=False)
    total = time.monotonic() - s
    print(f"ledger_check on {lines} lines: {total:.2f} s, {len(found)} violation(s) {found[:3]}")
    print("slowest:")
    for secs, name in sorted(times, reverse=True)[:8]:
        print(f"  {secs:7.3f} s  {name}")


if __name__ == "__main__":
    main()
