"""The audit app's own registrations: audit events are sealed into the chain
and exportable as CSV. Other apps register theirs the same way."""
from __future__ import annotations

from audit.chain import canonical_time, register_sealable
from audit.exports import ExportKind, register_export_kind
from audit.filters import AuditEventFilters
from audit.models import AuditEvent

AUDIT_EVENT_FIELDS = (
    "occurred_at", "actor_kind", "actor_ref", "action", "target_type", "target_id", "before", "after",
    "policy_context", "correlation_id", "ip", "user_agent", "metadata",
)


def audit_event_canonical(event: AuditEvent) -> dict:
    # Every stored column: a change to any byte of the row changes the hash.
    content = {name: getattr(event, name) for name in AUDIT_EVENT_FIELDS}
    content["occurred_at"] = canonical_time(event.occurred_at)
    return content


AUDIT_EVENT_COLUMNS = ("id",) + AUDIT_EVENT_FIELDS[:6] + ("correlation_id", "ip", "user_agent", "before", "after",
                                                         "policy_context", "metadata")


def audit_events_for_export(filters: dict):
    from audit.selectors import audit_events_filter

    return audit_events_filter(filters=filters)


def audit_event_row(event: AuditEvent) -> tuple:
    return tuple(getattr(event, "pk" if c == "id" else c) for c in AUDIT_EVENT_COLUMNS)


def register() -> None:
    register_sealable("audit_event", AuditEvent, audit_event_canonical, time_field="occurred_at")
    register_export_kind(ExportKind(
        name="audit_events", columns=AUDIT_EVENT_COLUMNS, filters=AuditEventFilters,
        queryset=audit_events_for_export, row=audit_event_row, record_type="audit_event", scope="audit:read",
    ))
