"""Workers: parse the arguments, call a service. Matching runs in the
tenant's schema (tenant-schemas-celery switches the connection)."""
from __future__ import annotations

from celery import shared_task

from core.actors import Actor
from core.tenancy import for_each_active_tenant
from reconciliation.services.matching import reconciliation_run_match
from reconciliation.services import sweep


@shared_task(name="reconciliation.run_match", acks_late=True, reject_on_worker_lost=True)
def reconciliation_run_task(run_id: int) -> dict:
    run = reconciliation_run_match(run_id=int(run_id), actor=Actor.system("reconciliation.run_match"))
    return {"reconciliation": run.pk, "status": run.status}


@shared_task(name="reconciliation.sweep")
def reconciliation_sweep() -> dict:
    """Beat, in the public schema: hand stale runs of every tenant to a worker again."""
    actor = Actor.system("reconciliation.sweep")
    found = for_each_active_tenant(lambda tenant: sweep.reconciliation_stale_requeue(actor=actor), what="reconciliation sweep")
    return {slug: f for slug, f in found.items() if any(f.values())}
