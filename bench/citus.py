#!/usr/bin/env python
"""One node against a Citus cluster, side by side, on this machine.

For each target it makes a scratch database, migrates it, builds the
template, then times:

  tenant       tenant_create (one schema clone; on Citus also
               citus_schema_distribute to a worker)
  post         entry_post in-process, one posting per transaction, in a
               loop on one connection (the service the API calls)
  post-api     POST /v1/ledger-entries through Django's WSGI handler
               (django.test.Client, in-process: API key lookup, middleware,
               serializer and the same service; no socket)

The one-node target is the PostgreSQL in DATABASE_URL (default
127.0.0.1:5432); the cluster is scripts/citus_cluster.sh's coordinator
(127.0.0.1:9700, workers 9701/9702), started if needed.

    python bench/citus.py [--tenants 5] [--postings 300]

A benchmark, not a test: it prints figures and ratios and asserts nothing.
Each target runs in its own process (settings are read once per process).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def _child(args) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings.test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from core.actors import Actor
    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post
    from tenants.services.template import template_ensure
    from tenants.services.tenants import tenant_create

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    template_ensure()
    out: dict[str, list[float]] = {"tenant": [], "post": [], "post-api": []}
    made = []
    for _ in range(args.tenants):
        slug = f"b{uuid.uuid4().hex[:10]}"
        t0 = time.perf_counter()
        made.append(tenant_create(slug=slug, domain=f"{slug}.localhost", with_api_key=True))
        out["tenant"].append(time.perf_counter() - t0)
        connection.set_schema_to_public()
    t = made[0]
    client = Client(HTTP_HOST=f"{t.tenant.slug}.localhost", HTTP_AUTHORIZATION=f"Bearer {t.api_key.plaintext}")
    for body in ({"code": "cash", "name": "Cash", "currency": "USD", "normal_side": "debit", "kind": "asset"},
                 {"code": "cust", "name": "Customer", "currency": "USD", "normal_side": "credit", "kind": "liability"}):
        r = client.post("/v1/accounts", body, content_type="application/json")
        assert r.status_code == 201, r.content
    connection.set_tenant(t.tenant)
    actor = Actor.system("bench")
    lines = [LineSpec(account="cash", side="debit", amount_minor=1, currency="USD"),
             LineSpec(account="cust", side="credit", amount_minor=1, currency="USD")]
    for i in range(args.postings):
        key = f"p{i}"
        t0 = time.perf_counter()
        res = entry_post(actor=actor, tenant=t.tenant.slug, idempotency_key=key,
                         req_hash=request_hash(operation="bench", payload=[key]), lines=lines)
        out["post"].append(time.perf_counter() - t0)
        assert res.status == 201, res
    connection.set_schema_to_public()
    for i in range(args.postings):
        t0 = time.perf_counter()
        r = client.post("/v1/ledger-entries", {"debit": "cash", "credit": "cust", "amount_minor": 1, "currency": "USD",
                                               "idempotency_key": f"a{i}"}, content_type="application/json")
        out["post-api"].append(time.perf_counter() - t0)
        assert r.status_code == 201, r.content
    print(json.dumps(out))


def _db(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, f"/{name}", p.query, ""))


def _run(env: dict[str, str], args) -> dict[str, list[float]]:
    done = subprocess.run([sys.executable, __file__, "--child", "--tenants", str(args.tenants),
                           "--postings", str(args.postings)], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=5)
    ap.add_argument("--postings", type=int, default=300)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    import psycopg

    one_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    name = "zentra_bench_citus"
    p = urlsplit(one_url)
    with psycopg.connect(urlunsplit(("postgresql", p.netloc, "/postgres", "", "")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    port = os.environ.get("ZENTRA_CITUS_PORT", "9700")
    subprocess.run(["bash", str(ROOT / "scripts/citus_cluster.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["bash", str(ROOT / "scripts/citus_cluster.sh"), "db", name], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = dict(os.environ, PYTHONPATH=str(ROOT), ZENTRA_LOG_JSON="0")
    base.pop("ZENTRA_CITUS", None)
    one = _run(dict(base, DATABASE_URL=_db(one_url, name)), args)
    cluster = _run(dict(base, DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/{name}", ZENTRA_CITUS="1"), args)
    print(f"{'':12} {'one node':>14} {'Citus cluster':>16} {'cluster/one (throughput)':>26}")
    for what in ("tenant", "post", "post-api"):
        a, b = statistics.median(one[what]) * 1000, statistics.median(cluster[what]) * 1000
        print(f"{what:12} {a:11.2f} ms {b:13.2f} ms {a / b:25.2f}x")
    print(f"(medians; {args.tenants} tenants, {args.postings} postings each way, sequential, one connection)")


if __name__ == "__main__":
    main()
