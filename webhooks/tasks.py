"""Celery entry points. Each only calls a service; the rows in PostgreSQL are
the source of truth, so any of these messages may be lost or run twice."""
from celery import shared_task
from django.db import connection

from webhooks.services.dispatch import delivery_dispatch_due, dispatch_enqueue
from webhooks.services.sending import delivery_send_due


@shared_task(name="webhooks.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat, every second or so: queue a dispatcher for every active tenant
    with due deliveries."""
    return len(delivery_dispatch_due())


@shared_task(name="webhooks.dispatch_tenant", ignore_result=True)
def dispatch_tenant() -> int:
    """The dispatcher, in the tenant's schema (the on-commit kick, the sweep,
    or a sibling): claim a batch of due deliveries and send it. A full batch
    queues one sibling first, so every worker process can help with a
    backlog while no task ever holds more than one batch."""
    schema = connection.schema_name
    return delivery_send_due(on_full=lambda: dispatch_enqueue(schemas=[schema])).claimed

