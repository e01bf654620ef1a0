"""The one way to lock money rows: accounts by primary key, ascending.

Every transaction that moves money locks the accounts it touches through
this helper, so two postings over the same accounts always queue in the same
order and can never deadlock each other (cf. Saleor's lock_objects.py).

Lock order across tables, always: the idempotency claim, then the "subject"
rows (one hold, a set of holds in id order, or the entry being reversed),
then accounts in id order. Nothing locks a hold or an entry while holding an
account lock, so the orders never cross.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.db import models

from ledger.models import HOLD_OPEN_STATUSES, Account, Hold, LedgerEntry


def accounts_lock_sql(*, where: str, columns: str) -> str:
    """Every account row lock Zentra takes in SQL is this SELECT, in primary-
    key order: two statements over the same accounts queue one behind the
    other instead of deadlocking (a posting, a hold, a capture, a batch, in
    any mix). `where` picks the rows; the one-statement posting and the
    late lock add their own conditions to it."""
    return f"SELECT {columns} FROM {Account._meta.db_table} WHERE {where} ORDER BY id FOR UPDATE"


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """lock_accounts_by_ref for ids: id -> account, unknown ids absent."""
    return {ref: acc for ref, acc in lock_accounts_by_ref(set(account_ids)).items() if isinstance(ref, int)}


def lock_accounts_by_ref(refs: Iterable[int | str]) -> dict[int | str, Account]:
    """Resolve ids and codes and lock the rows in one statement, still in
    primary-key order (the ORM's spelling of accounts_lock_sql). Returns
    every ref -> account; unknown refs are absent."""
    refs = list(refs)
    ids = [r for r in refs if isinstance(r, int)]
    codes = [r for r in refs if isinstance(r, str)]
    locked = (Account.objects.select_for_update()
              .filter(models.Q(id__in=ids) | models.Q(code__in=codes)).order_by("id"))
    by_ref: dict[int | str, Account] = {}
    for acc in locked:
        by_ref[acc.id] = acc
        by_ref[acc.code] = acc
    return by_ref


@dataclass(frozen=True)
class LockedAccount:
    """What the posting path needs of a locked account row."""

    id: int
    code: str
    currency: str
    normal_side: str
    status: str
    posted_balance: int
    pending_balance: int
    # False: read, not locked, by the claim (posting locks late; see
    # ledger.posting.statements.key_claim_and_read). The entry's write locks it and checks
    # that nothing the decision rested on changed.
    locked: bool = True

    @property
    def available_balance(self) -> int:
        return self.posted_balance - self.pending_balance


class PolicyRow(NamedTuple):
    name: str
    version: int
    kind: str
    params: dict
    applies_to_all: bool


@dataclass(frozen=True)
class PostingLocks:
    by_ref: dict[int | str, LockedAccount]
    policies: list[tuple[PolicyRow, set[int]]]
    entry_id: int  # reserved for the entry about to be written
    closed_through: dt.datetime | None  # end of the latest closed (or closing) period: closeout's watermark
    # The tenant's PolicyEpoch as this read saw it (with `policies`, what
    # ledger.posting_cache keeps); None where the read did not ask.
    policy_epoch: int | None = None

    @property
    def all_locked(self) -> bool:
        return all(a.locked for a in self.by_ref.values())


def lock_hold(hold_id: int) -> Hold | None:
    """The hold row comes before its accounts: capture, release and expiry of
    one hold queue here, so exactly one of them acts on any given state."""
    return Hold.objects.select_for_update(of=("self",)).filter(id=hold_id).first()


def lock_due_holds(*, now: dt.datetime, limit: int) -> list[Hold]:
    """Open holds past expires_at, in id order. SKIP LOCKED: a hold that a
    capture or release is working on right now is left to that request; if it
    is still open afterwards, the next sweep takes it."""
    return list(
        Hold.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status__in=HOLD_OPEN_STATUSES, expires_at__lte=now)
        .order_by("id")[:limit]
    )


def lock_entry(entry_id: int) -> LedgerEntry | None:
    """The entry being reversed: concurrent reversals of it queue here, so the
    amount already reversed is read and extended by one transaction at a
    time. (A row lock does not fire the append-only UPDATE trigger.)"""
    return LedgerEntry.objects.select_for_update(of=("self",)).filter(id=entry_id).first()
