from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.services.chain import chain_seal
from core.tenancy import active_tenants


@shared_task(name="audit.chain_seal_all")
def chain_seal_all(full: bool = False) -> int:
    """Beat entry point (public schema): one sealing task per tenant, so
    tenants seal in parallel on the workers and one slow tenant holds up
    nobody else."""
    if not settings.CHAIN_ENABLED:
        return 0
    tenants = active_tenants()
    for tenant in tenants:
        with tenant_context(tenant):
            # Sent from inside the tenant context: tenant-schemas-celery
            # stamps the schema so the worker runs it there.
            chain_seal_tenant.apply_async(kwargs={"full": full}, expires=None if full else 30)
    return len(tenants)


@shared_task(name="audit.chain_seal_tenant")
def chain_seal_tenant(full: bool = False) -> dict:
    since = None if full else timezone.now() - dt.timedelta(seconds=settings.CHAIN_SEAL_LOOKBACK_SECONDS)
    # wait=False: if another sealer holds this tenant's lock it is doing this job.
    result = chain_seal(limit=settings.CHAIN_SEAL_BATCH, since=since, wait=False)
    return {"sealed": result.sealed, "head_seq": result.head_seq, "skipped": result.skipped}
