"""Closeout's typed errors (stable codes, rendered by zentra_site.problems)."""
from ledger.errors import InvalidRange, PermissionDenied, ValidationFailed, ZentraError  # noqa: F401 (re-exported)


class PeriodClosed(ZentraError):
    status, code, title = 422, "period_closed", "The entry's effective_at falls inside a closed accounting period"


class PeriodNotFound(ZentraError):
    status, code, title = 404, "period_not_found", "No such accounting period"


class PeriodOverlap(ZentraError):
    status, code, title = 409, "period_overlap", "The period overlaps an existing period"


class PeriodInvalidTransition(ZentraError):
    status, code, title = 409, "period_invalid_transition", "The period cannot make this transition from its status"


class PeriodNotEnded(ZentraError):
    status, code, title = 422, "period_not_ended", "The period has not ended yet"


class PeriodOutOfOrder(ZentraError):
    status, code, title = 409, "period_out_of_order", "Periods close (and reopen) in date order"


class PeriodHasOpenItems(ZentraError):
    status, code, title = 409, "period_has_open_items", "Pending approvals or open holds straddle the period"


class ReopenRequestNotFound(ZentraError):
    status, code, title = 404, "reopen_request_not_found", "No such reopen request"


class ReopenAlreadyDecided(ZentraError):
    status, code, title = 409, "reopen_already_decided", "The reopen request was already decided"


class ReopenSelfDecision(ZentraError):
    status, code, title = 403, "reopen_self_decision", "The requester cannot decide their own reopen request"


class ReopenPending(ZentraError):
    status, code, title = 409, "reopen_pending", "A reopen request for this period is already waiting"
