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
    status, code, title = 400, "idempotency_key_invalid", "The Idempotency-Key is not 1-255 printable ASCII characters"


class IdempotencyKeyReused(ZentraError):
    status, code, title = 422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request"


class IdempotencyKeyInUse(ZentraError):
    status, code, title, retryable = 409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress", True


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


class BalanceOverflow(ZentraError):
    status, code, title = 422, "balance_overflow", "The posting would overflow a 64-bit balance"


class EntryNotFound(ZentraError):
    status, code, title = 404, "entry_not_found", "No such ledger entry"


class PayloadTooLarge(ZentraError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class RateLimited(ZentraError):
    status, code, title, retryable = 429, "rate_limited", "Too many requests", True


class UnknownFilter(ZentraError):
    status, code, title = 400, "unknown_filter", "The query has parameters this endpoint does not know"


class InvalidRange(ZentraError):
    status, code, title = 400, "invalid_range", "The time range is inverted or malformed"


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
