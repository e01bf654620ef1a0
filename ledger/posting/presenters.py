"""What a posting stores and answers, as data: the entry row (EntryRow),
its lines (LineRow), the JSON documents the statements insert from, and the
response body (the same body is the event's payload and the boundary
record's stored answer)."""
from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from core.db import json_compact
from ledger.presenters import account_balances, entry_body


class EntryRow(NamedTuple):
    """A LedgerEntry row as a posting stores it (see LedgerEntry): no model
    instance, this is the hottest path and the row travels as one JSON
    document anyway."""

    id: int
    posting_id: str
    kind: str
    idempotency_key: str
    request_hash: str
    external_reference: str
    source_event: str
    description: str
    effective_at: dt.datetime
    created_at: dt.datetime
    metadata: dict[str, Any]
    actor_kind: str
    actor_ref: str
    correlation_id: str
    policy_decisions: list[dict[str, Any]]
    reversal_of_id: int | None
    line_count: int


class LineRow(NamedTuple):
    side: str
    amount_minor: int
    currency: str
    balance_after: int


def entry_document(entry: EntryRow, *, with_id: bool = True) -> str:
    """The entry row as the statements' %(e)s. Without its id where the
    statement takes one from the sequence itself."""
    doc = entry._asdict()
    if not with_id:
        del doc["id"]
    doc["effective_at"], doc["created_at"] = entry.effective_at.isoformat(), entry.created_at.isoformat()
    return json_compact(doc)


def lines_document(lines: list[tuple[Any, Any]]) -> str:
    """The lines as the statements' %(l)s, from (line, account) pairs."""
    return json_compact([{"account_id": acc.id, "side": ln.side, "amount_minor": ln.amount_minor,
                          "currency": ln.currency} for ln, acc in lines])


def posting_body(
    entry: EntryRow, rows: list[tuple[LineRow, Any]], *, tenant: str, accounts: dict[int, Any],
    posted: dict[int, int], pending: dict[int, int], body_extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """The answer to a posting: the entry, its lines with their balances
    after, and each account's balances after, in account id order (as the
    one-statement posting answers)."""
    balances = [account_balances(acc, posted=posted[acc_id], pending=pending[acc_id])
                for acc_id, acc in sorted(accounts.items())]
    return entry_body(entry, rows, tenant=tenant, balances=balances) | (body_extra or {})


# What the one-statement posting adds to the body Python built (its id,
# lines and balances), at most, per line or account beside the account's
# code (which an escaping encoder writes in up to six characters each).
ONE_STATEMENT_ITEM_BYTES = 200


def one_statement_body(entry: EntryRow, *, tenant: str) -> dict[str, Any]:
    """The answer as far as it is known before the one-statement posting
    runs: everything but the entry's id, its lines and the balances, which
    the statement adds from the rows it locked and wrote (its `pl`)."""
    body = entry_body(entry, [], tenant=tenant)
    del body["id"], body["lines"]
    return body


def one_statement_size(body_json: str, codes: list[str]) -> int:
    """An upper bound on the one-statement posting's answer, in bytes, for
    `codes`: each line's and each account's code."""
    return len(body_json) + sum(ONE_STATEMENT_ITEM_BYTES + 6 * len(code) for code in codes)
