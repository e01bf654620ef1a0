"""Celery tasks run in the schema of the tenant that sent them (real worker, real Redis)."""
from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tenants.tasks import current_schema

pytestmark = pytest.mark.worker


def test_task_runs_in_senders_schema(celery_worker_proc, tenant_a, tenant_b):
    with schema_context(tenant_a.tenant.schema_name):
        from_a = current_schema.delay()
    connection.set_tenant(tenant_b.tenant)
    try:
        from_b = current_schema.delay()
    finally:
        connection.set_schema_to_public()
    from_public = current_schema.delay()

    assert from_a.get(timeout=30) == tenant_a.tenant.schema_name
    assert from_b.get(timeout=30) == tenant_b.tenant.schema_name
    assert from_public.get(timeout=30) == "public"
