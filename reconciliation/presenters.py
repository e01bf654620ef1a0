"""Plain-dict views of runs and items, shared by the API, audit rows and events."""
from __future__ import annotations

from typing import Any

from ledger.presenters import iso

from .models import ItemKind, ReconciliationItem, ReconciliationRun


def run_counts(run: ReconciliationRun) -> dict[str, int]:
    return {kind: int((run.counts or {}).get(kind, 0)) for kind in ItemKind.values}


def run_summary(run: ReconciliationRun) -> dict[str, Any]:
    return {"id": run.pk, "status": run.status, "format": run.format, "account_id": run.account_id,
            "file_sha256": run.file_sha256, "lines_total": run.lines_total}


def run_body(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "object": "reconciliation",
        "status": run.status,
        "account": run.account.code,
        "account_id": run.account_id,
        "currency": run.account.currency,
        "format": run.format,
        "amount_basis": run.amount_basis or None,
        "file_name": run.file_name,
        "file_sha256": run.file_sha256,
        "file_size": run.file_size,
        "date_window_days": run.date_window_days,
        "period_start": iso(run.period_start),
        "period_end": iso(run.period_end),
        "lines_total": run.lines_total,
        "lines_processed": run.lines_processed,
        "counts": run_counts(run),
        "totals": run.totals or [],
        "error": run.error,
        "rerun_of": run.rerun_of_id,
        "attempts": run.attempts,
        "reimport_count": run.reimport_count,
        "actor": run.actor_ref,
        "correlation_id": run.correlation_id,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
    }


def item_body(item: ReconciliationItem) -> dict[str, Any]:
    statement = None
    if item.line_no is not None:
        statement = {
            "line": item.line_no, "reference": item.reference, "amount_minor": item.statement_amount,
            "currency": item.statement_currency, "booked_at": iso(item.booked_at),
            "description": item.description, "details": item.statement_details,
        }
    ledger = None
    if item.entry_id is not None:
        ledger = {
            "entry_id": item.entry_id, "posting_id": item.entry.posting_id,
            "external_reference": item.entry.external_reference, "amount_minor": item.ledger_amount,
            "currency": item.ledger_currency, "effective_at": iso(item.effective_at),
        }
    return {
        "id": item.pk,
        "object": "reconciliation_item",
        "reconciliation": item.run_id,
        "kind": item.kind,
        "status": item.status,
        "match_rule": item.match_rule or None,
        "statement": statement,
        "ledger": ledger,
        "difference_minor": item.difference,
        "duplicate_of_line": item.duplicate_of_line,
        "resolution": {
            "note": item.note,
            "adjusting_entry_id": item.adjusting_entry_id,
            "adjusting_posting_id": item.adjusting_entry.posting_id if item.adjusting_entry_id else None,
            "resolved_by": item.resolved_by or None,
            "resolved_at": iso(item.resolved_at),
            "carried_from_item": item.carried_from_id,
            "rejected_attempts": item.adjust_attempts,
        },
    }
