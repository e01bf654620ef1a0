"""The template schema new tenants are cloned from.

Replaying every migration per tenant costs seconds, and django-tenants'
catalog-walking clone_schema() about 1.5 s. Instead, whenever the tenant
migrations on disk change, we migrate a template schema once, capture its DDL
with pg_dump (TemplateSnapshot) and provision a tenant by replaying that DDL
under the new schema name and copying the few seeded tables (django_migrations,
content types, permissions). bench/provisioning.py measures all three.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tenants.models import TemplateSnapshot

_cache = threading.local()
TEMPLATE_LOCK_ID = 0x5A454E54  # "ZENT": serializes concurrent template rebuilds
_SKIP_LINE = re.compile(r"^(SET |SELECT pg_catalog\.set_config|--|\\)")


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def migrations_digest() -> str:
    tenant_labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    loader = MigrationLoader(None, ignore_no_migrations=True)
    keys = sorted(k for k in loader.disk_migrations if k[0] in tenant_labels)
    return hashlib.sha256(repr(keys).encode()).hexdigest()


def _pg_dump_schema(schema: str) -> str:
    db = connection.settings_dict
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    cmd = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--no-comments", f"--schema={schema}",
           "-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432), "-U", db.get("USER") or "postgres",
           db["NAME"]]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines() if not _SKIP_LINE.match(ln)]
    ddl = "\n".join(lines)
    ddl = re.sub(rf"CREATE SCHEMA {re.escape(schema)};", "", ddl)
    return ddl


def _build_snapshot(digest: str) -> TemplateSnapshot:
    schema = template_schema_name()
    with connection.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        cur.execute(f'CREATE SCHEMA "{schema}"')
    call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname", [schema])
        tables = [r[0] for r in cur.fetchall()]
        seeded = []
        for t in tables:
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{t}")')
            if cur.fetchone()[0]:
                seeded.append(t)
    TemplateSnapshot.objects.filter(schema_name=schema).delete()
    return TemplateSnapshot.objects.create(
        migrations_digest=digest, schema_name=schema, ddl=_pg_dump_schema(schema), data_tables=seeded
    )


def template_ensure(*, force: bool = False) -> TemplateSnapshot:
    """The current snapshot, building template and snapshot if the tenant
    migrations changed (or `force`)."""
    digest = migrations_digest() if force or getattr(_cache, "snapshot", None) is None else _cache.snapshot.migrations_digest
    cached = getattr(_cache, "snapshot", None)
    if cached is not None and not force and cached.migrations_digest == digest:
        return cached
    connection.set_schema_to_public()
    snap = None if force else TemplateSnapshot.objects.filter(migrations_digest=digest).first()
    if snap is None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK_ID])
        try:
            snap = None if force else TemplateSnapshot.objects.filter(migrations_digest=digest).first()
            if snap is None:
                snap = _build_snapshot(digest)
        finally:
            connection.set_schema_to_public()
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [TEMPLATE_LOCK_ID])
    _cache.snapshot = snap
    return snap


def template_clone(*, schema: str) -> None:
    """Create `schema` as a copy of the template. Runs inside the caller's
    transaction (DDL is transactional in PostgreSQL)."""
    snap = template_ensure()
    src = snap.schema_name
    ddl = snap.ddl.replace(f"{src}.", f"{schema}.").replace(f'"{src}".', f'"{schema}".')
    with connection.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(ddl)
        for table in snap.data_tables:
            cur.execute(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{src}"."{table}"')
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM \"{schema}\".\"{table}\"))",
                [f'"{schema}"."{table}"'],
            )
