"""Typed errors -> what an operator reads. The code stays visible on the
page (support greps for it); the sentence says what to do next."""
from __future__ import annotations

from ledger import errors
from core import errors as core_errors

FRIENDLY: dict[str, str] = {
    "idempotency_key_missing": "This form is missing its submission key. Reload the page and submit again.",
    "idempotency_key_invalid": "This form's submission key is malformed. Reload the page and submit again.",
    "idempotency_key_reused": "This form was already submitted with different values, so it was not sent again. "
                              "Open a fresh form to make a new request.",
    "idempotency_key_in_use": "The same form is still being processed. Wait a moment, then refresh.",
    "account_not_found": "One of the accounts does not exist in this tenant.",
    "currency_mismatch": "Both accounts must be in the same currency.",
    "unbalanced_entry": "Debits and credits must balance.",
    "invalid_amount": "Amounts are whole numbers of minor units, at least 1.",
    "approval_self_decision": "You requested this change, so a different person must approve or reject it.",
    "approval_already_decided": "Someone already decided this request; nothing was changed.",
    "not_found": "There is nothing here in this tenant. It may belong to another tenant, or the link is wrong.",
    "entry_not_found": "There is no such entry in this tenant.",
    "approval_not_found": "There is no such approval request in this tenant.",
}


def friendly(exc: core_errors.ZentraError) -> str:
    """Policy rejections already explain themselves with numbers; keep them."""
    if isinstance(exc, errors.PolicyRejected) or exc.code not in FRIENDLY:
        return exc.detail
    base = FRIENDLY[exc.code]
    return base if exc.detail in (exc.title, "") or exc.code.endswith("not_found") else f"{base} ({exc.detail})"
