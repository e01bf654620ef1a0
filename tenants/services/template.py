"""The template schema new tenants are cloned from.

Replaying every migration per tenant costs seconds; cloning a schema that is
already migrated costs a fraction of that (bench/provisioning.py measures
both). The template is rebuilt whenever the migrations on disk differ from the
ones recorded in it, so it can never lag behind the code.
"""
from __future__ import annotations

import threading

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

_checked = threading.local()
TEMPLATE_LOCK_ID = 0x5A454E54  # "ZENT": serializes concurrent template rebuilds


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def _expected_migrations() -> set[tuple[str, str]]:
    tenant_labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {key for key in loader.disk_migrations if key[0] in tenant_labels}


def _recorded_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s)", [f'"{schema}".django_migrations']
        )
        if cur.fetchone()[0] is None:
            return set()
        cur.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        return set(cur.fetchall())


def template_ensure(*, force: bool = False) -> bool:
    """Make sure the template schema exists and carries every tenant migration.

    Returns True when it had to be (re)built.
    """
    if getattr(_checked, "ok", False) and not force:
        return False
    schema = template_schema_name()
    connection.set_schema_to_public()
    expected = _expected_migrations()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK_ID])
    try:
        rebuilt = False
        if force or not schema_exists(schema) or _recorded_migrations(schema) != expected:
            with connection.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                cur.execute(f'CREATE SCHEMA "{schema}"')
            call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
            rebuilt = True
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [TEMPLATE_LOCK_ID])
    _checked.ok = True
    return rebuilt
