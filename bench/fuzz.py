#!/usr/bin/env python
"""The long schemathesis run against /v1 (the test suite runs a short one).

  python bench/fuzz.py [--examples 100] [--verbose]

Scratch database `<DATABASE_URL's name>_fuzz`, one tenant with an all-scopes
key (rate limit lifted), positive and negative data for every operation in
the live schema. Prints cases, 5xx count and schema violations; exits 1 if
either count is not zero.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from _common import ROOT, bench_database_url, django_setup, fresh_database, migrate
from core.actors import Actor


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=100, help="cases per operation (split over positive/negative)")
    ap.add_argument("--verbose", action="store_true", help="print every case")
    args = ap.parse_args()

    url = bench_database_url(os.path.basename(os.environ.get("DATABASE_URL", "zentra")).split("?")[0] + "_fuzz")
    fresh_database(url)
    os.environ.setdefault("ZENTRA_LOG_LEVEL", "CRITICAL")  # the fuzzer's 4xx are expected; keep the output readable
    django_setup(url)
    migrate()
    sys.path.insert(0, str(ROOT))
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    from tenants.services.limits import tenant_limits_set
    from tenants.services.tenants import tenant_create
    from tests.security.fuzzing import fuzz_run, hostile_shapes_run

    call_command("tenant_template", verbosity=0)
    provisioned = tenant_create(actor=Actor.system("bench"), slug="fuzz", domain="fuzz.localhost", with_api_key=True)
    tenant_limits_set(actor=Actor.system("bench"), tenant=provisioned.tenant, requests_per_minute=10**9)
    started = time.perf_counter()
    report = fuzz_run(app=get_wsgi_application(), max_examples=args.examples, seed=None, verbose=args.verbose,
                      headers={"Authorization": f"Bearer {provisioned.api_key.plaintext}"})
    # Deeply nested bodies and crafted cursors, which schemathesis does not generate.
    hostile_shapes_run(app=get_wsgi_application(), report=report,
                       headers={"Authorization": f"Bearer {provisioned.api_key.plaintext}"})
    took = time.perf_counter() - started
    for line in report.server_errors[:20]:
        print("5xx:", line)
    for line in report.violations[:20]:
        print("violation:", line)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(report.by_status.items()))
    print(f"operations: {report.operations}  cases: {report.cases}  5xx: {len(report.server_errors)}  "
          f"schema violations: {len(report.violations)}  ({took:.1f} s, {report.cases / took:.0f} cases/s)")
    print(f"statuses: {statuses}")
    return 1 if report.server_errors or report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
