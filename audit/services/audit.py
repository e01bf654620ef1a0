from __future__ import annotations

from typing import Any

from django.db import connection

from audit.actors import Actor
from audit.models import AuditEvent
from zentra_site.context import get_correlation_id


def audit_record(
    *, actor: Actor, action: str, target_type: str, target_id: str | int,
    before: Any = None, after: Any = None, policy_context: Any = None, metadata: dict | None = None,
) -> AuditEvent:
    """Write one audit event. Call it inside the service's transaction, so the
    evidence commits (or rolls back) with the change it describes."""
    assert connection.in_atomic_block, "audit_record must run inside the mutating transaction"
    return AuditEvent.objects.create(
        actor_kind=actor.kind, actor_ref=actor.ref, action=action, target_type=target_type,
        target_id=str(target_id), before=before, after=after, policy_context=policy_context,
        correlation_id=get_correlation_id(), ip=actor.ip, user_agent=actor.user_agent, metadata=metadata or {},
    )
