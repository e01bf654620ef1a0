"""Webhooks' fan-out from the outbox: one delivery per (event, enabled
endpoint subscribed to its type), made by the statement that writes the event
(events.services.Fanout, registered in WebhooksConfig.ready), and a kick of the
tenant's dispatcher once that transaction commits."""
from __future__ import annotations

import functools
import json
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from core.tasks import task_named
from events.services import Fanout
from webhooks.models import Delivery, WebhookEndpoint


def _deliveries_cte(events: str, patterns: str) -> str:
    """The fan-out, the one place deliveries are made: CTE `dl`, one delivery
    per (event, enabled endpoint subscribed to its type), as the endpoints
    stand in the emitting transaction. `events`: FROM items giving each new
    event as `ev` (id, created_at); `patterns`: the subscription patterns
    that select its type (events.types.patterns_matching), an SQL expression.
    The other columns take the model's defaults (%(dl)s, _delivery_defaults_json).

    The delivery's public id is time-ordered like core.ids'
    (the event's millisecond, a version 7 nibble, then uuid4's random digits
    and variant), so its unique index takes inserts at its right edge."""
    dl, ep = Delivery._meta.db_table, WebhookEndpoint._meta.db_table
    defaults = _delivery_default_fields()
    public_id = ("'dlv_' || lpad(to_hex(floor(extract(epoch FROM ev.created_at) * 1000)::bigint), 12, '0') || '7' "
                 "|| substr(replace(gen_random_uuid()::text, '-', ''), 14)")
    return (
        f"dl AS (INSERT INTO {dl} (public_id, event_id, endpoint_id, next_attempt_at, created_at, {', '.join(defaults)}) "
        f"SELECT {public_id}, ev.id, ep.id, ev.created_at, ev.created_at, {', '.join('d.' + c for c in defaults)} "
        f"FROM {events}, {ep} ep, jsonb_populate_record(NULL::{dl}, %(dl)s::jsonb) d "
        f"WHERE ep.enabled AND ep.event_types && {patterns} RETURNING 1)"
    )


@functools.cache
def _delivery_default_fields() -> tuple[str, ...]:
    special = {"id", "public_id", "event", "endpoint", "next_attempt_at", "created_at"}
    return tuple(f.column for f in Delivery._meta.concrete_fields if f.name not in special)


@functools.cache
def _delivery_defaults_json() -> str:
    """A fresh delivery's other columns with the model's own defaults, so a
    field added to Delivery is filled here the way the ORM would fill it."""
    fields = {f.column: f for f in Delivery._meta.concrete_fields}
    return json.dumps({c: fields[c].get_prep_value(fields[c].get_default()) for c in _delivery_default_fields()},
                      default=str)


def _params() -> dict[str, Any]:
    return {"dl": _delivery_defaults_json()}


def _kick_for(schema_name: str):
    """The on-commit callback; the schema is captured at emit time so the
    dispatcher runs for the emitting tenant whatever the connection does later."""

    def kick_webhook_dispatcher() -> None:
        # retry=False: with Redis down this must fail fast (the beat sweep
        # finds the rows), not hold up a request that has already committed.
        task_named("webhooks.dispatch_tenant").apply_async(retry=False, headers={"_schema_name": schema_name})

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


DELIVERIES = Fanout(cte=_deliveries_cte, params=_params, made=dispatch_kick_on_commit)
