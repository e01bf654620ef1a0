"""The full path's read: the key's claim and the accounts, policies,
closed-period watermark and PolicyEpoch a posting decides on, as
PostingLocks (ledger.locks). Each function runs one statement of
ledger.posting.statements on the lean cursor."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.db import hot_execute, pg_array
from ledger.locks import LockedAccount, PolicyRow, PostingLocks
from ledger.posting import statements


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


def claim_and_lock_for_posting(
    *, claim: dict[str, Any], lines: Sequence[tuple[int | str, str]], lock_all: bool = False,
) -> PostingLocks | None:
    """The boundary's claim and the accounts' read in one statement
    (statements.key_claim_and_read), for `lines` as (id or code, side).
    It locks only the accounts a policy decision rests on, and those below
    them in pk order; the rest come back with locked=False for the entry's
    write to lock. `lock_all`: lock every account now (no late lock), for a
    caller whose transaction cannot be retried whole. Returns None, having
    read and locked nothing, when the key is already taken: the caller
    replays it."""
    dr = _ref_params(ref for ref, side in lines if side == "debit")
    cr = _ref_params(ref for ref, side in lines if side != "debit")
    params = claim | _ref_params(ref for ref, _ in lines) | {
        "dr_ids": dr["ids"], "dr_codes": dr["codes"], "cr_ids": cr["ids"], "cr_codes": cr["codes"],
        "lock_all": lock_all}
    with hot_execute(statements.key_claim_and_read(), params) as cur:
        claim_id, read, locked, policies, entry_id, closed_through, epoch = cur.fetchone()
    return None if claim_id is None else _locks_from_row(read, policies, entry_id, closed_through, locked, epoch)


def lock_accounts_for_posting(refs: Iterable[int | str]) -> PostingLocks:
    """Every account locked (pk order), plus the applicable policies and a
    reserved entry id, in one statement (statements.accounts_lock_and_read):
    for a posting whose caller claimed the key itself."""
    with hot_execute(statements.accounts_lock_and_read(), _ref_params(refs)) as cur:
        return _locks_from_row(*cur.fetchone())


def accounts_read_for_posting(*, limit: int) -> PostingLocks:
    """The claim's read for the tenant's newest `limit` accounts at once,
    in one snapshot and locking nothing (statements.cache_warm_read): what
    ledger.posting_cache starts from. entry_id is 0 (nothing is reserved)."""
    with hot_execute(statements.cache_warm_read(), {"limit": limit}) as cur:
        accounts, policies, closed_through, epoch = cur.fetchone()
    return _locks_from_row(accounts, policies, 0, closed_through, policy_epoch=epoch)
