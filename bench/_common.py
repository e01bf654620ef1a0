"""Shared set-up for bench scripts: a scratch database, Django pointed at it."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
    u = urlparse(base)
    return u._replace(path=f"/{name}").geturl()


def pg_args(url: str) -> list[str]:
    u = urlparse(url)
    return ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]


def fresh_database(url: str) -> None:
    u = urlparse(url)
    name = u.path.lstrip("/")
    subprocess.run(["dropdb", "--if-exists", "--force", *pg_args(url), name], check=True)
    subprocess.run(["createdb", *pg_args(url), name], check=True)


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zentra_site.settings")
    os.environ.setdefault("ZENTRA_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)


def bench_tenant(db_name: str, *, accounts: int):
    """A scratch database with one tenant `bench` (domain bench.localhost, an
    API key, rate limit lifted) and `accounts` USD accounts acc00000…, alternating debit-normal
    assets and credit-normal liabilities. Leaves the connection closed (worker
    processes open their own). Returns (database url, provisioned tenant, codes).
    ZENTRA_BENCH_DB names the database instead of `db_name`, so two
    checkouts can bench side by side."""
    url = bench_database_url(os.environ.get("ZENTRA_BENCH_DB") or db_name)
    fresh_database(url)
    django_setup(url)
    migrate()
    from django.db import connection

    from core.actors import Actor
    from tenants.services.tenants import tenant_create
    from tests.ledger import factories as f

    from tenants.services.limits import tenant_limits_set

    t = tenant_create(actor=Actor.system("bench"), slug="bench", domain="bench.localhost", with_api_key=True)
    # A benchmark is the load the per-key rate limit exists to refuse.
    tenant_limits_set(actor=Actor.system("bench"), tenant=t.tenant, requests_per_minute=10**9)
    connection.set_tenant(t.tenant)
    codes = [f"acc{i:05d}" for i in range(accounts)]
    for i, code in enumerate(codes):
        f.account(code=code, normal_side="debit" if i % 2 else "credit", kind="asset" if i % 2 else "liability")
    # The accounts' planner statistics, as autovacuum would gather them on a
    # live system (it may be off on a bench machine): never analyzed, the
    # table looks like ten pages and the posting statements' plans scan it
    # whole. Only this table: the ledger's own tables are empty now, and
    # plans made on "empty" statistics would scan them as they grow.
    with connection.cursor() as cur:
        cur.execute("ANALYZE ledger_account")
    connection.close()
    return url, t, codes


def pair_poster(*, slug: str, codes: list[str], hot: str | None = None, seed: int | None = None):
    """A function that posts one entry per call through the service, in the
    current tenant: 1 USD minor unit from `hot` (or a random account) to
    another random account, under a new key. Django must be set up."""
    from core.actors import Actor
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post

    actor, rnd = Actor.system("bench"), random.Random(os.getpid() if seed is None else seed)

    def one() -> None:
        a = hot or rnd.choice(codes)
        b = rnd.choice(codes)
        while b == a:
            b = rnd.choice(codes)
        key = uuid.uuid4().hex
        out = entry_post(actor=actor, tenant=slug, idempotency_key=key, req_hash=key, lines=[
            LineSpec(account=a, side="debit", amount_minor=1, currency="USD"),
            LineSpec(account=b, side="credit", amount_minor=1, currency="USD")])
        assert out.status == 201, out.body

    return one
