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
    _payload_check(payload)
    event = Event.objects.create(
        type=type, payload=payload, correlation_id=get_correlation_id(), actor_ref=actor.ref if actor else "",
    )
    _fan_out([event])
    return event


def _payload_check(payload: dict[str, Any]) -> None:
    size = len(json.dumps(payload, separators=(",", ":"), default=str).encode())
    if size > settings.WEBHOOKS_MAX_PAYLOAD_BYTES:
        raise errors.EventPayloadTooLarge(
            f"The event payload is {size} bytes; the limit is {settings.WEBHOOKS_MAX_PAYLOAD_BYTES} bytes.",
            size=size, limit=settings.WEBHOOKS_MAX_PAYLOAD_BYTES,
        )


def _fan_out(events: list[Event]) -> None:
    """One delivery per (event, enabled endpoint subscribed to its type), in
    the emitting transaction; one endpoint query per distinct event type."""
    by_type: dict[str, list[int]] = {}
    deliveries: list[Delivery] = []
    now = timezone.now()
    for event in events:
        if event.type not in by_type:
            by_type[event.type] = list(
                WebhookEndpoint.objects.filter(enabled=True, event_types__overlap=patterns_matching(event.type))
                .values_list("id", flat=True)
            )
        deliveries.extend(Delivery(event=event, endpoint_id=eid, next_attempt_at=now) for eid in by_type[event.type])
    if deliveries:
        Delivery.objects.bulk_create(deliveries)
        dispatch_kick_on_commit()


def event_emit_many(*, events: list[tuple[str, dict[str, Any]]], actor: Actor | None = None) -> list[Event]:
    """event_emit for many events at once (batch posting): one INSERT for the
    events instead of one per event, and the same fan-out to webhook
    deliveries. Same contract: inside the mutating transaction."""
    from django.core.serializers.json import DjangoJSONEncoder

    assert connection.in_atomic_block, "event_emit_many must run inside the mutating transaction"
    for type_, payload in events:
        if not TYPE_NAME.match(type_):
            raise ValueError(f"event type {type_!r} is not a dotted lowercase name")
        _payload_check(payload)
    cid, actor_ref, now = get_correlation_id(), actor.ref if actor else "", timezone.now()
    made = [Event(type=type_, payload=payload, correlation_id=cid, actor_ref=actor_ref, created_at=now)
            for type_, payload in events]
    # One JSON document for all rows: PostgreSQL parses it once in C, where
    # a jsonb[] parameter (Django's UNNEST bulk insert) is escaped element by
    # element in Python and parsed twice on the server.
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {Event._meta.db_table} (public_id, type, payload, correlation_id, actor_ref, created_at) "
            "SELECT x.public_id, x.type, x.payload, %s, %s, %s "
            "FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (public_id text, type text, payload jsonb)) "
            "WITH ORDINALITY AS x(public_id, type, payload, n) ORDER BY x.n RETURNING public_id, id",
            [cid, actor_ref, now, json.dumps([{"public_id": e.public_id, "type": e.type, "payload": e.payload}
                                              for e in made], cls=DjangoJSONEncoder)],
        )
        ids = dict(cur.fetchall())
    for event in made:
        event.id = ids[event.public_id]
    _fan_out(made)
    return made


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
