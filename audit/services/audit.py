from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.utils import timezone

from core.actors import Actor
from audit.models import AuditEvent
from core.context import get_correlation_id
from core.db import hot_execute, json_compact


def audit_record(
    *, actor: Actor, action: str, target_type: str, target_id: str | int,
    before: Any = None, after: Any = None, policy_context: Any = None, metadata: dict | None = None,
) -> AuditEvent:
    """Write one audit event. Call it inside the service's transaction, so the
    evidence commits (or rolls back) with the change it describes."""
    assert connection.in_atomic_block, "audit_record must run inside the mutating transaction"
    cte, params, row = audit_cte(actor=actor, action=action, target_type=target_type, target_id=target_id,
                                 before=before, after=after, policy_context=policy_context, metadata=metadata)
    with hot_execute(f"WITH {cte} SELECT id FROM au", params) as cur:
        event = AuditEvent(id=cur.fetchone()[0], **row)
    event._state.adding = False
    return event


_AUDIT_COLUMNS = ("occurred_at", "actor_kind", "actor_ref", "action", "target_type", "target_id", "before", "after",
                  "policy_context", "correlation_id", "ip", "user_agent", "metadata")


def audit_cte(
    *, actor: Actor, action: str, target_type: str, target_id: str | int,
    before: Any = None, after: Any = None, policy_context: Any = None, metadata: dict | None = None,
    policy_context_sql: str | None = None, target_id_sql: str | None = None, from_sql: str | None = None,
) -> tuple[str, dict[str, Any], AuditEvent]:
    """audit_record as a CTE part named `au`, for a service that writes its
    change, its event and its evidence in one statement. The row travels as
    one JSON document (`%(au)s`); `policy_context_sql` and `target_id_sql`
    let the caller pass those columns as SQL expressions over its own
    parameters or CTEs instead, and `from_sql` names a CTE the row joins
    (no row when it has none: the one-statement posting's entry, say).
    Returns (sql, params, the row as stored, column -> value; id unset)."""
    # A plain dict, not a model instance: this runs once per posting.
    event = {"occurred_at": timezone.now(), "actor_kind": actor.kind, "actor_ref": actor.ref, "action": action,
             "target_type": target_type, "target_id": str(target_id), "before": before, "after": after,
             "policy_context": policy_context, "correlation_id": get_correlation_id(), "ip": actor.ip,
             "user_agent": actor.user_agent, "metadata": metadata or {}}
    row = dict(event, occurred_at=event["occurred_at"].isoformat())
    if policy_context_sql:
        row.pop("policy_context")
    if target_id_sql:
        row.pop("target_id")
    # Absent JSON must be SQL NULL, not jsonb 'null': drop the key.
    row = {k: v for k, v in row.items() if v is not None}
    sql = _audit_cte_sql(policy_context_sql, target_id_sql, from_sql)
    return sql, {"au": json_compact(row)}, event


@functools.cache
def _audit_cte_sql(policy_context_sql: str | None, target_id_sql: str | None = None,
                   from_sql: str | None = None) -> str:
    table = AuditEvent._meta.db_table
    given = {"policy_context": policy_context_sql, "target_id": target_id_sql}
    select = ", ".join(given.get(c) or f"r.{c}" for c in _AUDIT_COLUMNS)
    joined = f", {from_sql}" if from_sql else ""
    return (f"au AS (INSERT INTO {table} ({', '.join(_AUDIT_COLUMNS)}) SELECT {select} "
            f"FROM jsonb_populate_record(NULL::{table}, %(au)s::jsonb) AS r{joined} RETURNING id)")


def audit_record_many(*, actor: Actor, records: list[dict[str, Any]]) -> int:
    """audit_record for many events by one actor (batch posting), in one
    INSERT. Each record holds audit_record's other keyword arguments.

    The rows travel as one JSON document that PostgreSQL parses once in C; a
    bulk_create would send each JSON column as a jsonb[] array, escaped
    element by element in Python (seconds for a 1000-entry batch)."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils import timezone

    assert connection.in_atomic_block, "audit_record_many must run inside the mutating transaction"
    rows = []
    for r in records:
        # Absent keys become SQL NULL (a JSON null would be stored as jsonb 'null').
        row = {"action": r["action"], "target_type": r["target_type"], "target_id": str(r["target_id"]),
               "metadata": r.get("metadata") or {}}
        row.update({k: r[k] for k in ("before", "after", "policy_context") if r.get(k) is not None})
        rows.append(row)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor_kind, actor_ref, action, target_type, "
            "target_id, before, after, policy_context, correlation_id, ip, user_agent, metadata) "
            "SELECT %s, %s, %s, x.action, x.target_type, x.target_id, x.before, x.after, x.policy_context, %s, "
            "%s::inet, %s, x.metadata FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (action text, "
            "target_type text, target_id text, before jsonb, after jsonb, policy_context jsonb, metadata jsonb)) "
            "WITH ORDINALITY AS x(action, target_type, target_id, before, after, policy_context, metadata, n) "
            "ORDER BY x.n",
            [timezone.now(), actor.kind, actor.ref, get_correlation_id(), actor.ip, actor.user_agent,
             json.dumps(rows, cls=DjangoJSONEncoder)],
        )
        return cur.rowcount
