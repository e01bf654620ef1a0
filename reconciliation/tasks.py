"""Workers: parse the arguments, call a service. Matching runs in the
tenant's schema (tenant-schemas-celery switches the connection)."""
from __future__ import annotations

from celery import shared_task

from core.actors import Actor


@shared_task(name="reconciliation.run_match", acks_late=True, reject_on_worker_lost=True)
def reconciliation_run_task(run_id: int) -> dict:
    from .services.matching import reconciliation_run_match

    run = reconciliation_run_match(run_id=int(run_id), actor=Actor.system("reconciliation.run_match"))
    return {"reconciliation": run.pk, "status": run.status}


@shared_task(name="reconciliation.sweep")
def reconciliation_sweep() -> dict:
    """Beat, in the public schema: hand stale runs of every tenant to a worker again."""
    from django_tenants.utils import get_tenant_model, tenant_context

    from .services.sweep import reconciliation_stale_requeue

    out = {}
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            found = reconciliation_stale_requeue(actor=Actor.system("reconciliation.sweep"))
        if any(found.values()):
            out[tenant.slug] = found
    return out
