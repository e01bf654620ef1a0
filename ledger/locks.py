"""The one way to lock accounts: by primary key, ascending.

Every transaction that moves money locks the accounts it touches through
this helper, so two postings over the same accounts always queue in the same
order and can never deadlock each other (cf. Saleor's lock_objects.py)."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from ledger.models import Account


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
