"""What the one-statement posting needs to know before it writes, kept per
process: each account's id, code, currency, normal side and status, and the
policies that apply to it, as the last full read of them found them.

Nothing here is trusted. The one-statement posting (ledger.posting.statements.one_statement_posting)
locks the accounts and compares, under the lock, every account's code,
status, currency and normal side and the tenant's PolicyEpoch with what it
was decided on; any difference is a serialization failure, the statement
writes nothing, the tenant's cache is dropped and the service takes the
full path (which reads everything afresh and fills the cache again). So a
stale cache costs one wasted statement, never a wrong posting.

Filled in one read of the tenant's newest WARM_ACCOUNTS accounts when a
process first posts for a tenant (or after the cache was dropped), then from
each full path's claim (claim_and_lock_for_posting); both read the accounts,
the policies that apply to them and the epoch in one snapshot.
"""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from ledger.locks import PolicyRow, PostingLocks
from ledger.posting.claim import accounts_read_for_posting

# Accounts kept per tenant; past it, the tenant's cache starts again empty
# (a posting then takes the full path once per account).
MAX_ACCOUNTS = 20_000
# Accounts the first read takes (each is kept under its id and its code):
# without it a new process learns accounts one full-path posting at a time,
# and over a few hundred accounts most of its first thousand postings take
# the full path. About 50 ms at 5,000 accounts (3 ms at 300), once per
# process and tenant, and again after the cache was dropped.
WARM_ACCOUNTS = 5_000


@dataclass(frozen=True)
class CachedAccount:
    id: int
    code: str
    currency: str
    normal_side: str
    status: str
    attached: tuple[PolicyRow, ...]  # the policies attached to it (tenant-wide ones are the tenant's)

    @property
    def fingerprint(self) -> str:
        """What the statement compares under the lock (see statements.one_statement_posting)."""
        return f"{self.code} {self.status} {self.currency} {self.normal_side}"


@dataclass
class TenantPostingCache:
    epoch: int | None
    tenant_wide: tuple[PolicyRow, ...]
    closed_through: dt.datetime | None
    accounts: dict[int | str, CachedAccount] = field(default_factory=dict)

    def policies_for(self, accounts: list[CachedAccount]) -> list[tuple[PolicyRow, set[int]]]:
        """The policies that apply to `accounts`, with the ones each is
        attached to: what the claim's policy read returns for them."""
        linked: dict[str, tuple[PolicyRow, set[int]]] = {p.name: (p, set()) for p in self.tenant_wide}
        for acc in accounts:
            for p in acc.attached:
                linked.setdefault(p.name, (p, set()))[1].add(acc.id)
        return [linked[name] for name in sorted(linked)]


# Tenants kept per process, least recently used out first: a tenant's
# cache holds up to WARM_ACCOUNTS accounts (about 2 MB at 5,000), and one
# worker may serve many tenants.
MAX_TENANTS = 32

_CACHE: dict[str, TenantPostingCache] = {}  # in order of last use
# The order and the eviction take several dict operations; threaded
# workers (gthread, the dev server) would otherwise interleave them.
_LOCK = threading.Lock()


def posting_cache_get(schema: str) -> TenantPostingCache | None:
    with _LOCK:
        cache = _CACHE.pop(schema, None)
        if cache is not None:
            _CACHE[schema] = cache
        return cache


def posting_cache_forget(schema: str) -> None:
    with _LOCK:
        _CACHE.pop(schema, None)


def posting_cache_warm(*, schema: str) -> TenantPostingCache:
    """Start the tenant's cache from one read of its newest accounts."""
    posting_cache_forget(schema)
    return posting_cache_learn(schema=schema, locks=accounts_read_for_posting(limit=WARM_ACCOUNTS))


def posting_cache_learn(*, schema: str, locks: PostingLocks) -> TenantPostingCache:
    """Keep what a full read of these accounts found. A new epoch (policies
    changed) starts the tenant's cache again."""
    cache = _CACHE.get(schema)
    if cache is None or cache.epoch != locks.policy_epoch or len(cache.accounts) > MAX_ACCOUNTS:
        cache = TenantPostingCache(epoch=locks.policy_epoch, closed_through=locks.closed_through,
                                   tenant_wide=tuple(p for p, _ in locks.policies if p.applies_to_all))
        with _LOCK:
            _CACHE.pop(schema, None)
            while len(_CACHE) >= MAX_TENANTS:
                del _CACHE[next(iter(_CACHE))]
            _CACHE[schema] = cache
    elif locks.closed_through is not None and (cache.closed_through is None
                                               or locks.closed_through > cache.closed_through):
        cache.closed_through = locks.closed_through
    for a in {a.id: a for a in locks.by_ref.values()}.values():
        acc = CachedAccount(id=a.id, code=a.code, currency=a.currency, normal_side=a.normal_side, status=a.status,
                            attached=tuple(p for p, linked in locks.policies
                                           if not p.applies_to_all and a.id in linked))
        cache.accounts[a.id] = cache.accounts[a.code] = acc
    return cache
