from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from webhooks import errors
from webhooks.event_types import TYPE_NAME, patterns_matching
from webhooks.models import Delivery, Event, WebhookEndpoint, new_event_id
from core.context import get_correlation_id
from core.db import hot_execute, json_compact, pg_array

log = logging.getLogger("zentra.webhooks")


def event_emit(*, type: str, payload: dict[str, Any], actor: Actor | None = None) -> Event:
    """Put one event in the outbox and create its deliveries. Must run inside
    the transaction of the change it announces: the event and its deliveries
    exist if and only if the change does, so nothing can be lost between
    commit and dispatch. One statement (event_cte)."""
    assert connection.in_atomic_block, "event_emit must run inside the mutating transaction"
    cte, params, row = event_cte(type=type, payload=payload, actor=actor)
    with hot_execute(f"WITH {cte} SELECT (SELECT id FROM ev), (SELECT count(*) FROM dl)", params) as cur:
        event_id, delivered_to = cur.fetchone()
    if delivered_to:
        dispatch_kick_on_commit()
    event = Event(id=event_id, **row._asdict())
    event._state.adding = False
    return event


class EventRow(NamedTuple):
    """An outbox row as event_cte stores it (id assigned by the INSERT)."""

    public_id: str
    type: str
    payload: dict[str, Any]
    correlation_id: str
    actor_ref: str
    created_at: datetime


def event_cte(*, type: str, payload: dict[str, Any], actor: Actor | None = None,
              payload_json: str | None = None, payload_sql: str | None = None,
              from_sql: str | None = None) -> tuple[str, dict[str, Any], EventRow]:
    """The outbox write as two CTE parts, `ev` (the event) and `dl` (one
    delivery per enabled endpoint subscribed to the type, as the endpoints
    stand in this transaction), for a caller that folds them into its own
    statement. The caller runs it inside the mutating transaction and calls
    dispatch_kick_on_commit() when `dl` inserted rows. `payload_json` is the
    payload already serialized, when the caller has it; the statement can
    read the stored payload back as `(SELECT payload FROM ev)`. `payload_sql`:
    the payload as an SQL expression over the caller's own CTEs instead
    (`payload` is then only checked for size); `from_sql`, a CTE of the
    caller's that the event row joins (no event when it has no row).

    The row travels as one JSON document: few parameters and a short,
    constant statement text, which psycopg caches and prepares.
    Returns (sql, params, the EventRow as it will be stored; id unset)."""
    if not TYPE_NAME.match(type):
        raise ValueError(f"event type {type!r} is not a dotted lowercase name")
    if payload_json is None:
        payload_json = json_compact(payload)
    _payload_check(payload, size=len(payload_json.encode()))
    # A plain row, not a model instance: this runs once per posting.
    event = EventRow(public_id=new_event_id(), type=type, payload=payload, correlation_id=get_correlation_id(),
                     actor_ref=actor.ref if actor else "", created_at=timezone.now())
    row = {"public_id": event.public_id, "type": type, "correlation_id": event.correlation_id,
           "actor_ref": event.actor_ref, "created_at": event.created_at.isoformat()}
    row_json = json_compact(row)
    params = {"ev": row_json if payload_sql else '{"payload":' + payload_json + "," + row_json[1:],
              "dl": _delivery_defaults_json(), "ev_patterns": _patterns_param(type)}
    return _event_cte_sql(payload_sql, from_sql), params, event


@functools.cache
def _event_cte_sql(payload_sql: str | None = None, from_sql: str | None = None) -> str:
    ev = Event._meta.db_table
    joined = f", {from_sql}" if from_sql else ""
    return (
        f"ev AS (INSERT INTO {ev} (public_id, type, payload, correlation_id, actor_ref, created_at) "
        f"SELECT r.public_id, r.type, {payload_sql or 'r.payload'}, r.correlation_id, r.actor_ref, r.created_at "
        f"FROM jsonb_populate_record(NULL::{ev}, %(ev)s::jsonb) AS r{joined} RETURNING id, created_at, payload), "
        + _deliveries_cte(events="ev", patterns="%(ev_patterns)s::varchar[]")
    )


def _deliveries_cte(*, events: str, patterns: str) -> str:
    """The fan-out, the one place deliveries are made: CTE `dl`, one delivery
    per (event, enabled endpoint subscribed to its type), as the endpoints
    stand in the emitting transaction. `events`: FROM items giving each new
    event as `ev` (id, created_at); `patterns`: the subscription patterns
    that select its type (patterns_matching), an SQL expression. The other
    columns take the model's defaults (%(dl)s, _delivery_defaults_json).

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
def _patterns_param(event_type: str) -> str:
    """patterns_matching(event_type) as an array literal, once per type."""
    return pg_array(patterns_matching(event_type))


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


def _payload_check(payload: dict[str, Any], *, size: int | None = None) -> None:
    if size is None:
        size = len(json.dumps(payload, separators=(",", ":"), default=str).encode())
    if size > settings.WEBHOOKS_MAX_PAYLOAD_BYTES:
        raise errors.EventPayloadTooLarge(
            f"The event payload is {size} bytes; the limit is {settings.WEBHOOKS_MAX_PAYLOAD_BYTES} bytes.",
            size=size, limit=settings.WEBHOOKS_MAX_PAYLOAD_BYTES,
        )


@functools.cache
def _emit_many_sql() -> str:
    return (
        "WITH x AS MATERIALIZED (SELECT * FROM ROWS FROM (jsonb_to_recordset(%(rows)s::jsonb) AS "
        "(public_id text, type text, payload jsonb, patterns varchar[])) WITH ORDINALITY AS x(public_id, type, "
        "payload, patterns, n)), "
        f"ev AS (INSERT INTO {Event._meta.db_table} (public_id, type, payload, correlation_id, actor_ref, created_at) "
        "SELECT x.public_id, x.type, x.payload, %(cid)s, %(actor_ref)s, %(now)s FROM x ORDER BY x.n "
        "RETURNING public_id, id, created_at), "
        + _deliveries_cte(events="ev JOIN x ON x.public_id = ev.public_id", patterns="x.patterns")
        + " SELECT public_id, id, (SELECT count(*) FROM dl) FROM ev"
    )


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
    # element in Python and parsed twice on the server. The same statement
    # makes the deliveries (_deliveries_cte, as event_emit's does).
    rows = json.dumps([{"public_id": e.public_id, "type": e.type, "payload": e.payload,
                        "patterns": patterns_matching(e.type)} for e in made], cls=DjangoJSONEncoder)
    with connection.cursor() as cur:
        cur.execute(_emit_many_sql(),
                    {"rows": rows, "cid": cid, "actor_ref": actor_ref, "now": now, "dl": _delivery_defaults_json()})
        found = cur.fetchall()
    ids = {public_id: id_ for public_id, id_, _ in found}
    for event in made:
        event.id = ids[event.public_id]
    if found and found[0][2]:
        dispatch_kick_on_commit()
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
