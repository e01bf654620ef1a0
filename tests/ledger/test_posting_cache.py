"""ledger.posting_cache on its own: the per-process map of tenants' caches,
its least-recently-used bound, and its use from several threads at once
(gthread workers, the dev server)."""
import random
import sys
import threading

import pytest

from ledger import posting_cache
from ledger.locks import LockedAccount, PostingLocks


def _locks(epoch: int, account_id: int) -> PostingLocks:
    a = LockedAccount(id=account_id, code=f"a{account_id}", currency="USD", normal_side="debit", status="open",
                      posted_balance=0, pending_balance=0, locked=False)
    return PostingLocks(by_ref={a.id: a, a.code: a}, policies=[], entry_id=0, closed_through=None,
                        policy_epoch=epoch)


@pytest.fixture
def small_cache(monkeypatch):
    monkeypatch.setattr(posting_cache, "MAX_TENANTS", 4)
    posting_cache._CACHE.clear()
    yield
    posting_cache._CACHE.clear()


def test_it_keeps_the_most_recently_used_tenants(small_cache):
    for s in ("s1", "s2", "s3", "s4"):
        posting_cache.posting_cache_learn(schema=s, locks=_locks(1, 1))
    assert posting_cache.posting_cache_get("s1") is not None  # s1 is now the most recent
    posting_cache.posting_cache_learn(schema="s5", locks=_locks(1, 1))
    assert list(posting_cache._CACHE) == ["s3", "s4", "s1", "s5"]  # s2, the least recent, left


def test_threads_sharing_it_never_fail_and_keep_the_bound(small_cache, monkeypatch):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    errors: list[BaseException] = []

    def work(seed: int):
        rnd = random.Random(seed)
        try:
            for i in range(8000):
                schema = f"s{rnd.randrange(12)}"
                op = rnd.random()
                if op < 0.5:
                    posting_cache.posting_cache_learn(schema=schema, locks=_locks(rnd.randrange(3), i))
                elif op < 0.9:
                    posting_cache.posting_cache_get(schema)
                else:
                    posting_cache.posting_cache_forget(schema)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert len(posting_cache._CACHE) <= 4
