from __future__ import annotations

from django.db import connection

from tenants.models import Tenant


def tenant_current() -> Tenant | None:
    """The tenant whose schema the connection is in. Inside schema_context()
    (Celery tasks, commands) django-tenants sets a stand-in that has only the
    schema name; this finds the real row, so its slug can be reported."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.filter(schema_name=connection.schema_name).first()
