"""Reconciliation's typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


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


class ReconciliationAdjustmentPending(ZentraError):
    status, code, title = 409, "reconciliation_adjustment_pending", "An adjustment for this item already waits for a checker"


class ReconciliationMatchInvalid(ZentraError):
    status, code, title = 422, "reconciliation_match_invalid", "This line cannot be paired with that entry"
