"""Typed errors -> what an operator reads. The code stays visible on the
page (support greps for it); the sentence says what to do next."""
from __future__ import annotations

from console.charts import major
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
    "hold_not_found": "There is no such hold in this tenant.",
    "hold_not_active": "This hold is already captured, released or expired; nothing is left to act on.",
    "hold_expired": "This hold has passed its expiry; its money goes back to the account.",
    "capture_exceeds_hold": "The capture is larger than what the hold still reserves.",
    "destination_required": "Choose the account to capture into: this hold was made without one.",
    "invalid_destination": "The destination must be another account in the hold's currency.",
    "entry_already_reversed": "This entry is already fully reversed.",
    "reversal_exceeds_original": "The reversal is larger than what is left of the entry.",
    "partial_reversal_inexact": "That amount does not split exactly across the entry's lines; choose another.",
    "partial_reversal_unsupported": "This entry moves several currencies; reverse it in full.",
    "cannot_reverse_reversal": "A reversal cannot be reversed; post a new entry instead.",
    "account_has_balance": "Only an account with zero posted and pending balances can be closed; move the money "
                           "out first.",
}


def amount(minor, currency: str) -> str:
    """`56768802, "USD"` -> `567,688.02 USD`: what a person reads."""
    try:
        return f"{major(int(minor), currency)} {currency}"
    except (TypeError, ValueError):
        return f"{minor} {currency}"


def policy_sentence(body: dict) -> str | None:
    """A policy's refusal in major units (the API's `detail` keeps minor
    units for integrators); None when the body is not a policy refusal."""
    rule, n = body.get("rule"), body.get("numbers") or {}
    if not rule or not n:
        return None
    who = f"Policy {body.get('policy')} v{body.get('version')}"
    cur = n.get("currency", "")
    if rule == "no_negative_available":
        limit = n.get("overdraft_limit_minor") or 0
        return (f"{who}: account '{n.get('account')}' has {amount(n.get('available'), cur)} available and "
                f"{amount(n.get('requested'), cur)} was requested"
                + (f" (overdraft limit {amount(limit, cur)})." if limit else "."))
    if rule == "max_amount":
        return (f"{who}: {amount(n.get('amount_minor'), cur)} exceeds the maximum of "
                f"{amount(n.get('max_amount_minor'), cur)} per entry.")
    return None


def problem_sentence(body: dict) -> str:
    """A stored refusal (an outcome body) as a sentence for a person."""
    return policy_sentence(body) or body.get("detail") or "Rejected."


def friendly(exc: core_errors.ZentraError) -> str:
    """Policy rejections explain themselves with their numbers, in major units."""
    if isinstance(exc, errors.PolicyRejected):
        return policy_sentence({**exc.extra}) or exc.detail
    if exc.code not in FRIENDLY:
        return exc.detail
    base = FRIENDLY[exc.code]
    return base if exc.detail in (exc.title, "") or exc.code.endswith("not_found") else f"{base} ({exc.detail})"
