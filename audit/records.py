"""The audit app's own registrations: audit events are sealed into the chain
and exportable as CSV. Other apps register theirs the same way."""
from __future__ import annotations

from django.db.models import Func, TextField
from django.db.models.functions import Cast

from audit.chain import canonical_time, register_sealable
from audit.exports import ExportKind, register_export_kind
from audit.filters import AuditEventFilters
from audit.models import AuditEvent
from audit.selectors import audit_events_filter

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


JSON_COLUMNS = ("before", "after", "policy_context", "metadata")


class UtcText(Func):
    """timestamptz -> the canonical_time() spelling, formatted by PostgreSQL
    (parsing to datetime and formatting back costs more than the CSV write)."""

    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    output_field = TextField()


def audit_events_for_export(filters: dict):
    """Tuples of text and ints straight from PostgreSQL (JSON columns as
    jsonb's text form, deterministic for a stored value): no model instances
    and no JSON parse/re-dump per row, which was most of an export's CPU."""
    texts = {f"{c}_text": Cast(c, TextField()) for c in JSON_COLUMNS}
    names = [f"{c}_text" if c in JSON_COLUMNS or c == "occurred_at" else c for c in AUDIT_EVENT_COLUMNS]
    return (audit_events_filter(filters=filters).annotate(occurred_at_text=UtcText("occurred_at"), **texts)
            .values_list(*names))


def audit_event_row(row: tuple) -> tuple:
    return row


def register() -> None:
    register_sealable("audit_event", AuditEvent, audit_event_canonical, time_field="occurred_at")
    register_export_kind(ExportKind(
        name="audit_events", columns=AUDIT_EVENT_COLUMNS, filters=AuditEventFilters,
        queryset=audit_events_for_export, row=audit_event_row, record_type="audit_event", scope="audit:read",
    ))
