#!/usr/bin/env python
"""How long does it take to provision a tenant?

Compares, on a scratch database (created and dropped here, on the server named
by DATABASE_URL):

  clone         tenants.services.tenants.tenant_create as shipped: rows +
                the template's pg_dump snapshot replayed under the new name +
                rows copied (tenants.services.template.template_clone)
  clone-fn      rows + django-tenants' clone_schema() SQL function, installed
                once
  clone-legacy  rows + django_tenants' CloneSchema().clone_schema(), which
                re-creates its ~4,600-line plpgsql function on every call
  migrate       rows + CREATE SCHEMA + `migrate_schemas --schema` (replaying
                every tenant migration, django-tenants' default)

The methods take turns (round-robin, rotating who goes first) so a database
that slows down as schemas accumulate slows every method alike.

    python bench/provisioning.py [--tenants 10] [--methods clone,clone-legacy,migrate]

A benchmark, not a test: it prints figures and ratios and asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = ("clone", "clone-fn", "clone-legacy", "migrate")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _admin(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, "")), autocommit=True)


def _rows(slug: str):
    """Tenant + Domain rows, as every method needs them."""
    from tenants.models import Domain, Tenant
    from tenants.services.tenants import schema_for_slug

    tenant = Tenant(slug=slug, name=slug, schema_name=schema_for_slug(slug))
    tenant.save()
    Domain.objects.create(domain=f"{slug}.bench.localhost", tenant=tenant, is_primary=True)
    return tenant


def provision_clone(slug: str) -> None:
    from core.actors import Actor
    from tenants.services.tenants import tenant_create

    tenant_create(actor=Actor.system("bench"), slug=slug, domain=f"{slug}.bench.localhost")


_clone_fn_installed = False


def provision_clone_fn(slug: str) -> None:
    from django.db import connection, transaction
    from django_tenants.clone import CloneSchema

    from tenants.services.template import template_schema_name

    global _clone_fn_installed
    if not _clone_fn_installed:
        CloneSchema()._create_clone_schema_function()
        _clone_fn_installed = True
    with transaction.atomic():
        tenant = _rows(slug)
        with connection.cursor() as cur:
            cur.execute("SELECT public.clone_schema(%s, %s, 'DATA')", [template_schema_name(), tenant.schema_name])
    connection.set_schema_to_public()


def provision_clone_legacy(slug: str) -> None:
    from django.db import connection, transaction
    from django_tenants.clone import CloneSchema

    from tenants.services.template import template_schema_name

    with transaction.atomic():
        tenant = _rows(slug)
        CloneSchema().clone_schema(template_schema_name(), tenant.schema_name, "DATA", set_connection=False)
    connection.set_schema_to_public()


def provision_migrate(slug: str) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    with transaction.atomic():
        tenant = _rows(slug)
        with connection.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{tenant.schema_name}"')
    call_command("migrate_schemas", schema_name=tenant.schema_name, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()


PROVISIONERS = {
    "clone": provision_clone, "clone-fn": provision_clone_fn, "clone-legacy": provision_clone_legacy,
    "migrate": provision_migrate,
}


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def run(n: int, methods: list[str]) -> dict[str, list[float]]:
    from django.core.management import call_command
    from django.db import connection

    from tenants.services.template import template_ensure, template_schema_name

    started = time.perf_counter()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    template_ensure(force=True)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [template_schema_name()]
        )
        tables = cur.fetchone()[0]
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    print(f"PostgreSQL {version}; template schema: {tables} tables; setup {time.perf_counter() - started:.1f}s")

    times: dict[str, list[float]] = {m: [] for m in methods}
    for i in range(n):
        order = methods[i % len(methods):] + methods[: i % len(methods)]
        for method in order:
            slug = f"b-{method}-{i:04d}-{uuid.uuid4().hex[:4]}"
            t0 = time.perf_counter()
            PROVISIONERS[method](slug)
            times[method].append(time.perf_counter() - t0)
        print(
            f"  round {i + 1:>3}/{n}: " + "  ".join(f"{m} {times[m][-1] * 1000:.0f}ms" for m in methods),
            flush=True,
        )
    return times


def report(times: dict[str, list[float]]) -> None:
    print()
    print(f"{'method':<14}{'n':>4}{'mean ms':>10}{'p50 ms':>10}{'max ms':>10}")
    for method, values in times.items():
        print(
            f"{method:<14}{len(values):>4}{_fmt(statistics.mean(values))}{_fmt(statistics.median(values))}"
            f"{_fmt(max(values))}"
        )
    print()
    if "clone" in times:
        base = statistics.mean(times["clone"])
        for other in ("migrate", "clone-legacy", "clone-fn"):
            if other in times:
                print(
                    f"{other} / clone (mean): {statistics.mean(times[other]) / base:.1f}x   "
                    f"(p50: {statistics.median(times[other]) / statistics.median(times['clone']):.1f}x)"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", "-n", type=int, default=10, help="tenants per method (default 10)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        parser.error(f"unknown methods: {sorted(unknown)}")

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    scratch = f"zentra_bench_{uuid.uuid4().hex[:8]}"
    with _admin(base_url) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    print(f"scratch database {scratch}; {args.tenants} tenants per method; methods: {', '.join(methods)}")
    os.environ["DATABASE_URL"] = _with_db(base_url, scratch)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")
    os.environ.setdefault("ZENTRA_LOG_LEVEL", "WARNING")
    try:
        import django

        django.setup()
        report(run(args.tenants, methods))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with _admin(base_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
