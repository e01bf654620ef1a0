from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.actors import Actor
from ledger import errors
from webhooks.event_types import TYPE_NAME, patterns_matching
from webhooks.models import Delivery, Event, WebhookEndpoint
from zentra_site.context import get_correlation_id

log = logging.getLogger("zentra.webhooks")


def event_emit(*, type: str, payload: dict[str, Any], actor: Actor | None = None) -> Event:
    """Put one event in the outbox and create its deliveries. Must run inside
    the transaction of the change it announces: the event and its deliveries
    exist if and only if the change does, so nothing can be lost between
    commit and dispatch."""
    assert connection.in_atomic_block, "event_emit must run inside the mutating transaction"
    if not TYPE_NAME.match(type):
        raise ValueError(f"event type {type!r} is not a dotted lowercase name")
    size = len(json.dumps(payload, separators=(",", ":"), default=str).encode())
    if size > settings.WEBHOOKS_MAX_PAYLOAD_BYTES:
        raise errors.EventPayloadTooLarge(
            f"The event payload is {size} bytes; the limit is {settings.WEBHOOKS_MAX_PAYLOAD_BYTES} bytes.",
            size=size, limit=settings.WEBHOOKS_MAX_PAYLOAD_BYTES,
        )
    event = Event.objects.create(
        type=type, payload=payload, correlation_id=get_correlation_id(), actor_ref=actor.ref if actor else "",
    )
    endpoint_ids = list(
        WebhookEndpoint.objects.filter(enabled=True, event_types__overlap=patterns_matching(type))
        .values_list("id", flat=True)
    )
    if endpoint_ids:
        now = timezone.now()
        Delivery.objects.bulk_create(
            [Delivery(event=event, endpoint_id=eid, next_attempt_at=now) for eid in endpoint_ids]
        )
        dispatch_kick_on_commit()
    return event


def _kick_for(schema_name: str):
    """The on-commit callback; the schema is captured at emit time so the
    dispatcher runs for the emitting tenant whatever the connection does later."""

    def kick_webhook_dispatcher() -> None:
        from webhooks.tasks import dispatch_tenant

        # retry=False: with Redis down this must fail fast (the beat sweep
        # finds the rows), not hold up a request that has already committed.
        dispatch_tenant.apply_async(retry=False, headers={"_schema_name": schema_name})

    kick_webhook_dispatcher.zentra_webhooks_kick = True  # type: ignore[attr-defined]
    kick_webhook_dispatcher.schema_name = schema_name  # type: ignore[attr-defined]
    return kick_webhook_dispatcher


def dispatch_kick_on_commit() -> None:
    """Wake the dispatcher for this tenant once the transaction commits, for
    low latency; once per transaction however many events it emitted."""
    if not settings.WEBHOOKS_KICK_ON_COMMIT:
        return
    if any(getattr(entry[1], "zentra_webhooks_kick", False) for entry in connection.run_on_commit):
        return
    transaction.on_commit(_kick_for(connection.schema_name), robust=True)
