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
