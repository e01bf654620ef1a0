from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, QuerySet

from ledger import errors
from ledger.models import Account, AccountPolicy, LedgerEntry, LedgerLine, Policy
from ledger.presenters import entry_body


def account_get(ref: int | str) -> Account:
    qs = Account.objects.all()
    acc = qs.filter(id=int(ref)).first() if str(ref).isdigit() else qs.filter(code=ref).first()
    if acc is None:
        raise errors.NotFound(f"No account '{ref}'.")
    return acc


def account_policy_names(account: Account) -> list[str]:
    return sorted(AccountPolicy.objects.filter(account=account).values_list("policy_name", flat=True))


def account_list(*, code: str | None = None, currency: str | None = None, status: str | None = None) -> QuerySet[Account]:
    qs = Account.objects.all()
    if code:
        qs = qs.filter(code__startswith=code)
    if currency:
        qs = qs.filter(currency=currency.upper())
    if status:
        qs = qs.filter(status=status)
    return qs


def entry_get(ref: int | str) -> LedgerEntry:
    ref = str(ref)
    qs = LedgerEntry.objects.all()
    entry = qs.filter(posting_id=ref).first() if ref.startswith("pst_") else (
        qs.filter(id=int(ref)).first() if ref.isdigit() else None)
    if entry is None:
        raise errors.EntryNotFound(f"No ledger entry '{ref}'.")
    return entry


def entry_lines(entry: LedgerEntry) -> list[tuple[LedgerLine, Account]]:
    return [(ln, ln.account) for ln in entry.lines.select_related("account").order_by("id")]


def entry_present(entry: LedgerEntry, *, tenant: str) -> dict:
    return entry_body(entry, entry_lines(entry), tenant=tenant)


def entry_list(
    *, account: Account | None = None, created_after: dt.datetime | None = None, created_before: dt.datetime | None = None,
    effective_after: dt.datetime | None = None, effective_before: dt.datetime | None = None,
    external_reference: str | None = None, idempotency_key: str | None = None,
) -> QuerySet[LedgerEntry]:
    qs = LedgerEntry.objects.all()
    if account is not None:
        qs = qs.filter(Exists(LedgerLine.objects.filter(entry=OuterRef("pk"), account=account)))
    if created_after:
        qs = qs.filter(created_at__gte=created_after)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    if effective_after:
        qs = qs.filter(effective_at__gte=effective_after)
    if effective_before:
        qs = qs.filter(effective_at__lt=effective_before)
    if external_reference:
        qs = qs.filter(external_reference=external_reference)
    if idempotency_key:
        qs = qs.filter(idempotency_key=idempotency_key)
    return qs


def statement_lines(
    *, account: Account, posted_after: dt.datetime | None = None, posted_before: dt.datetime | None = None,
) -> QuerySet[LedgerLine]:
    """The account's lines with the balance after each one (stored, not summed)."""
    qs = LedgerLine.objects.filter(account=account).select_related("entry")
    if posted_after:
        qs = qs.filter(posted_at__gte=posted_after)
    if posted_before:
        qs = qs.filter(posted_at__lt=posted_before)
    return qs


def balance_as_of(*, account: Account, at: dt.datetime | None) -> dict:
    """One index probe: the last line posted at or before `at` carries the
    balance. Time does not grow with the number of lines."""
    if at is None:
        return {"account": account.code, "account_id": account.id, "currency": account.currency, "as_of": None,
                "posted": account.posted_balance, "pending": account.pending_balance,
                "available": account.available_balance, "last_line_id": None}
    last = (LedgerLine.objects.filter(account=account, posted_at__lte=at)
            .order_by("-posted_at", "-id").values("id", "balance_after").first())
    return {"account": account.code, "account_id": account.id, "currency": account.currency, "as_of": at,
            "posted": last["balance_after"] if last else 0, "pending": None, "available": None,
            "last_line_id": last["id"] if last else None}


def policy_list(*, name: str | None = None) -> QuerySet[Policy]:
    qs = Policy.objects.all().order_by("name", "-version")
    if name:
        qs = qs.filter(name=name)
    return qs
