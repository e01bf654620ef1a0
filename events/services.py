"""event_emit: the outbox write, in the transaction of the change it announces.

What happens to an event afterwards is not this layer's business: an app
that delivers events registers a fan-out (`fanout_register`), a CTE that
event_emit runs in the same statement as the event's INSERT, so the event and
whatever it fans out to exist if and only if the change does. Webhooks
registers the one Zentra has (webhooks.services.fanout) when it loads.
"""
from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Any, Callable, NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from core.actors import Actor
from core.context import get_correlation_id
from core.db import hot_execute, json_compact, pg_array
from events import errors
from events.models import Event, new_event_id
from events.types import TYPE_NAME, patterns_matching

log = logging.getLogger("zentra.events")


class Fanout(NamedTuple):
    """What an outbox reader adds to each emitting statement.

    cte(events, patterns): a CTE named `dl` inserting its rows for the new
      events (`events`: FROM items giving each as `ev` with id and
      created_at; `patterns`: an SQL expression, the subscription patterns
      that select its type) and RETURNING one row per row made;
    params(): the parameters that CTE names;
    made(): called in the emitting transaction when `dl` made rows."""

    cte: Callable[[str, str], str]
    params: Callable[[], dict[str, Any]]
    made: Callable[[], None]


_NO_FANOUT = Fanout(cte=lambda events, patterns: "dl AS (SELECT 1 WHERE false)", params=dict, made=lambda: None)
_fanout = _NO_FANOUT


def fanout_register(fanout: Fanout) -> None:
    """Called once, from the delivering app's AppConfig.ready()."""
    global _fanout
    _fanout = fanout
    _event_cte_sql.cache_clear()
    _emit_many_sql.cache_clear()


def fanout_made() -> None:
    """For a caller that ran event_cte in its own statement and found `dl`
    made rows: what event_emit does itself."""
    _fanout.made()


def event_emit(*, type: str, payload: dict[str, Any], actor: Actor | None = None) -> Event:
    """Put one event in the outbox (and its fan-out). Must run inside the
    transaction of the change it announces. One statement (event_cte)."""
    assert connection.in_atomic_block, "event_emit must run inside the mutating transaction"
    cte, params, row = event_cte(type=type, payload=payload, actor=actor)
    with hot_execute(f"WITH {cte} SELECT (SELECT id FROM ev), (SELECT count(*) FROM dl)", params) as cur:
        event_id, fanned_out = cur.fetchone()
    if fanned_out:
        fanout_made()
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
    """The outbox write as two CTE parts, `ev` (the event) and `dl` (the
    registered fan-out), for a caller that folds them into its own
    statement. The caller runs it inside the mutating transaction and calls
    fanout_made() when `dl` inserted rows. `payload_json` is the payload
    already serialized, when the caller has it; the statement can read the
    stored payload back as `(SELECT payload FROM ev)`. `payload_sql`: the
    payload as an SQL expression over the caller's own CTEs instead
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
              "ev_patterns": _patterns_param(type), **_fanout.params()}
    return _event_cte_sql(payload_sql, from_sql), params, event


@functools.cache
def _event_cte_sql(payload_sql: str | None = None, from_sql: str | None = None) -> str:
    ev = Event._meta.db_table
    joined = f", {from_sql}" if from_sql else ""
    return (
        f"ev AS (INSERT INTO {ev} (public_id, type, payload, correlation_id, actor_ref, created_at) "
        f"SELECT r.public_id, r.type, {payload_sql or 'r.payload'}, r.correlation_id, r.actor_ref, r.created_at "
        f"FROM jsonb_populate_record(NULL::{ev}, %(ev)s::jsonb) AS r{joined} RETURNING id, created_at, payload), "
        + _fanout.cte("ev", "%(ev_patterns)s::varchar[]")
    )


@functools.cache
def _patterns_param(event_type: str) -> str:
    """patterns_matching(event_type) as an array literal, once per type."""
    return pg_array(patterns_matching(event_type))


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
        + _fanout.cte("ev JOIN x ON x.public_id = ev.public_id", "x.patterns")
        + " SELECT public_id, id, (SELECT count(*) FROM dl) FROM ev"
    )


def event_emit_many(*, events: list[tuple[str, dict[str, Any]]], actor: Actor | None = None) -> list[Event]:
    """event_emit for many events at once (batch posting): one INSERT for the
    events instead of one per event, and the same fan-out. Same contract:
    inside the mutating transaction."""
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
    rows = json.dumps([{"public_id": e.public_id, "type": e.type, "payload": e.payload,
                        "patterns": patterns_matching(e.type)} for e in made], cls=DjangoJSONEncoder)
    with connection.cursor() as cur:
        cur.execute(_emit_many_sql(), {"rows": rows, "cid": cid, "actor_ref": actor_ref, "now": now,
                                       **_fanout.params()})
        found = cur.fetchall()
    ids = {public_id: id_ for public_id, id_, _ in found}
    for event in made:
        event.id = ids[event.public_id]
    if found and found[0][2]:
        fanout_made()
    return made
