"""How closeout's rows read in API bodies."""
from __future__ import annotations

from typing import Any

from closeout.models import AccountingPeriod, CloseoutSettings, PeriodReopenRequest
from ledger.presenters import iso


def settings_body(s: CloseoutSettings) -> dict[str, Any]:
    return {"period_length": s.period_length, "closed_period_entries": s.closed_period_entries}


def period_body(p: AccountingPeriod) -> dict[str, Any]:
    return {
        "object": "accounting_period", "id": p.public_id, "name": p.name, "start_at": iso(p.start_at),
        "end_at": iso(p.end_at), "status": p.status, "created_by": p.created_by,
        "closing_at": iso(p.closing_at), "closing_by": p.closing_by or None,
        "closed_at": iso(p.closed_at), "closed_by": p.closed_by or None,
        "reopen_count": p.reopen_count, "snapshot_id": p.snapshot_id,
    }


def reopen_body(r: PeriodReopenRequest) -> dict[str, Any]:
    return {"object": "period_reopen_request", "id": r.public_id, "period": r.period.name if r.period_id else None,
            "status": r.status, "reason": r.reason, "requested_by": r.requested_by,
            "requested_at": iso(r.requested_at), "decided_by": r.decided_by or None, "decided_at": iso(r.decided_at),
            "decision_note": r.decision_note}
