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
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import models

from ledger.closing import closed_books, on_closed_books_register
from ledger.models import (
    HOLD_OPEN_STATUSES, Account, AccountPolicy, Hold, IdempotencyRecord, LedgerEntry, Policy, PolicyEpoch, PolicyKind,
)
from core.db import hot_execute, pg_array


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
    # claim_and_lock_for_posting). The entry's write locks it and checks
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


@functools.cache
def _posting_lock_sql(*, claim: bool) -> str:
    # Accounts by id or code as one primary-key lookup: `id = ANY(..) OR
    # code = ANY(..)` made the generic plan scan the whole accounts table.
    by_ref = (f"id = ANY(%(ids)s::bigint[] || ARRAY(SELECT id FROM {Account._meta.db_table} "
               "WHERE code = ANY(%(codes)s::text[])))")
    acc, pol, link = Account._meta.db_table, Policy._meta.db_table, AccountPolicy._meta.db_table
    seq = f"{LedgerEntry._meta.db_table}_id_seq"
    # One round trip: the accounts, the latest active version of every
    # policy that applies to them, the new entry's id and the closed-period
    # watermark (one probe of closeout's partial index).
    #
    # Without `claim` every account is locked, in pk order.
    #
    # With `claim`, the boundary's claim comes first in the same statement
    # (lock order: the key, then the accounts): `acc` reads the claim's
    # RETURNING row, so the INSERT (and its wait for an in-flight duplicate)
    # runs before any account is read, and a key that is already taken
    # locks nothing. Then only the accounts a decision rests on are locked
    # here: those a no-negative-available policy guards and a line can take
    # money from (a line on the side opposite the account's normal side),
    # plus every account below them in pk order, so that the write, which
    # locks the rest, still locks in pk order. The others are read, not
    # locked: the entry's write locks them (entries._late_lock_cte), so a
    # busy account is held for the write and the commit only.
    if not claim:
        return f"""
        WITH acc AS MATERIALIZED ({accounts_lock_sql(
            where=by_ref, columns="id, code, currency, normal_side, status, posted_balance, pending_balance")}),
        {_policies_cte(pol, link)}
        SELECT (SELECT coalesce(json_agg(json_build_array(id, code, currency, normal_side, status,
                                                          posted_balance, pending_balance) ORDER BY id), '[]') FROM acc),
               {_POLICIES_JSON},
               nextval('{seq}'),
               {_closed_through_sql()}"""
    columns = "id, code, currency, normal_side, status, posted_balance, pending_balance"
    return f"""
        WITH claim AS ({boundary_claim_sql()}),
        acc AS MATERIALIZED (
            SELECT {columns} FROM {acc}
            WHERE {by_ref} AND EXISTS (SELECT FROM claim)),
        {_policies_cte(pol, link)},
        guarded AS (
            SELECT max(a.id) AS id FROM acc a JOIN pol p
                ON p.kind = '{PolicyKind.NO_NEGATIVE_AVAILABLE.value}' AND (p.applies_to_all OR a.id = ANY(p.linked))
            WHERE CASE a.normal_side
                  WHEN 'debit' THEN a.id = ANY(%(cr_ids)s::bigint[]) OR a.code = ANY(%(cr_codes)s::text[])
                  ELSE a.id = ANY(%(dr_ids)s::bigint[]) OR a.code = ANY(%(dr_codes)s::text[]) END),
        lk AS MATERIALIZED ({accounts_lock_sql(
            where="id = ANY(ARRAY(SELECT id FROM acc WHERE %(lock_all)s::boolean OR id <= (SELECT id FROM guarded)))",
            columns=columns)})
        SELECT (SELECT id FROM claim),
               (SELECT coalesce(json_agg(json_build_array({columns}, false)), '[]') FROM acc),
               (SELECT coalesce(json_agg(json_build_array({columns}, true)), '[]') FROM lk),
               {_POLICIES_JSON},
               nextval('{seq}'),
               {_closed_through_sql()},
               (SELECT epoch FROM {PolicyEpoch._meta.db_table})"""


@functools.cache
def _accounts_read_sql() -> str:
    acc, pol, link = Account._meta.db_table, Policy._meta.db_table, AccountPolicy._meta.db_table
    return f"""
        WITH acc AS MATERIALIZED (
            SELECT id, code, currency, normal_side, status, posted_balance, pending_balance FROM {acc}
            ORDER BY id DESC LIMIT %(limit)s),
        {_policies_cte(pol, link)}
        SELECT (SELECT coalesce(json_agg(json_build_array(id, code, currency, normal_side, status,
                                                          posted_balance, pending_balance, false)), '[]') FROM acc),
               {_POLICIES_JSON},
               {_closed_through_sql()},
               (SELECT epoch FROM {PolicyEpoch._meta.db_table})"""


def accounts_read_for_posting(*, limit: int) -> PostingLocks:
    """The claim's read (the accounts, the policies that apply to them, the
    closed-period watermark, the PolicyEpoch) for the tenant's newest
    `limit` accounts at once, in one snapshot and locking nothing: what
    ledger.posting_cache starts from. entry_id is 0 (nothing is reserved)."""
    with hot_execute(_accounts_read_sql(), {"limit": limit}) as cur:
        accounts, policies, closed_through, epoch = cur.fetchone()
    return _locks_from_row(accounts, policies, 0, closed_through, policy_epoch=epoch)


# What every read of accounts for posting returns beside them: the `pol`
# CTE (_policies_cte) as JSON, and closeout's watermark (the end of the
# latest closed or closing period; one probe of its partial index).
_POLICIES_JSON = """(SELECT coalesce(json_agg(json_build_array(name, version, kind, params, applies_to_all, linked)
                                  ORDER BY name), '[]') FROM pol)"""


def _closed_through_sql() -> str:
    return f"({closed_books().watermark_sql})"


def _policies_cte(pol: str, link: str) -> str:
    """`pol`: the latest active version of every policy that applies to the
    accounts in `acc`, with the ones it is attached to (`linked`)."""
    return f"""latest AS (SELECT DISTINCT ON (name) name, version, kind, params, applies_to_all, active
                   FROM {pol} ORDER BY name, version DESC),
        pol AS (SELECT l.name, l.version, l.kind, l.params, l.applies_to_all,
                       coalesce(array_agg(ap.account_id) FILTER (WHERE ap.account_id IS NOT NULL), '{{}}') AS linked
                FROM latest l LEFT JOIN {link} ap ON ap.policy_name = l.name AND ap.account_id IN (SELECT id FROM acc)
                WHERE l.active GROUP BY 1, 2, 3, 4, 5
                HAVING l.applies_to_all OR count(ap.account_id) > 0)"""


@functools.cache
def boundary_claim_sql() -> str:
    """The posting boundary's claim of a key (ledger.services.boundary):
    INSERT ... ON CONFLICT DO NOTHING RETURNING id. Only the claim may wait
    long -- a duplicate blocks on the key's unique index until the in-flight
    original commits -- so the lock timeout is set (transaction-local) by
    the row the INSERT reads, before the INSERT can wait."""
    from ledger.services.boundary import IN_FLIGHT_WAIT

    return (
        f"INSERT INTO {IdempotencyRecord._meta.db_table} "
        "(key, operation, request_hash, actor_ref, correlation_id, created_at, replay_count, replays, outcome) "
        "SELECT %(key)s, %(operation)s, %(req_hash)s, %(actor_ref)s, %(correlation_id)s, now(), 0, '[]'::jsonb, '' "
        f"FROM (SELECT set_config('lock_timeout', '{IN_FLIGHT_WAIT}', true), {key_lock_sql('%(key)s')}) AS timeout "
        "ON CONFLICT (key) DO NOTHING RETURNING id"
    )


def key_lock_sql(key: str) -> str:
    """The key's own lock, taken before anything else a posting locks (an
    advisory transaction lock on the key, per tenant schema). Every claim
    takes it before its INSERT, and the one-statement posting
    (entries._direct_sql) before it locks its accounts and, last, inserts
    its record: without it, that posting (accounts, then key) and a claim
    (key, then accounts) on the same key could deadlock. Two postings with
    the same key queue here; the second then finds the first's record (a
    replay), exactly as the unique index alone made it."""
    return f"pg_advisory_xact_lock({key_lock_id_sql(key)})"


def key_lock_id_sql(key: str) -> str:
    """The advisory lock id of a key (SQL over `key`): also the order in which
    a batch takes its keys' locks."""
    return f"hashtextextended(current_schema() || '/' || {key}, 0)"


def _locks_from_row(accounts: list, policies: list, entry_id: int, closed_through,
                    locked: list | None = None, policy_epoch: int | None = None) -> PostingLocks:
    """`locked`: rows locked after `accounts` were read; they replace them
    (a lock returns the row as it is now)."""
    by_ref: dict[int | str, LockedAccount] = {}
    for row in accounts + (locked or []):
        a = LockedAccount(*row)
        by_ref[a.id] = a
        by_ref[a.code] = a
    return PostingLocks(by_ref=by_ref, entry_id=entry_id, closed_through=closed_through, policy_epoch=policy_epoch,
                        policies=[(PolicyRow(*p[:5]), set(p[5])) for p in policies])


def _ref_params(refs: Iterable[int | str]) -> dict[str, str]:
    refs = list(refs)
    return {"ids": pg_array([r for r in refs if isinstance(r, int)]),
            "codes": pg_array([r for r in refs if isinstance(r, str)])}


def lock_accounts_for_posting(refs: Iterable[int | str]) -> PostingLocks:
    """lock_accounts_by_ref for the posting path: the same locks in the same
    order, plus the applicable policies and a reserved entry id, in one
    statement on the lean cursor."""
    with hot_execute(_posting_lock_sql(claim=False), _ref_params(refs)) as cur:
        return _locks_from_row(*cur.fetchone())


def claim_and_lock_for_posting(
    *, claim: dict[str, Any], lines: Sequence[tuple[int | str, str]], lock_all: bool = False,
) -> PostingLocks | None:
    """The boundary's claim and lock_accounts_for_posting in one statement
    (the hottest path: a plain posting), for `lines` as (id or code, side).
    It locks only the accounts a policy decision rests on, and those below
    them in pk order; the rest come back with locked=False for the entry's
    write to lock (see _posting_lock_sql). `lock_all`: lock every account
    now (no late lock), for a caller whose transaction cannot be retried
    whole. Returns None, having read and locked nothing, when the key is
    already taken: the caller replays it."""
    dr = _ref_params(ref for ref, side in lines if side == "debit")
    cr = _ref_params(ref for ref, side in lines if side != "debit")
    params = claim | _ref_params(ref for ref, _ in lines) | {
        "dr_ids": dr["ids"], "dr_codes": dr["codes"], "cr_ids": cr["ids"], "cr_codes": cr["codes"],
        "lock_all": lock_all}
    with hot_execute(_posting_lock_sql(claim=True), params) as cur:
        claim_id, read, locked, policies, entry_id, closed_through, epoch = cur.fetchone()
    return None if claim_id is None else _locks_from_row(read, policies, entry_id, closed_through, locked, epoch)


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


# The statements embed the watermark's SQL, which closeout registers when it loads.
on_closed_books_register(_posting_lock_sql.cache_clear)
on_closed_books_register(_accounts_read_sql.cache_clear)
