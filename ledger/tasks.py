"""Celery entry points of the ledger. Each only calls a service; the rows in
PostgreSQL are the truth, so a lost or repeated message changes nothing."""
from celery import shared_task

from ledger.services.holds import hold_expire_due_all_tenants


@shared_task(name="ledger.expire_due_holds")
def expire_due_holds() -> dict[str, int]:
    """Beat: release every hold past its expires_at, in every active tenant.
    Returns {tenant slug: holds expired} for the tenants where any expired."""
    return hold_expire_due_all_tenants()
