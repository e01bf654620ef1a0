from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Sum

from ledger import errors
from core import errors as core_errors
from ledger.models import (
    HOLD_OPEN_STATUSES, Account, AccountPolicy, EntryKind, Hold, HoldMovement, LedgerEntry, LedgerLine, Policy, Side,
)
from ledger.presenters import entry_body, hold_body, iso, movement_body
from core.ids import int_from_text


def account_get(ref: int | str) -> Account:
    qs = Account.objects.all()
    account_id = int_from_text(ref)
    acc = qs.filter(id=account_id).first() if account_id is not None else qs.filter(code=ref).first()
    if acc is None:
        raise core_errors.NotFound(f"No account '{ref}'.")
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
    entry_id = int_from_text(ref)
    entry = qs.filter(posting_id=ref).first() if ref.startswith("pst_") else (
        qs.filter(id=entry_id).first() if entry_id is not None else None)
    if entry is None:
        raise errors.EntryNotFound(f"No ledger entry '{ref}'.")
    return entry


def entry_lines(entry: LedgerEntry) -> list[tuple[LedgerLine, Account]]:
    return [(ln, ln.account) for ln in entry.lines.select_related("account").order_by("id")]


def entry_reversals(entry: LedgerEntry) -> list[dict]:
    """The reversals of `entry`, oldest first, each with the amount it undid
    (its total debits, in the original's terms)."""
    rows = (LedgerEntry.objects.filter(reversal_of=entry).order_by("id")
            .annotate(amount=Sum("lines__amount_minor", filter=models.Q(lines__side=Side.DEBIT)))
            .values("id", "posting_id", "amount", "created_at"))
    return [{"id": r["id"], "posting_id": r["posting_id"], "amount_minor": r["amount"], "created_at": iso(r["created_at"])}
            for r in rows]


def entry_present(entry: LedgerEntry, *, tenant: str) -> dict:
    """An entry with both directions of the reversal link: `reversal_of` on a
    reversal, `reversals` (and how much they undid) on an original."""
    lines = entry_lines(entry)
    body = entry_body(entry, lines, tenant=tenant)
    reversals = entry_reversals(entry)
    total = sum(ln.amount_minor for ln, _ in lines if ln.side == Side.DEBIT)
    reversed_minor = sum(r["amount_minor"] or 0 for r in reversals)
    return body | {"reversals": reversals, "reversed_minor": reversed_minor,
                   "fully_reversed": bool(reversals) and reversed_minor == total}


def entry_list(
    *, account: Account | None = None, created_after: dt.datetime | None = None, created_before: dt.datetime | None = None,
    effective_after: dt.datetime | None = None, effective_before: dt.datetime | None = None,
    external_reference: str | None = None, idempotency_key: str | None = None, actor: str | None = None,
    status: str | None = None, amount_min: int | None = None, amount_max: int | None = None,
) -> QuerySet[LedgerEntry]:
    """`status`: open (not reversed), reversed (fully or partly), reversal,
    hold_capture. Amounts bound the entry's total debits, in minor units."""
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
    if actor:
        qs = qs.filter(actor_ref__icontains=actor)
    if status == "reversed":
        qs = qs.filter(Exists(LedgerEntry.objects.filter(reversal_of=OuterRef("pk"))))
    elif status == "open":
        qs = qs.exclude(kind=EntryKind.REVERSAL).exclude(Exists(LedgerEntry.objects.filter(reversal_of=OuterRef("pk"))))
    elif status in (EntryKind.REVERSAL, EntryKind.HOLD_CAPTURE):
        qs = qs.filter(kind=status)
    if amount_min is not None or amount_max is not None:
        debits = (LedgerLine.objects.filter(entry=OuterRef("pk"), side=Side.DEBIT).order_by()
                  .values("entry").annotate(total=Sum("amount_minor")).values("total"))
        qs = qs.annotate(debit_total=Subquery(debits))
        if amount_min is not None:
            qs = qs.filter(debit_total__gte=amount_min)
        if amount_max is not None:
            qs = qs.filter(debit_total__lte=amount_max)
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
    """Two index probes: the last line posted at or before `at` carries the
    posted balance, the last hold movement at or before `at` the pending
    balance. Time does not grow with the number of lines or holds."""
    if at is None:
        return {"account": account.code, "account_id": account.id, "currency": account.currency, "as_of": None,
                "posted": account.posted_balance, "pending": account.pending_balance,
                "available": account.available_balance, "last_line_id": None, "last_hold_movement_id": None}
    last = (LedgerLine.objects.filter(account=account, posted_at__lte=at)
            .order_by("-posted_at", "-id").values("id", "balance_after").first())
    held = (HoldMovement.objects.filter(account=account, at__lte=at)
            .order_by("-at", "-id").values("id", "pending_after").first())
    posted = last["balance_after"] if last else 0
    pending = held["pending_after"] if held else 0
    return {"account": account.code, "account_id": account.id, "currency": account.currency, "as_of": at,
            "posted": posted, "pending": pending, "available": posted - pending,
            "last_line_id": last["id"] if last else None, "last_hold_movement_id": held["id"] if held else None}


def hold_get(ref: int | str) -> Hold:
    ref = str(ref)
    qs = Hold.objects.select_related("account", "destination")
    hold_pk = int_from_text(ref)
    hold = qs.filter(hold_id=ref).first() if ref.startswith("hld_") else (
        qs.filter(id=hold_pk).first() if hold_pk is not None else None)
    if hold is None:
        raise errors.HoldNotFound(f"No hold '{ref}'.")
    return hold


def hold_list(
    *, account: Account | None = None, status: str | None = None, external_reference: str | None = None,
    created_before: dt.datetime | None = None, expiring_before: dt.datetime | None = None,
) -> QuerySet[Hold]:
    """`status` "open" is active or partially captured; `expiring_before`
    keeps open holds whose expires_at falls before that instant."""
    qs = Hold.objects.select_related("account", "destination")
    if account is not None:
        qs = qs.filter(account=account)
    if status == "open":
        qs = qs.filter(status__in=HOLD_OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if external_reference:
        qs = qs.filter(external_reference=external_reference)
    if created_before:
        qs = qs.filter(created_at__lt=created_before)
    if expiring_before:
        qs = qs.filter(status__in=HOLD_OPEN_STATUSES, expires_at__isnull=False, expires_at__lt=expiring_before)
    return qs


def hold_present(hold: Hold, *, tenant: str) -> dict:
    """A hold with its history: each change of what it reserves, with the
    capture entries and the account's pending balance after each."""
    movements = [movement_body(m) for m in hold.movements.order_by("id")]
    return hold_body(hold, account=hold.account, destination=hold.destination, tenant=tenant) | {
        "movements": movements,
        "capture_entry_ids": [m["entry_id"] for m in movements if m["entry_id"]],
    }


def policy_list(*, name: str | None = None) -> QuerySet[Policy]:
    qs = Policy.objects.all().order_by("name", "-version")
    if name:
        qs = qs.filter(name=name)
    return qs
