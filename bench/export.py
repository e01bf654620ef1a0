"""Audit CSV export at scale: throughput and memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zentra python bench/export.py [--rows 1000000]

Fills a scratch tenant (`bench-export`, created if missing, topped up if it
has fewer rows) with synthetic audit events using one INSERT ... SELECT
generate_series, seals them into the chain, then downloads
`GET /v1/exports/{id}/file` in-process through the real middleware, API-key
auth and view. Prints rows/s for insert, seal, export and manifest, and the
process RSS every 100k exported rows plus the peak (VmHWM, reset just before
the export) -- the export must stay flat, well under 150 MB.

A benchmark, not a test: it prints figures and asserts nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")
os.environ.setdefault("ZENTRA_DEBUG", "0")  # DEBUG keeps a query log in memory
os.environ.setdefault("ZENTRA_LOG_JSON", "0")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import tenant_context  # noqa: E402

from core.actors import Actor  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from audit.selectors import chain_unsealed_counts  # noqa: E402
from audit.services.chain import chain_seal  # noqa: E402
from audit.services.exports import export_create  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services.api_keys import api_key_create  # noqa: E402
from tenants.services.tenants import tenant_create  # noqa: E402

INSERT = """
INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_ref, action, target_type, target_id, before, after,
                              policy_context, correlation_id, ip, user_agent, metadata)
SELECT timestamptz '2026-01-01 00:00:00+00' + (g * interval '1 millisecond'),
       'api_key', 'api_key:bench' || (g %% 7),
       (ARRAY['ledger_entry.posted', 'account.created', 'hold.created', 'webhook.endpoint.disabled'])[1 + g %% 4],
       (ARRAY['ledger_entry', 'account', 'hold', 'endpoint'])[1 + g %% 4],
       -- every 1000th target is a formula, so the escaping path is exercised too
       CASE WHEN g %% 1000 = 0 THEN '=HYPERLINK("http://x/?' || g || '")' ELSE g::text END,
       NULL,
       jsonb_build_object('amount_minor', g * 100 - 50000, 'currency', 'EUR', 'status', 'posted'),
       jsonb_build_array(jsonb_build_object('policy', 'max_amount', 'version', 1, 'decision', 'pass')),
       'cid_' || md5(g::text), '10.1.2.3', 'bench/1.0',
       jsonb_build_object('accounts', jsonb_build_array('customer_balance', 'reserved'), 'idempotency_key', 'k-' || g)
FROM generate_series(%s, %s) AS g
"""


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def vacuum(table: str) -> None:
    """What autovacuum would soon do in production: fresh statistics and a
    visibility map, so the planner and index-only scans see the real table."""
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {table}")
    print(f"vacuum analyze {table}: {time.perf_counter() - t0:.1f}s")


def ensure_tenant(slug: str) -> Tenant:
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        tenant = tenant_create(actor=Actor.system("bench"), slug=slug, domain=f"{slug}.localhost").tenant
    return tenant


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--tenant", default="bench-export")
    ap.add_argument("--every", type=int, default=100_000, help="print RSS every N exported rows")
    args = ap.parse_args()

    tenant = ensure_tenant(args.tenant)
    key = api_key_create(actor=Actor.system("bench"), tenant=tenant, name="bench", scopes=["audit:read"]).plaintext
    print(f"tenant {tenant.slug} (schema {tenant.schema_name}); rows wanted {args.rows:,}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with tenant_context(tenant):
        have = AuditEvent.objects.count()
        if have < args.rows:
            t0 = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(INSERT, [have + 1, args.rows])
            dt_ = time.perf_counter() - t0
            print(f"insert: {args.rows - have:,} rows in {dt_:.1f}s ({(args.rows - have) / dt_:,.0f} rows/s)")
            vacuum("audit_auditevent")
        total = AuditEvent.objects.count()

        pending = chain_unsealed_counts()["audit_event"]
        t0, c0 = time.perf_counter(), time.process_time()
        sealed = 0
        while True:
            step = chain_seal(limit=250_000).sealed
            sealed += step
            if step < 250_000:
                break
        dt_, cpu = time.perf_counter() - t0, time.process_time() - c0
        if sealed:
            print(f"seal: {sealed:,} links in {dt_:.1f}s = {sealed / dt_:,.0f} links/s wall "
                  f"({sealed / cpu:,.0f} links per CPU-second of this process), RSS {rss_mb():.0f} MB")
            vacuum("audit_chainlink")
        print(f"seal pass over {total:,} rows with {pending - sealed} left (no-op anti-join): ", end="")
        t0 = time.perf_counter()
        chain_seal()
        print(f"{time.perf_counter() - t0:.2f}s")

        t0 = time.perf_counter()
        export = export_create(actor=Actor.system("bench.export"), kind="audit_events", filters={})
        print(f"export_create (seal + pin): {time.perf_counter() - t0:.2f}s; chain head seq {export.chain_head_seq:,}")

    client = Client()
    base_rss = rss_mb()
    peak_reset = reset_peak()
    print(f"RSS before export {base_rss:.0f} MB (peak counter reset: {peak_reset})")
    t0, c0 = time.perf_counter(), time.process_time()
    resp = client.get(f"/v1/exports/{export.pk}/file", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert resp.status_code == 200, resp.content
    sha, nbytes, lines, next_mark = hashlib.sha256(), 0, -1, args.every
    for chunk in resp.streaming_content:
        sha.update(chunk)
        nbytes += len(chunk)
        lines += chunk.count(b"\r\n")  # synthetic rows hold no embedded CRLF
        while lines >= next_mark:
            el = time.perf_counter() - t0
            print(f"  {next_mark:>9,} rows  {el:6.1f}s  {next_mark / el:>9,.0f} rows/s  RSS {rss_mb():6.1f} MB")
            next_mark += args.every
    resp.close()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = rss_mb("VmHWM")
    print(f"export: {lines:,} rows, {nbytes / 1e6:,.1f} MB in {elapsed:.1f}s = {lines / elapsed:,.0f} rows/s wall "
          f"({nbytes / 1e6 / elapsed:.1f} MB/s; {lines / cpu:,.0f} rows per CPU-second); peak RSS during export "
          f"{peak:.1f} MB (+{peak - base_rss:.1f} MB over the {base_rss:.0f} MB before it)")

    t0 = time.perf_counter()
    manifest = client.get(f"/v1/exports/{export.pk}/manifest", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    print(f"manifest: {time.perf_counter() - t0:.2f}s; row_count {manifest['row_count']:,}; "
          f"sha256 matches downloaded bytes: {manifest['sha256'] == sha.hexdigest()}")
    print(f"load average {os.getloadavg()[0]:.1f} (other work on this machine shows in the wall-clock figures)")
    if manifest["sha256"] != sha.hexdigest() or manifest["row_count"] != lines:
        sys.exit("manifest does not match the download")


if __name__ == "__main__":
    main()
