#!/usr/bin/env python
"""Inbound provider deliveries: stored/s and applied/s.

  python bench/inbound.py [--events 1000] [--copies 2] [--threads 4] [--workers 2]

A scratch database (<DATABASE_URL's name>_inbench, recreated each run), one
tenant with the demo accounts and a Stripe provider. Then:
  - stored/s: --events distinct `payout.paid` events, each sent --copies
    times (a provider retrying), POSTed with a Stripe signature through the
    whole Django request path (middleware, hostname routing, signature check,
    parse, one INSERT, the apply task queued in Redis) from --threads threads
    of Django's test client, with no worker running;
  - applied/s: then a Celery worker (--workers prefork processes, private
    queue) starts and drains the queue; rate from the worker answering its
    first ping to the last delivery reaching a final status. Each event
    posts one entry; its copies are replayed by the posting boundary and
    recorded as duplicates.
Checks at the end: entries == events, duplicates == events x (copies-1),
ledger_check clean.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import bench_database_url, fresh_database  # noqa: E402

SECRET = "whsec_bench_" + "0123456789abcdef" * 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    url = bench_database_url(base.rsplit("/", 1)[1] + "_inbench")
    fresh_database(url)
    queue = f"inbench-{uuid.uuid4().hex[:6]}"
    os.environ.update(DATABASE_URL=url, ZENTRA_CELERY_QUEUE=queue, ZENTRA_LOG_LEVEL="WARNING",
                      ZENTRA_LOG_JSON="0", DJANGO_SETTINGS_MODULE="zentra_site.settings")
    import django

    django.setup()
    import stripe
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client
    from django_tenants.utils import schema_context

    from core.actors import Actor
    from ledger.checks import ledger_check
    from ledger.models import LedgerEntry
    from demo.seed import demo_seed
    from providers.models import InboundDelivery, InboundStatus
    from providers.services.providers import provider_create
    from tenants.services.tenants import tenant_create

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    tenant = tenant_create(actor=Actor.system("bench"), slug="inbench", domain="inbench.localhost").tenant
    with schema_context(tenant.schema_name):
        demo_seed(tenant=tenant.slug)
        provider_create(actor=Actor.system("bench"), slug="stripe", kind="stripe", signing_secret=SECRET)
    connection.set_schema_to_public()

    bodies = []
    for i in range(args.events):
        body = json.dumps({"id": f"evt_bench_{i}", "type": "payout.paid", "object": "event",
                           "data": {"object": {"id": f"po_bench_{i}", "amount": 100 + i, "currency": "usd"}}})
        bodies.extend([body] * args.copies)
    total = len(bodies)
    next_i, lock, failures = [0], threading.Lock(), []

    def sender() -> None:
        client = Client()
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= total:
                break
            header = stripe.WebhookSignature.generate_signature_header(bodies[i], SECRET)
            r = client.post("/v1/inbound/stripe", data=bodies[i], content_type="application/json",
                            HTTP_HOST="inbench.localhost", HTTP_STRIPE_SIGNATURE=header)
            if r.status_code != 200:
                failures.append(r.status_code)
        connections.close_all()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored_s = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} deliveries were not accepted: {failures[:5]}")
    print(f"stored:  {total} deliveries ({args.events} events x {args.copies}) in {stored_s:.2f} s "
          f"= {total / stored_s:.0f} deliveries/s ({args.threads} client threads, in-process)")

    log = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"{queue}.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "zentra_site", "worker", "-l", "WARNING", "-c", str(args.workers),
         "-P", "prefork", "-Q", queue, "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        from zentra_site.celery import app

        while not app.control.inspect(timeout=0.5, destination=[f"{queue}@{os.uname().nodename}"]).ping():
            if worker.poll() is not None:
                raise SystemExit(f"worker exited; see {log}")
        final = [InboundStatus.APPLIED, InboundStatus.DUPLICATE, InboundStatus.FAILED]
        with schema_context(tenant.schema_name):
            t1, done0 = time.perf_counter(), InboundDelivery.objects.filter(status__in=final).count()
            deadline = time.time() + max(300, total / 5)
            while (done := InboundDelivery.objects.filter(status__in=final).count()) < total:
                if time.time() > deadline:
                    raise SystemExit(f"only {done} of {total} applied; see {log}")
                time.sleep(0.05)
            applied_s = time.perf_counter() - t1
            counts = dict(InboundDelivery.objects.values_list("status").annotate(n=django.db.models.Count("id")))
            entries = LedgerEntry.objects.filter(source_event__startswith="stripe:").count()
            problems = ledger_check()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(f"applied: {total - done0} deliveries in {applied_s:.2f} s = {(total - done0) / applied_s:.0f} deliveries/s "
          f"({args.workers} worker processes; {done0} were done before the first ping)")
    print(f"         statuses {counts}; entries posted {entries} (events {args.events}); "
          f"ledger_check {'clean' if not problems else problems[:3]}")
    if entries != args.events or counts.get("duplicate", 0) != args.events * (args.copies - 1) or problems:
        raise SystemExit("MISMATCH: every event must post exactly once")


if __name__ == "__main__":
    main()
