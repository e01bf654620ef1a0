from __future__ import annotations

from typing import Any

from django.db import connection

from audit.actors import Actor
from webhooks.models import Event
from zentra_site.context import get_correlation_id


def event_emit(*, type: str, payload: dict[str, Any], actor: Actor | None = None) -> Event:
    """Put one event in the outbox. Must run inside the transaction of the
    change it announces: the event exists if and only if the change does."""
    assert connection.in_atomic_block, "event_emit must run inside the mutating transaction"
    return Event.objects.create(
        type=type, payload=payload, correlation_id=get_correlation_id(), actor_ref=actor.ref if actor else "",
    )


def event_emit_many(*, events: list[tuple[str, dict[str, Any]]], actor: Actor | None = None) -> list[Event]:
    """event_emit for many events at once (batch posting): one INSERT instead
    of one per event. Same contract: inside the mutating transaction."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils import timezone

    assert connection.in_atomic_block, "event_emit_many must run inside the mutating transaction"
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
    return made
