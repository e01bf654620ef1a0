"""Celery entry points. Each only calls a service; the rows in PostgreSQL are
the source of truth, so any of these messages may be lost or run twice."""
from celery import shared_task

from webhooks.services.deliveries import delivery_attempt, delivery_claim_due, delivery_dispatch_due


@shared_task(name="webhooks.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat, every second or so: every active tenant."""
    return delivery_dispatch_due()


@shared_task(name="webhooks.dispatch_tenant", ignore_result=True)
def dispatch_tenant() -> int:
    """The on-commit kick: runs in the emitting tenant's schema."""
    return len(delivery_claim_due())


@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver(delivery_id: int, claim_seq: int) -> None:
    delivery_attempt(delivery_id=delivery_id, claim_seq=claim_seq)
