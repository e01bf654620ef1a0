"""What a posting must satisfy before anything is written: the lines on
their own (lines_validate), the lines against the accounts (accounts_check)
and the tenant's policies against the balances (evaluate)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from core import errors as core_errors
from ledger import errors
from ledger.currencies import is_known
from ledger.locks import LockedAccount, PostingLocks
from ledger.models import Account, PolicyKind, Side
from ledger.services.policies import policies_evaluate

MAX_LINES = 500
MAX_MINOR = 2**63 - 1
_SIDES = frozenset(Side.values)  # TextChoices.values builds a new list on every access


@dataclass(frozen=True)
class LineSpec:
    account: int | str  # id or code
    side: str
    amount_minor: int
    currency: str


def lines_validate(lines: list[LineSpec]) -> None:
    """Everything that can be checked without the database."""
    if len(lines) < 2:
        raise core_errors.ValidationFailed("An entry has at least 2 lines.", field="lines")
    if len(lines) > MAX_LINES:
        raise errors.TooManyLines(f"An entry has at most {MAX_LINES} lines; got {len(lines)}.", field="lines")
    net: dict[str, int] = defaultdict(int)
    for i, line in enumerate(lines):
        if type(line.amount_minor) is not int or not (0 < line.amount_minor <= MAX_MINOR):
            raise errors.InvalidAmount(field=f"lines[{i}].amount_minor")
        if line.side not in _SIDES:
            raise core_errors.ValidationFailed("side is 'debit' or 'credit'.", field=f"lines[{i}].side")
        if not is_known(line.currency):
            raise errors.UnknownCurrency(f"'{line.currency}' is not a known ISO 4217 currency.", field=f"lines[{i}].currency")
        net[line.currency] += line.amount_minor if line.side == Side.DEBIT else -line.amount_minor
    unbalanced = {c: d for c, d in net.items() if d}
    if unbalanced:
        raise errors.UnbalancedEntry(
            "Debits and credits differ: " + ", ".join(f"{c} debits - credits = {d}" for c, d in sorted(unbalanced.items())),
            imbalance=unbalanced,
        )


def accounts_check(lines: list[LineSpec], by_ref: dict[int | str, Account]) -> None:
    """Every line names an existing account in the line's currency."""
    missing = [r for r in dict.fromkeys(ln.account for ln in lines) if r not in by_ref]
    if missing:
        raise errors.AccountNotFound(f"Unknown accounts: {', '.join(map(str, missing))}.", accounts=missing)
    for i, ln in enumerate(lines):
        acc = by_ref[ln.account]
        if acc.currency != ln.currency:
            raise errors.CurrencyMismatch(
                f"Line {i} is in {ln.currency} but account '{acc.code}' is in {acc.currency}.", field=f"lines[{i}].currency"
            )


def signed(account: Account, side: str, amount: int) -> int:
    """The line's effect on the account's balance, in normal-side terms."""
    return amount if side == account.normal_side else -amount


def evaluate(
    lines: list[LineSpec], locks: PostingLocks, available_adjust: dict[int, int] | None, *, late: bool,
) -> tuple[dict[int, LockedAccount], list[dict[str, Any]]] | None:
    """The accounts by id and the policy decisions to store. With `late`
    (some accounts only read, not locked), None when a decision would rest
    on an unlocked account's balance, or refuses the posting: a refusal is
    remembered under the key, so it is only ever made on locked rows. A
    pass on status, amount or currency rests on what the write re-checks
    under its lock (statements.late_lock_cte, or the one-statement
    posting's `chk`)."""
    by_ref = locks.by_ref
    accounts_check(lines, by_ref)
    accounts = {acc.id: acc for acc in by_ref.values()}
    deltas: dict[int, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for ln in lines:
        acc = by_ref[ln.account]
        deltas[acc.id] += signed(acc, ln.side, ln.amount_minor)
        if ln.side == Side.DEBIT:
            amounts[ln.currency] += ln.amount_minor
    for account_id, adjust in (available_adjust or {}).items():
        deltas[account_id] += adjust
    try:
        decisions = policies_evaluate(accounts=accounts, available_deltas=dict(deltas),
                                      amounts_by_currency=dict(amounts), policies=locks.policies)
    except errors.PolicyRejected:
        if late:
            return None
        raise
    if late:
        by_code = {acc.code: acc for acc in accounts.values()}
        if any(d["rule"] == PolicyKind.NO_NEGATIVE_AVAILABLE and not by_code[d["account"]].locked for d in decisions):
            return None
    return accounts, decisions
