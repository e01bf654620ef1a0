"""Reversals: corrections are new entries that mirror an old one.

Partial reversals stay exact: a reversal of `amount_minor` scales every line
of the original by amount / total, and is refused (partial_reversal_inexact)
unless every scaled line is a whole number of minor units. Two-line entries
(the common case) always scale exactly. Reversals are measured against the
original's total debits, in its single currency (multi-currency entries can
only be reversed in full). A reversal without an amount reverses whatever is
left, so partial reversals followed by a full one add up to the original.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.actors import Actor
from ledger import errors
from ledger.locks import lock_entry
from ledger.models import EntryKind, LedgerEntry, LedgerLine, Side
from ledger.services.boundary import BoundaryOutcome, Posted, boundary_run
from ledger.posting.rules import LineSpec, lines_validate
from ledger.posting.post import entry_write, rejection_record

MAX_MINOR = 2**63 - 1

# (account_id, side of the original line, currency)
Group = tuple[int, str, str]
# What entry_reverse refuses because of the entry's state (not the request's form).
REVERSAL_REFUSALS = (errors.EntryNotFound, errors.EntryAlreadyReversed, errors.ReversalExceedsOriginal,
                     errors.PartialReversalInexact, errors.PartialReversalUnsupported, errors.CannotReverseReversal)


def _flip(side: str) -> str:
    return Side.CREDIT if side == Side.DEBIT else Side.DEBIT


def reversal_state(entry: LedgerEntry) -> dict[str, Any]:
    """What the entry moved and how much of it reversals have undone, per
    (account, side, currency), in line order of the original."""
    original: dict[Group, int] = {}
    for account_id, side, currency, amount in (
        LedgerLine.objects.filter(entry=entry).order_by("id").values_list("account_id", "side", "currency", "amount_minor")
    ):
        original[(account_id, side, currency)] = original.get((account_id, side, currency), 0) + amount
    reversed_: dict[Group, int] = defaultdict(int)
    for account_id, side, currency, amount in (
        LedgerLine.objects.filter(entry__reversal_of=entry).values_list("account_id", "side", "currency", "amount_minor")
    ):
        reversed_[(account_id, _flip(side), currency)] += amount
    currencies = sorted({g[2] for g in original})
    total = sum(a for g, a in original.items() if g[1] == Side.DEBIT)
    done = sum(a for g, a in reversed_.items() if g[1] == Side.DEBIT)
    return {"original": original, "reversed": dict(reversed_), "currencies": currencies,
            "total_minor": total, "reversed_minor": done, "remaining_minor": total - done}


def entry_reverse(
    *, actor: Actor, tenant: str, entry_id: int, idempotency_key: str, req_hash: str,
    amount_minor: int | None = None, external_reference: str = "", description: str = "",
    metadata: dict[str, Any] | None = None,
) -> BoundaryOutcome:
    """Post the mirror of entry `entry_id` (all that remains of it, or
    `amount_minor` of it), linked by reversal_of. Concurrent reversals of one
    entry queue on its row lock, so their sum never exceeds it; the
    ledgerentry_reversal_bounded trigger re-checks that at commit."""
    if amount_minor is not None and (type(amount_minor) is not int or not (0 < amount_minor <= MAX_MINOR)):
        raise errors.InvalidAmount(field="amount_minor")

    def work() -> Posted:
        original = lock_entry(entry_id)
        if original is None:
            raise errors.EntryNotFound(f"No ledger entry '{entry_id}'.")
        if original.kind == EntryKind.REVERSAL:
            raise errors.CannotReverseReversal(
                f"Entry {original.posting_id} is itself a reversal; post a new entry to undo it.",
                entry_id=original.id)
        state = reversal_state(original)
        remaining, total = state["remaining_minor"], state["total_minor"]
        if remaining == 0:
            raise errors.EntryAlreadyReversed(f"Entry {original.posting_id} is already fully reversed.",
                                              entry_id=original.id, reversed_minor=state["reversed_minor"])
        if amount_minor is None:
            # Whatever is left, group by group: exact, since every earlier
            # partial reversal was an exact scaling of every group.
            parts = {g: a - state["reversed"].get(g, 0) for g, a in state["original"].items()}
            amount = remaining
        else:
            if len(state["currencies"]) != 1:
                raise errors.PartialReversalUnsupported(
                    f"Entry {original.posting_id} moves {', '.join(state['currencies'])}; reverse it in full.",
                    entry_id=original.id)
            if amount_minor > remaining:
                raise errors.ReversalExceedsOriginal(
                    f"Entry {original.posting_id} has {remaining} {state['currencies'][0]} left to reverse; "
                    f"{amount_minor} requested.", entry_id=original.id, requested_minor=amount_minor,
                    remaining_minor=remaining, reversed_minor=state["reversed_minor"], total_minor=total)
            parts = {}
            for g, a in state["original"].items():
                scaled, rest = divmod(a * amount_minor, total)
                if rest:
                    raise errors.PartialReversalInexact(
                        f"Reversing {amount_minor} of {total} would move {a} x {amount_minor}/{total} on one line, "
                        "which is not a whole number of minor units; choose an amount that scales every line exactly.",
                        entry_id=original.id, requested_minor=amount_minor, total_minor=total)
                parts[g] = scaled
            amount = amount_minor
        lines = [LineSpec(account=g[0], side=_flip(g[1]), amount_minor=a, currency=g[2])
                 for g, a in parts.items() if a > 0]
        lines_validate(lines)
        reversed_after = state["reversed_minor"] + amount
        summary = {
            "original_id": original.id, "original_posting_id": original.posting_id, "amount_minor": amount,
            "original_total_minor": total, "reversed_total_minor": reversed_after,
            "remaining_minor": total - reversed_after, "fully_reversed": reversed_after == total,
        }
        posted = entry_write(
            actor=actor, tenant=tenant, idempotency_key=idempotency_key, req_hash=req_hash, lines=lines,
            external_reference=external_reference or original.external_reference,
            description=description or f"Reversal of {original.posting_id}",
            metadata={"reversal_of": original.posting_id, **(metadata or {})},
            kind=EntryKind.REVERSAL, reversal_of_id=original.id, operation="ledger_entry.reverse",
            event_type="ledger.entry.reversed", audit_action="ledger_entry.reversed",
            body_extra={"reversal": summary},
        )
        return posted

    def on_rejected(rejection: errors.PolicyRejected) -> None:
        rejection_record(actor=actor, operation="ledger_entry.reverse", idempotency_key=idempotency_key,
                         rejection=rejection, accounts=sorted(
                             {d["account"] for d in rejection.extra.get("decisions") or [] if d.get("account")}))

    return boundary_run(key=idempotency_key, operation="ledger_entry.reverse", req_hash=req_hash, actor=actor,
                        work=work, on_rejected=on_rejected)
