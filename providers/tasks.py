"""Celery entry points; each only calls a service. Rows in PostgreSQL are the
source of truth, so any message may be lost (the sweep finds the row) or run
twice (applying is idempotent)."""
from celery import shared_task

from core import errors
from providers.services.inbound import inbound_apply, inbound_rejected_purge_all, inbound_retry_waiting, inbound_sweep_all


@shared_task(name="providers.apply", ignore_result=True)
def apply(delivery_id: int) -> None:
    """Runs in the receiving tenant's schema (tenant-schemas-celery)."""
    try:
        inbound_apply(delivery_id=delivery_id)
    except errors.IdempotencyKeyInUse:
        pass  # another delivery of the event is still posting; the sweep comes back to this one


@shared_task(name="providers.retry_waiting", ignore_result=True)
def retry_waiting(provider_id: int, reference: str) -> int:
    return inbound_retry_waiting(provider_id=provider_id, reference=reference)


@shared_task(name="providers.sweep", ignore_result=True)
def sweep() -> dict:
    """Beat: every tenant's received-but-unapplied and due waiting deliveries."""
    return inbound_sweep_all()


@shared_task(name="providers.purge_rejected", ignore_result=True)
def purge_rejected() -> dict:
    """Beat: rejected deliveries past ZENTRA_INBOUND_REJECTED_RETENTION_DAYS, every tenant."""
    return inbound_rejected_purge_all()
