"""Typed exceptions with stable codes.

Every error Zentra returns is one of these (or a DRF/Django error mapped onto
one of these codes by zentra_site.problems). `code` is the contract with
integrators: never rename one, only add.
"""
from __future__ import annotations

from typing import Any


class ZentraError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    retryable: bool = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def to_problem(self) -> dict[str, Any]:
        body = {
            "type": f"https://docs.zentra.dev/errors/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.retryable:
            body["retryable"] = True
        body.update(self.extra)
        return body


# --- 4xx: the request itself ------------------------------------------------
class ValidationFailed(ZentraError):
    status, code, title = 400, "validation_error", "The request is not valid"


class MalformedJSON(ZentraError):
    status, code, title = 400, "malformed_json", "The request body is not valid JSON"


class UnknownField(ZentraError):
    status, code, title = 400, "unknown_field", "The request has fields this endpoint does not accept"


class IdempotencyKeyMissing(ZentraError):
    status, code, title = 400, "idempotency_key_missing", "An Idempotency-Key is required for this request"


class IdempotencyKeyInvalid(ZentraError):
    status, code, title = 400, "idempotency_key_invalid", (
        "The Idempotency-Key is not 1-255 printable ASCII characters without leading or trailing spaces")


class IdempotencyKeyReused(ZentraError):
    status, code, title = 422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request"


class IdempotencyKeyInUse(ZentraError):
    status, code, title, retryable = 409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress", True


class TransactionConflict(ZentraError):
    """Concurrent transactions kept colliding (serialization failures or
    deadlocks) through every whole-transaction retry; nothing was written."""

    status, code, title, retryable = (
        409, "transaction_conflict", "The request kept colliding with concurrent ones; nothing was written", True)


# --- auth -----------------------------------------------------------------
class NotAuthenticated(ZentraError):
    status, code, title = 401, "not_authenticated", "Authentication credentials were not provided"


class InvalidApiKey(ZentraError):
    status, code, title = 401, "invalid_api_key", "The API key is unknown or malformed"


class RevokedApiKey(ZentraError):
    status, code, title = 401, "api_key_revoked", "The API key has been revoked"


class InsufficientScope(ZentraError):
    status, code, title = 403, "insufficient_scope", "The API key lacks the scope this operation needs"


class PermissionDenied(ZentraError):
    status, code, title = 403, "permission_denied", "You are not allowed to perform this action"


# --- resources --------------------------------------------------------------
class NotFound(ZentraError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ZentraError):
    status, code, title = 409, "conflict", "The request conflicts with the current state"


class TenantExists(ZentraError):
    status, code, title = 409, "tenant_exists", "A tenant with this slug already exists"


class DomainExists(ZentraError):
    status, code, title = 409, "domain_exists", "This domain is already assigned to a tenant"


# --- webhooks and events -----------------------------------------------------
class WebhookUrlInvalid(ZentraError):
    status, code, title = 400, "webhook_url_invalid", "The webhook URL is not a valid http(s) URL"


class WebhookUrlForbidden(ZentraError):
    status, code, title = 400, "webhook_url_forbidden", "The webhook URL points to an address Zentra will not call"


class WebhookUrlUnresolvable(ZentraError):
    status, code, title = 400, "webhook_url_unresolvable", "The webhook URL's host does not resolve"


class UnknownEventType(ZentraError):
    status, code, title = 400, "unknown_event_type", "The event type (or pattern) is not one Zentra emits"


class WebhookEndpointDisabled(ZentraError):
    status, code, title = 409, "webhook_endpoint_disabled", "The webhook endpoint is disabled; enable it first"


class WebhookDeliveryInFlight(ZentraError):
    status, code, title, retryable = (
        409, "webhook_delivery_in_flight", "An attempt of this delivery is running right now", True,
    )


class EventPayloadTooLarge(ZentraError):
    status, code, title = 413, "event_payload_too_large", "The event payload is larger than webhooks may carry"


# --- audit ------------------------------------------------------------------
class UnknownExportKind(ZentraError):
    status, code, title = 400, "unknown_export_kind", "There is no export of this kind"


class ExportNotFound(ZentraError):
    status, code, title = 404, "export_not_found", "No such export"


class ExportTooLarge(ZentraError):
    status, code, title = 422, "export_too_large", "The export matches more rows than this tenant may export at once"


class InvalidCursor(ZentraError):
    status, code, title = 400, "invalid_cursor", "The pagination cursor is not valid"


# --- ledger -----------------------------------------------------------------
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


# --- maker-checker (approvals) ----------------------------------------------
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


class PayloadTooLarge(ZentraError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class PayloadTooDeep(ZentraError):
    status, code, title = 400, "payload_too_deep", "The JSON body is nested too deeply"


class RateLimited(ZentraError):
    status, code, title, retryable = 429, "rate_limited", "Too many requests", True


class UnknownFilter(ZentraError):
    status, code, title = 400, "unknown_filter", "The query has parameters this endpoint does not know"


class InvalidRange(ZentraError):
    status, code, title = 400, "invalid_range", "The time range is inverted or malformed"


# --- holds ------------------------------------------------------------------
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


# --- reversals --------------------------------------------------------------
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


# --- batches ----------------------------------------------------------------
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


# --- reconciliation -----------------------------------------------------------
class StatementInvalid(ZentraError):
    """A provider statement the importer refuses. `line` (1-based, the header
    is line 1) and `column` name the first offending cell when there is one."""

    status, code, title = 400, "statement_invalid", "The statement file is not valid"


class StatementEmpty(StatementInvalid):
    status, code, title = 400, "statement_empty", "The statement has no lines"


class StatementNotUtf8(StatementInvalid):
    status, code, title = 400, "statement_not_utf8", "The statement is not UTF-8 text"


class StatementColumnsInvalid(StatementInvalid):
    status, code, title = 400, "statement_columns_invalid", "The statement's columns do not match its format"


class StatementAmountInvalid(StatementInvalid):
    status, code, title = 400, "statement_amount_invalid", "A statement amount is not exact in the currency's minor units"


class StatementCurrencyUnknown(StatementInvalid):
    status, code, title = 400, "statement_currency_unknown", "A statement line names an unknown currency"


class StatementDateInvalid(StatementInvalid):
    status, code, title = 400, "statement_date_invalid", "A statement date is not ISO 8601"


class StatementTooLarge(StatementInvalid):
    status, code, title = 413, "statement_too_large", "The statement file is too large"


class ReconciliationNotFound(ZentraError):
    status, code, title = 404, "reconciliation_not_found", "No such reconciliation run"


class ReconciliationItemNotFound(ZentraError):
    status, code, title = 404, "reconciliation_item_not_found", "No such reconciliation item"


class ReconciliationInProgress(ZentraError):
    status, code, title, retryable = 409, "reconciliation_in_progress", "The reconciliation run has not finished", True


class ReconciliationItemNotOpen(ZentraError):
    status, code, title = 409, "reconciliation_item_not_open", "The reconciliation item is matched or already resolved"


class AdjustmentNotPossible(ZentraError):
    status, code, title = 422, "adjustment_not_possible", "This item cannot be resolved by an adjusting entry"


class ReconciliationAbandoned(ZentraError):
    """Stored on a run (never an HTTP answer): its worker died too many times."""

    status, code, title = 500, "reconciliation_abandoned", "The reconciliation run did not finish"
