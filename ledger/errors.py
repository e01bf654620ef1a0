"""The ledger's typed errors: accounts, entries, policies, approvals, holds,
reversals and batches (stable codes on core.errors.ZentraError)."""
from __future__ import annotations

from typing import Any

from core.db_errors import NUMERIC_OUT_OF_RANGE, sqlstate_maps
from core.errors import ZentraError


class UnknownCurrency(ZentraError):
    status, code, title = 400, "unknown_currency", "The currency is not a known ISO 4217 code"


class InvalidAmount(ZentraError):
    status, code, title = 400, "invalid_amount", "Amounts are integers in minor units, 1..2^63-1"


class UnbalancedEntry(ZentraError):
    status, code, title = 400, "unbalanced_entry", "Debits and credits must balance per currency"


class TooManyLines(ZentraError):
    status, code, title = 400, "too_many_lines", "An entry has at most 500 lines"


class AccountNotFound(ZentraError):
    status, code, title = 400, "account_not_found", "An account named in the request does not exist"


class AccountCodeExists(ZentraError):
    status, code, title = 409, "account_code_exists", "An account with this code already exists"


class CurrencyMismatch(ZentraError):
    status, code, title = 400, "currency_mismatch", "A line's currency differs from its account's currency"


class AccountHasBalance(ZentraError):
    status, code, title = 409, "account_has_balance", "An account with a non-zero balance cannot be closed"


class PolicyRejected(ZentraError):
    """Remembered under the request's idempotency key: a retry gets the same answer."""

    status, code, title = 422, "policy_rejected", "A policy rejected this request"


class AccountNotOpen(PolicyRejected):
    status, code, title = 422, "account_not_open", "The account is frozen or closed"


class PolicyExists(ZentraError):
    status, code, title = 409, "policy_exists", "A policy with this name already exists"


class ApprovalNotFound(ZentraError):
    status, code, title = 404, "approval_not_found", "No such approval request"


class ApprovalAlreadyDecided(ZentraError):
    status, code, title = 409, "approval_already_decided", "This approval request was already decided"


class ApprovalSelfDecision(ZentraError):
    status, code, title = 403, "approval_self_decision", "The requester of a change cannot approve or reject it"


class ApprovalKindUnsupported(ZentraError):
    status, code, title = 409, "approval_kind_unsupported", "This kind of request cannot be executed by this build"


class BalanceOverflow(ZentraError):
    status, code, title = 422, "balance_overflow", "The posting would overflow a 64-bit balance"


class EntryNotFound(ZentraError):
    status, code, title = 404, "entry_not_found", "No such ledger entry"


class HoldNotFound(ZentraError):
    status, code, title = 404, "hold_not_found", "No such hold"


class HoldNotActive(ZentraError):
    status, code, title = 409, "hold_not_active", "The hold is captured, released or expired"


class HoldExpired(ZentraError):
    status, code, title = 409, "hold_expired", "The hold is past its expires_at"


class CaptureExceedsHold(ZentraError):
    status, code, title = 422, "capture_exceeds_hold", "The capture is larger than what the hold still reserves"


class InvalidExpiry(ZentraError):
    status, code, title = 400, "invalid_expiry", "expires_at must be in the future (and within the allowed horizon)"


class DestinationRequired(ZentraError):
    status, code, title = 400, "destination_required", "A capture needs a destination account"


class InvalidDestination(ZentraError):
    status, code, title = 400, "invalid_destination", "The destination must be another account in the hold's currency"


class EntryAlreadyReversed(ZentraError):
    status, code, title = 409, "entry_already_reversed", "The entry is already fully reversed"


class ReversalExceedsOriginal(ZentraError):
    status, code, title = 422, "reversal_exceeds_original", "The reversal is larger than what remains of the entry"


class PartialReversalInexact(ZentraError):
    status, code, title = 422, "partial_reversal_inexact", "The lines cannot be scaled to this amount exactly"


class PartialReversalUnsupported(ZentraError):
    status, code, title = 422, "partial_reversal_unsupported", "Partial reversals need a single-currency entry"


class CannotReverseReversal(ZentraError):
    status, code, title = 422, "cannot_reverse_reversal", "A reversal entry cannot itself be reversed"


class BatchTooLarge(ZentraError):
    status, code, title = 400, "batch_too_large", "A batch has at most 1000 entries"


class BatchDuplicateKeys(ZentraError):
    status, code, title = 400, "batch_duplicate_keys", "Idempotency keys repeat inside the batch"


class BatchItemFailed(ZentraError):
    """An atomic batch failed on one item. The answer is that item's own
    problem (its status and code), naming the item; nothing was written."""

    def __init__(self, *, index: int, idempotency_key: str | None, problem: dict[str, Any]) -> None:
        self.status = problem["status"]
        self.code = problem["code"]
        self.title = problem.get("title") or self.title
        extra = {k: v for k, v in problem.items()
                 if k not in {"type", "title", "status", "code", "detail", "item_index", "idempotency_key"}}
        if "field" in extra:
            extra["field"] = f"entries[{index}].{extra['field']}"
        super().__init__(f"Entry {index} of the batch: {problem.get('detail', self.title)} Nothing was posted.",
                         **extra, item_index=index, idempotency_key=idempotency_key)


@sqlstate_maps(NUMERIC_OUT_OF_RANGE)
def _balance_overflow(exc: BaseException, context: dict[str, Any]) -> ZentraError:
    # Balances are the only sums the ledger's statements compute in bigint:
    # an entry's or a hold's line that takes one past 2^63-1 lands here.
    return BalanceOverflow(**context)
