"""Closeout's typed errors (stable codes on core.errors.ZentraError)."""
from __future__ import annotations

from typing import Any

from core.db_errors import database_message, sqlstate_maps
from core.errors import ZentraError


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


# The closed-period trigger's own SQLSTATE (closeout/migrations/0001_initial.py).
PERIOD_CLOSED_SQLSTATE = "ZP001"


@sqlstate_maps(PERIOD_CLOSED_SQLSTATE)
def _period_closed(exc: BaseException, context: dict[str, Any]) -> ZentraError:
    # A posting raced a period close past the services' own check: the
    # trigger refused it, and a retry meets the closed-period policy.
    return PeriodClosed(database_message(exc) + ". Retry: the closed-period policy then applies.",
                        retryable=True, **context)
