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

from ledger.models import HOLD_OPEN_STATUSES, Account, AccountPolicy, Hold, LedgerEntry, Policy
from zentra_site.db import hot_execute


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    locked = Account.objects.select_for_update().filter(id__in=ids).order_by("id")
    return {a.id: a for a in locked}


def lock_accounts_by_ref(refs: Iterable[int | str]) -> dict[int | str, Account]:
    """Resolve ids and codes and lock the rows in one statement, still in
    primary-key order. Returns every ref -> account; unknown refs are absent."""
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


def _posting_lock_sql() -> str:
    acc, pol, link = Account._meta.db_table, Policy._meta.db_table, AccountPolicy._meta.db_table
    seq = f"{LedgerEntry._meta.db_table}_id_seq"
    # One round trip: lock (pk order), the latest active version of every
    # policy that applies to these accounts, and the new entry's id.
    return f"""
        WITH acc AS MATERIALIZED (
            SELECT id, code, currency, normal_side, status, posted_balance, pending_balance FROM {acc}
            WHERE id = ANY(%(ids)s) OR code = ANY(%(codes)s) ORDER BY id FOR UPDATE),
        latest AS (SELECT DISTINCT ON (name) name, version, kind, params, applies_to_all, active
                   FROM {pol} ORDER BY name, version DESC),
        pol AS (SELECT l.name, l.version, l.kind, l.params, l.applies_to_all,
                       coalesce(array_agg(ap.account_id) FILTER (WHERE ap.account_id IS NOT NULL), '{{}}') AS linked
                FROM latest l LEFT JOIN {link} ap ON ap.policy_name = l.name AND ap.account_id IN (SELECT id FROM acc)
                WHERE l.active GROUP BY 1, 2, 3, 4, 5
                HAVING l.applies_to_all OR count(ap.account_id) > 0)
        SELECT (SELECT coalesce(json_agg(json_build_array(id, code, currency, normal_side, status, posted_balance,
                                                          pending_balance) ORDER BY id), '[]') FROM acc),
               (SELECT coalesce(json_agg(json_build_array(name, version, kind, params, applies_to_all, linked)
                                         ORDER BY name), '[]') FROM pol),
               nextval('{seq}')"""


_POSTING_LOCK_SQL: list[str] = []


def lock_accounts_for_posting(refs: Iterable[int | str]) -> PostingLocks:
    """lock_accounts_by_ref for the posting path: the same locks in the same
    order, plus the applicable policies and a reserved entry id, in one
    statement on the lean cursor."""
    if not _POSTING_LOCK_SQL:
        _POSTING_LOCK_SQL.append(_posting_lock_sql())
    refs = list(refs)
    with hot_execute(_POSTING_LOCK_SQL[0], {"ids": [r for r in refs if isinstance(r, int)],
                                            "codes": [r for r in refs if isinstance(r, str)]}) as cur:
        accounts, policies, entry_id = cur.fetchone()
    by_ref: dict[int | str, LockedAccount] = {}
    for row in accounts:
        a = LockedAccount(*row)
        by_ref[a.id] = a
        by_ref[a.code] = a
    return PostingLocks(by_ref=by_ref, entry_id=entry_id,
                        policies=[(PolicyRow(*p[:5]), set(p[5])) for p in policies])


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
