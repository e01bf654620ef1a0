"""Plain-dict views of ledger rows. The posting service stores these bodies
under the idempotency key, so a replay returns byte-for-byte what the first
call returned; the read API uses the same functions so both agree."""
from __future__ import annotations

from typing import Any, Iterable

from ledger.models import Account, Hold, HoldMovement, LedgerEntry, LedgerLine


def iso(dt) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def account_balances(acc: Account, *, posted: int | None = None, pending: int | None = None) -> dict[str, Any]:
    posted = acc.posted_balance if posted is None else posted
    pending = acc.pending_balance if pending is None else pending
    return {"account": acc.code, "account_id": acc.id, "currency": acc.currency,
            "posted": posted, "pending": pending, "available": posted - pending}


def account_body(acc: Account, *, policies: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "id": acc.id, "code": acc.code, "name": acc.name, "currency": acc.currency,
        "normal_side": acc.normal_side, "kind": acc.kind, "status": acc.status, "metadata": acc.metadata,
        "policies": sorted(policies),
        "balances": {"posted": acc.posted_balance, "pending": acc.pending_balance, "available": acc.available_balance},
        "created_at": iso(acc.created_at), "closed_at": iso(acc.closed_at),
    }


def line_body(line: LedgerLine, account: Account) -> dict[str, Any]:
    return {"account": account.code, "account_id": account.id, "side": line.side,
            "amount_minor": line.amount_minor, "currency": line.currency, "balance_after": line.balance_after}


def entry_body(
    entry: LedgerEntry, lines: list[tuple[LedgerLine, Account]], *, tenant: str,
    balances: list[dict[str, Any]] | None = None, event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": entry.id,
        "posting_id": entry.posting_id,
        "object": "ledger_entry",
        "status": "posted",
        "kind": entry.kind,
        "tenant": tenant,
        "idempotency_key": entry.idempotency_key,
        "external_reference": entry.external_reference,
        "source_event": entry.source_event,
        "description": entry.description,
        "effective_at": iso(entry.effective_at),
        "created_at": iso(entry.created_at),
        "metadata": entry.metadata,
        "lines": [line_body(line, acc) for line, acc in lines],
        "actor": entry.actor_ref,
        "correlation_id": entry.correlation_id,
        "policy_decisions": entry.policy_decisions,
        "reversal_of": entry.reversal_of_id,
    }
    if balances is not None:
        body["balances"] = balances
    if event is not None:
        body["event"] = event["type"]
        body["event_id"] = event["id"]
    return body


def hold_body(hold: Hold, *, account: Account, destination: Account | None, tenant: str) -> dict[str, Any]:
    return {
        "id": hold.id,
        "hold_id": hold.hold_id,
        "object": "hold",
        "status": hold.status,
        "tenant": tenant,
        "account": account.code,
        "account_id": account.id,
        "destination": destination.code if destination else None,
        "destination_id": destination.id if destination else None,
        "currency": hold.currency,
        "amount_minor": hold.amount_minor,
        "captured_minor": hold.captured_minor,
        "released_minor": hold.released_minor,
        "remaining_minor": hold.remaining_minor,
        "expires_at": iso(hold.expires_at),
        "idempotency_key": hold.idempotency_key,
        "external_reference": hold.external_reference,
        "description": hold.description,
        "metadata": hold.metadata,
        "actor": hold.actor_ref,
        "correlation_id": hold.correlation_id,
        "policy_decisions": hold.policy_decisions,
        "created_at": iso(hold.created_at),
        "closed_at": iso(hold.closed_at),
    }


def hold_snapshot(hold: Hold) -> dict[str, Any]:
    """The changing part of a hold, for audit before/after."""
    return {"status": hold.status, "amount_minor": hold.amount_minor, "captured_minor": hold.captured_minor,
            "released_minor": hold.released_minor, "remaining_minor": hold.remaining_minor,
            "expires_at": iso(hold.expires_at), "closed_at": iso(hold.closed_at)}


def movement_body(m: HoldMovement) -> dict[str, Any]:
    return {"id": m.id, "kind": m.kind, "amount_minor": m.amount_minor, "pending_delta": m.pending_delta,
            "pending_after": m.pending_after, "entry_id": m.entry_id, "at": iso(m.at)}
