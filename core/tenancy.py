"""Work over every tenant: the periodic jobs (hold expiry, webhook dispatch,
inbound sweep, chain sealing, reconciliation sweep) each visit the active
tenants one schema at a time, through here."""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model

log = logging.getLogger("zentra.tenancy")
T = TypeVar("T")


def active_tenants() -> list[Any]:
    """Every active tenant (not the public schema), in id order, read in the
    public schema (the connection is left there)."""
    tenant_model = get_tenant_model()
    connection.set_schema_to_public()
    return list(tenant_model.objects.filter(status=tenant_model.Status.ACTIVE)
                .exclude(schema_name=get_public_schema_name()).order_by("id"))


def for_each_active_tenant(work: Callable[[Any], T], *, what: str) -> dict[str, T]:
    """`work(tenant)` in each active tenant's schema; returns slug -> result.
    One broken tenant is logged and skipped, never blocks the others; the
    connection is back on the public schema afterwards."""
    out: dict[str, T] = {}
    try:
        for tenant in active_tenants():
            connection.set_tenant(tenant)
            try:
                out[tenant.slug] = work(tenant)
            except Exception:  # noqa: BLE001 - isolate tenants
                log.exception("%s failed for tenant %s", what, tenant.slug)
    finally:
        connection.set_schema_to_public()
    return out
