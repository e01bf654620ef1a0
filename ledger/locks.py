"""The one way to lock accounts: by primary key, ascending.

Every transaction that moves money locks the accounts it touches through
this helper, so two postings over the same accounts always queue in the same
order and can never deadlock each other (cf. Saleor's lock_objects.py)."""
from __future__ import annotations

from collections.abc import Iterable

from ledger.models import Account


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    locked = Account.objects.select_for_update().filter(id__in=ids).order_by("id")
    return {a.id: a for a in locked}
