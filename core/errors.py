"""Typed exceptions with stable codes: the base every app's errors build on,
and the codes that belong to no one app (the request's shape, authentication,
resources, idempotency keys, paging, conflicts).

Every error Zentra returns is a ZentraError (or a DRF/Django error mapped onto
one of these codes by core.problems). `code` is the contract with
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


class NotFound(ZentraError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ZentraError):
    status, code, title = 409, "conflict", "The request conflicts with the current state"


class InvalidCursor(ZentraError):
    status, code, title = 400, "invalid_cursor", "The pagination cursor is not valid"


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
