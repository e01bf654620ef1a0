"""The beat sweep: which tenants have due deliveries, and one dispatcher
task queued for each (webhooks.dispatch_tenant, which claims and sends in
that tenant's schema: sending.delivery_send_due).

The schedule lives in PostgreSQL (`next_attempt_at`), never in long Celery
countdowns: Redis may lose its queue at any time and nothing is lost, because
the sweep re-derives the work from the rows."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.tasks import task_named
from core.tenancy import active_tenants

log = logging.getLogger("zentra.webhooks")


def delivery_dispatch_due(*, now: datetime | None = None, enqueue: bool = True) -> list[str]:
    """The beat sweep: find the active tenants with claimable deliveries and
    queue one dispatcher task (webhooks.dispatch_tenant) for each, which
    claims and sends in that tenant's schema. Returns those schemas. The
    tasks expire after two sweep periods: a backlog of sweeps never piles up
    in Redis, the next sweep finds the rows again."""
    now = now or timezone.now()
    schemas = sorted(tenant.schema_name for tenant in active_tenants())
    due = _schemas_with_due_work(schemas, now)
    if enqueue and due:
        dispatch_enqueue(schemas=due)
    return due


def dispatch_enqueue(*, schemas: list[str]) -> None:
    """Queue one dispatcher task per schema (after a sweep, or to continue a
    tenant's backlog in parallel). Never raises: the sweep is the safety net."""
    dispatch_tenant = task_named("webhooks.dispatch_tenant")
    expires = timezone.now() + timedelta(seconds=max(5.0, 2 * settings.WEBHOOKS_DISPATCH_INTERVAL))
    try:
        with dispatch_tenant.app.producer_or_acquire() as producer:
            for schema in schemas:
                dispatch_tenant.apply_async(
                    producer=producer, retry=False, headers={"_schema_name": schema}, expires=expires,
                )
    except Exception:  # noqa: BLE001 - Redis down: the rows wait in PostgreSQL for the next sweep
        log.warning("webhook dispatch: could not queue dispatcher tasks for %d schemas", len(schemas), exc_info=True)


def _schemas_with_due_work(schemas: list[str], now: datetime) -> list[str]:
    """Which of these schemas have a claimable delivery: one statement per
    chunk of schemas (each branch is an index probe), so an idle sweep over
    thousands of tenants costs a handful of queries, not thousands."""
    due: list[str] = []
    quote = connection.ops.quote_name
    for i in range(0, len(schemas), 200):
        chunk = schemas[i:i + 200]
        sql = " UNION ALL ".join(
            f"(SELECT %s::text WHERE EXISTS (SELECT 1 FROM {quote(schema)}.webhooks_delivery"
            " WHERE status = 'pending' AND next_attempt_at <= %s AND (leased_until IS NULL OR leased_until <= %s)))"
            for schema in chunk
        )
        params: list[Any] = []
        for schema in chunk:
            params += [schema, now, now]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                due += [row[0] for row in cursor.fetchall()]
        except Exception:  # noqa: BLE001 - e.g. a schema dropped meanwhile: probe this chunk one by one
            log.warning("webhook sweep: chunk probe failed, checking %d schemas one by one", len(chunk))
            due += chunk
    return due
