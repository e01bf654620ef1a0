from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from tenants.models import ApiKey, Tenant


def tenant_current() -> Tenant | None:
    """The tenant whose schema the connection is in. Inside schema_context()
    (Celery tasks, commands) django-tenants sets a stand-in that has only the
    schema name; this finds the real row, so its slug can be reported."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return Tenant.objects.filter(schema_name=connection.schema_name).first()


def api_keys_of_tenant(tenant: Tenant) -> QuerySet[ApiKey]:
    """The tenant's API keys, newest first (revoked ones too)."""
    return ApiKey.objects.filter(tenant=tenant).order_by("-id")


def api_key_of_tenant(tenant: Tenant, key_id: int) -> ApiKey | None:
    """One of the tenant's API keys; None for another tenant's or no key."""
    return ApiKey.objects.filter(tenant=tenant, pk=key_id).first()
